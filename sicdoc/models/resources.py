"""FHIR resources at rest: the current version, every past version, and the search indexes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base

# FHIR ids are at most 64 characters; resource type names at most 64.
ID = String(64)
TYPE = String(64)


class Resource(Base):
    """The current version of one resource (a deleted one keeps its row with ``deleted`` set)."""

    __tablename__ = "resource"

    resource_type: Mapped[str] = mapped_column(TYPE, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[dict[str, Any]]

    # With id last, ``_sort=-_lastUpdated`` pages (lastUpdated, id) straight off the index.
    __table_args__ = (Index("ix_resource_type_updated", "resource_type", "last_updated", "id"),)


class ResourceVersion(Base):
    """History: one row per version, delete tombstones included. A version's body is written here when
    a later version replaces it; the current version's is in ``resource`` only (NULL here), so a
    create writes its body once. Rows are never deleted."""

    __tablename__ = "resource_version"

    resource_type: Mapped[str] = mapped_column(TYPE, primary_key=True)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    method: Mapped[str] = mapped_column(String(8))
    content: Mapped[dict[str, Any] | None]

    __table_args__ = (Index("ix_resource_version_updated", "resource_type", "last_updated"),)


class BusinessIdentifier(Base):
    """Identifiers in the systems configured unique (SICDOC_UNIQUE_IDENTIFIER_SYSTEMS), per type.

    Only a constraint: lookups read the token index, which holds every identifier of every type.
    """

    __tablename__ = "business_identifier"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(TYPE)
    system: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    resource_id: Mapped[str] = mapped_column(ID)

    __table_args__ = (
        UniqueConstraint("resource_type", "system", "value"),
        Index("ix_business_identifier_resource", "resource_type", "resource_id"),
    )


# The search tables have no key column of their own: their rows are what ``index_rows`` derives from
# a resource version, found by the indexes named on each (``sicdoc reindex`` makes them again). A
# serial key's index took every row of every writer on its last page, and nothing read it (migration
# 0019 has the figures). The ORM is told which columns name a row.


class TokenIndex(Base):
    __tablename__ = "search_token"

    resource_type: Mapped[str] = mapped_column(TYPE)
    resource_id: Mapped[str] = mapped_column(ID)
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        # Ending in the resource id: a search on one code pages along it in id order, reading a page
        # of rows rather than every match (``Condition?code=`` matched tens of thousands).
        Index("ix_search_token_lookup", "resource_type", "param", "code", "resource_id"),
        Index("ix_search_token_resource", "resource_type", "resource_id"),
    )
    __mapper_args__ = {"primary_key": [resource_type, resource_id, param, system, code]}


class ReferenceIndex(Base):
    __tablename__ = "search_reference"

    resource_type: Mapped[str] = mapped_column(TYPE)
    resource_id: Mapped[str] = mapped_column(ID)
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(TYPE)
    target_id: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        # Ending with the id, it serves a resource probing its own rows for a target many share (a
        # search matching many, read in id order) with one row; without it such a probe read every
        # resource with that target.
        Index("ix_search_reference_lookup", "resource_type", "param", "target_id", "resource_id"),
        Index("ix_search_reference_target", "target_type", "target_id"),
        Index("ix_search_reference_resource", "resource_type", "resource_id"),
    )
    __mapper_args__ = {"primary_key": [resource_type, resource_id, param, target_type, target_id]}


class DateIndex(Base):
    """A date or period as an instant range [low, high] in UTC, so prefixes compare as FHIR says."""

    __tablename__ = "search_date"

    resource_type: Mapped[str] = mapped_column(TYPE)
    resource_id: Mapped[str] = mapped_column(ID)
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    high: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # Both end with the id, so a search reads only the index (and SQLite prefers them to walking
        # the per-resource index below, which would also cover the query).
        Index("ix_search_date_lookup", "resource_type", "param", "low", "resource_id"),
        # ``gt``/``ge`` compare the end of the range.
        Index("ix_search_date_high", "resource_type", "param", "high", "resource_id"),
        # Ends with (param, low) so sorting by a date reads one resource's earliest value directly.
        Index("ix_search_date_resource", "resource_type", "resource_id", "param", "low"),
    )
    __mapper_args__ = {"primary_key": [resource_type, resource_id, param, low, high]}


class StringIndex(Base):
    """Case- and accent-folded strings for FHIR ``string`` search (starts-with by default)."""

    __tablename__ = "search_string"

    resource_type: Mapped[str] = mapped_column(TYPE)
    resource_id: Mapped[str] = mapped_column(ID)
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        # The pattern operator class lets PostgreSQL serve ``LIKE 'prefix%'`` whatever the collation.
        # Ending with the id, it covers a search, as the per-resource index below does: SQLite prefers
        # an index that covers the query, and would otherwise walk that one for a lookup.
        Index(
            "ix_search_string_lookup",
            "resource_type",
            "param",
            "value",
            "resource_id",
            postgresql_ops={"value": "varchar_pattern_ops"},
        ),
        # Ends with (param, value): a patient probing their own names for a common family name (a
        # search matching many, read in id order) reads their rows alone, where on the lookup index
        # it read every row of that name.
        Index("ix_search_string_resource", "resource_type", "resource_id", "param", "value"),
    )
    __mapper_args__ = {"primary_key": [resource_type, resource_id, param, value]}
