"""Pages of a patient's compartment (``Patient/$everything``): one range of the compartment table's
primary key per page, in (type, id) order, with a cursor on the last key seen."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, select, tuple_
from sqlalchemy.orm import Session

from sicdoc.models import CompartmentMember, Resource
from sicdoc.store.reads import read
from sicdoc.store.stored import Stored


@dataclass
class CompartmentPage:
    total: int | None
    items: list[Stored]
    next_cursor: dict[str, Any] | None


def _compartment_cursor(cursor: dict[str, Any]) -> tuple[str, str]:
    """(type, id) of a compartment cursor; the values must be text either database can compare."""
    rtype, rid = cursor.get("type"), cursor.get("id")
    if isinstance(rtype, str) and isinstance(rid, str) and len(rtype) <= 64 and len(rid) <= 64:
        text = rtype + rid
        if "\x00" not in text and text.encode("utf-8", "replace").decode("utf-8") == text:
            return rtype, rid
    from sicdoc.errors import InvalidInput

    raise InvalidInput("The paging cursor is not valid", code="value")


def compartment(
    session: Session,
    patient_id: str,
    *,
    types: Collection[str] | None = None,
    since: datetime | None = None,
    count: int = 50,
    cursor: dict[str, Any] | None = None,
    with_total: bool = True,
) -> CompartmentPage:
    """One page of the live resources in a patient's compartment, the Patient itself included.

    Membership is indexed at write time (``patient_compartment``); pages are keyset-paged on
    (type, id), each one range of that table's primary key. ``types`` limits the types (None: all),
    ``since`` keeps resources last updated at or after it. NotFound or Gone for an unknown or deleted
    patient.
    """
    read(session, "Patient", patient_id)  # NotFound / Gone
    total = None
    if with_total:
        total = session.scalar(_compartment_select(patient_id, types, since, count_only=True))
    if count <= 0:
        return CompartmentPage(total, [], None)
    query = compartment_page_query(patient_id, types=types, since=since, cursor=cursor, limit=count + 1)
    rows = session.scalars(query).all()
    more = len(rows) > count
    rows = rows[:count]
    next_cursor = {"type": rows[-1].resource_type, "id": rows[-1].id} if more and rows else None
    return CompartmentPage(total, [Stored.current(r) for r in rows], next_cursor)


def _compartment_select(
    patient_id: str, types: Collection[str] | None, since: datetime | None, *, count_only: bool = False
) -> Select[Any]:
    member = CompartmentMember
    conds: list[ColumnElement[bool]] = [member.patient_id == patient_id]
    if types is not None:
        conds.append(member.resource_type.in_(sorted(types)) if types else false())
    joined = and_(Resource.resource_type == member.resource_type, Resource.id == member.resource_id)
    live: list[ColumnElement[bool]] = [Resource.deleted.is_(False)]
    if since is not None:
        live.append(Resource.last_updated >= since)
    if count_only:
        counted = select(func.count()).select_from(member).where(*conds)
        # Deletes clear membership, so without ``since`` the count is the primary key's range alone.
        return counted.join(Resource, joined).where(*live) if since is not None else counted
    return select(Resource).join(member, joined).where(*conds, *live)


def compartment_page_query(
    patient_id: str,
    *,
    types: Collection[str] | None = None,
    since: datetime | None = None,
    cursor: dict[str, Any] | None = None,
    limit: int = 51,
) -> Select[Any]:
    """The statement of one page: a range of ``patient_compartment``'s primary key, joined to the rows."""
    member = CompartmentMember
    query = _compartment_select(patient_id, types, since)
    if cursor is not None:
        last_type, last_id = _compartment_cursor(cursor)
        # A row-value comparison, so both databases bound the primary key range with it.
        query = query.where(tuple_(member.resource_type, member.resource_id) > tuple_(last_type, last_id))
    return query.order_by(member.resource_type, member.resource_id).limit(limit)
