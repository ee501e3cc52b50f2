"""reindex marks: where ``sicdoc reindex`` stands per resource type, and when it last rebuilt it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reindex_mark",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("reindexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_after", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("resource_type", name=op.f("pk_reindex_mark")),
    )


def downgrade() -> None:
    op.drop_table("reindex_mark")
