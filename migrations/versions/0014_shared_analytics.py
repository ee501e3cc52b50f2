"""shared analytics: results built once by the analytics worker, and its lease

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Both tables start empty; in shared mode the worker fills ``analytics_result`` as results are asked for.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analytics_result",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("call", sa.LargeBinary(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_version", sa.Text(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_analytics_result")),
    )
    op.create_table(
        "analytics_lease",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_lease")),
    )


def downgrade() -> None:
    op.drop_table("analytics_lease")
    op.drop_table("analytics_result")
