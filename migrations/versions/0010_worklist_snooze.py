"""worklist snoozes: a patient taken off the worklist until a date, with the reason and who decided

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worklist_snooze",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("author", sa.String(length=160), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_worklist_snooze")),
    )
    op.create_index("ix_worklist_snooze_patient", "worklist_snooze", ["patient_id", "created"])


def downgrade() -> None:
    op.drop_index("ix_worklist_snooze_patient", table_name="worklist_snooze")
    op.drop_table("worklist_snooze")
