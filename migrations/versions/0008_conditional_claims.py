"""identifiers: identifier token rows for every type; unique identifiers only in configured systems

Conditional creates match identifiers through the token index, which until now held them only for
the types declaring an ``identifier`` search parameter: the live resources of every other type get
their identifier rows here. Then the business identifiers of the unique systems
(SICDOC_UNIQUE_IDENTIFIER_SYSTEMS when set while migrating, else sicdoc's default) are recorded for
the types that did not have them; where stored resources already share one, the lowest id keeps it.
Rows of systems no longer unique stay until their resource is next written; nothing reads them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 1000

# The types that declared an ``identifier`` search parameter (and so had its rows) at revision 0007.
DECLARED = (
    "Composition",
    "Condition",
    "Encounter",
    "Goal",
    "Location",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Procedure",
    "Questionnaire",
    "QuestionnaireResponse",
    "ServiceRequest",
)

# The types whose every identifier was unique at revision 0007.
OLD_UNIQUE_TYPES = (
    "Composition",
    "Encounter",
    "Patient",
    "Procedure",
    "QuestionnaireResponse",
    "ServiceRequest",
)

_resource = sa.table(
    "resource",
    sa.column("resource_type", sa.String(64)),
    sa.column("id", sa.String(64)),
    sa.column("deleted", sa.Boolean()),
    sa.column("content", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)
_token = sa.table(
    "search_token",
    sa.column("resource_type", sa.String(64)),
    sa.column("resource_id", sa.String(64)),
    sa.column("param", sa.String(64)),
    sa.column("system", sa.String(255)),
    sa.column("code", sa.String(255)),
)
_business = sa.table(
    "business_identifier",
    sa.column("resource_type", sa.String(64)),
    sa.column("system", sa.String(255)),
    sa.column("value", sa.String(255)),
    sa.column("resource_id", sa.String(64)),
)


def _pairs(content: dict) -> list[tuple[str, str]]:
    """Every (system, value) identifier, cut to the stored 255 characters (as the writes do)."""
    idents = content.get("identifier")
    if isinstance(idents, dict):
        idents = [idents]
    pairs: list[tuple[str, str]] = []
    for ident in idents if isinstance(idents, list) else ():
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            pair = (str(ident["system"])[:255], str(ident["value"])[:255])
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def _unique_systems() -> list[str]:
    configured = os.environ.get("SICDOC_UNIQUE_IDENTIFIER_SYSTEMS")
    if configured is not None:
        return sorted(set(configured.split()))
    from sicdoc.config import Config

    return sorted(set(Config.UNIQUE_IDENTIFIER_SYSTEMS.split()))


def upgrade() -> None:
    bind = op.get_bind()
    last = ("", "")
    while True:
        rows = bind.execute(
            sa.select(_resource.c.resource_type, _resource.c.id, _resource.c.content)
            .where(
                _resource.c.resource_type.not_in(DECLARED),
                _resource.c.deleted.is_(False),
                sa.tuple_(_resource.c.resource_type, _resource.c.id) > sa.tuple_(*map(sa.literal, last)),
            )
            .order_by(_resource.c.resource_type, _resource.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        batch = [
            {"resource_type": rtype, "resource_id": rid, "param": "identifier", "system": s, "code": v}
            for rtype, rid, content in rows
            for s, v in _pairs(content if isinstance(content, dict) else {})
        ]
        if batch:
            bind.execute(sa.insert(_token), batch)
        last = (rows[-1][0], rows[-1][1])
    systems = _unique_systems()
    if systems:
        _record_unique(bind, _token.c.system.in_(systems))


def _record_unique(bind: sa.Connection, which: sa.ColumnElement[bool]) -> None:
    """Business identifier rows for the live identifiers ``which`` selects that have none yet."""
    taken = (
        sa.select(sa.literal(1))
        .select_from(_business)
        .where(
            _business.c.resource_type == _token.c.resource_type,
            _business.c.system == _token.c.system,
            _business.c.value == _token.c.code,
        )
    )
    first = (
        sa.select(_token.c.resource_type, _token.c.system, _token.c.code, sa.func.min(_token.c.resource_id))
        .join(
            _resource,
            (_resource.c.resource_type == _token.c.resource_type) & (_resource.c.id == _token.c.resource_id),
        )
        .where(
            _token.c.param == "identifier",
            _token.c.system.is_not(None),
            which,
            _resource.c.deleted.is_(False),
            ~taken.exists(),
        )
        .group_by(_token.c.resource_type, _token.c.system, _token.c.code)
    )
    bind.execute(sa.insert(_business).from_select(["resource_type", "system", "value", "resource_id"], first))


def downgrade() -> None:
    """Back to 0007's rules: every identifier of its six unique types recorded, no others' tokens."""
    bind = op.get_bind()
    bind.execute(
        sa.delete(_token).where(_token.c.param == "identifier", _token.c.resource_type.not_in(DECLARED))
    )
    _record_unique(bind, _token.c.resource_type.in_(OLD_UNIQUE_TYPES))
