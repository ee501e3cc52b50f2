"""conversation drafts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_draft",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=160), nullable=False),
        sa.Column("author_display", sa.String(length=200), nullable=True),
        sa.Column(
            "answers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("performed_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("encounter_id", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conversation_identifier", sa.String(length=255), nullable=True),
        sa.Column("procedure_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_draft")),
    )
    op.create_index("ix_conversation_draft_patient", "conversation_draft", ["patient_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conversation_draft_patient", table_name="conversation_draft")
    op.drop_table("conversation_draft")
