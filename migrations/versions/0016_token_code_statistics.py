"""PostgreSQL learns that a token's code decides its type and parameter

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

The planner took ``resource_type``, ``param``, ``system`` and ``code`` of ``search_token`` as
independent, so a code shared by 38,061 conditions at a million patients was estimated at 110 rows:
``Condition?code=`` then read and sorted every match (0.5 s) instead of reading one page along
``ix_search_token_lookup`` in id order (24 ms). Extended statistics (functional dependencies and
most-common combinations) correct the estimate; the table is ANALYZEd here (a sample: seconds even at
a million patients) so an upgraded store plans with them at once. SQLite has no such statistics and needs none: it walks the index without them.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS st_search_token_code (dependencies, mcv)"
            " ON resource_type, param, system, code FROM search_token"
        )
        op.execute("ANALYZE search_token")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_search_token_code")
