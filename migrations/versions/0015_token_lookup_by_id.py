"""the token lookup index ends in the resource id, so a search on one code pages along it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03

On a large store this reads the whole ``search_token`` table once (minutes at a million patients).
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_COLUMNS = ["resource_type", "param", "code"]


def upgrade() -> None:
    op.drop_index("ix_search_token_lookup", table_name="search_token")
    op.create_index("ix_search_token_lookup", "search_token", [*_COLUMNS, "resource_id"])


def downgrade() -> None:
    op.drop_index("ix_search_token_lookup", table_name="search_token")
    op.create_index("ix_search_token_lookup", "search_token", _COLUMNS)
