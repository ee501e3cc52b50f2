"""patient compartment: membership of every stored resource in its patients' compartments (FHIR R4)

Backfills the membership of the resources already stored, in batches, with the same rules the writes
use. Absolute references count as this server's when they start with SICDOC_BASE_URL + "/fhir"
(set it when migrating if the stored records use absolute references to this server).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from sicdoc.fhir.compartment import compartment_patients, compartment_types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BATCH = 1000

_resource = sa.table(
    "resource",
    sa.column("resource_type", sa.String(64)),
    sa.column("id", sa.String(64)),
    sa.column("deleted", sa.Boolean()),
    sa.column("content", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def upgrade() -> None:
    members = op.create_table(
        "patient_compartment",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint(
            "patient_id", "resource_type", "resource_id", name=op.f("pk_patient_compartment")
        ),
    )
    op.create_index(
        "ix_patient_compartment_resource",
        "patient_compartment",
        ["resource_type", "resource_id"],
        unique=False,
    )
    _backfill(members)


def _local_bases() -> tuple[str, ...]:
    base = os.environ.get("SICDOC_BASE_URL", "").strip().rstrip("/")
    return (f"{base}/fhir",) if base.startswith(("http://", "https://")) else ()


def _backfill(members: sa.Table) -> None:
    """Every live resource of a compartment type, keyset-paged on (type, id), BATCH rows at a time."""
    bind = op.get_bind()
    bases = _local_bases()
    for rtype in sorted(compartment_types()):
        last_id = ""
        while True:
            rows = bind.execute(
                sa.select(_resource.c.id, _resource.c.content)
                .where(
                    _resource.c.resource_type == rtype,
                    _resource.c.deleted.is_(False),
                    _resource.c.id > last_id,
                )
                .order_by(_resource.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            batch = [
                {"patient_id": pid, "resource_type": rtype, "resource_id": rid}
                for rid, content in rows
                for pid in sorted(compartment_patients(content or {}, bases))
            ]
            if batch:
                bind.execute(sa.insert(members), batch)
            last_id = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_patient_compartment_resource", table_name="patient_compartment")
    op.drop_table("patient_compartment")
