"""search indexes every search can use: dates by either end with the id, a resource's dates by
parameter, lastUpdated paged with the id, and string prefixes on PostgreSQL whatever the collation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_resource_type_updated", table_name="resource")
    op.create_index("ix_resource_type_updated", "resource", ["resource_type", "last_updated", "id"])
    op.drop_index("ix_search_date_lookup", table_name="search_date")
    op.create_index("ix_search_date_lookup", "search_date", ["resource_type", "param", "low", "resource_id"])
    op.create_index("ix_search_date_high", "search_date", ["resource_type", "param", "high", "resource_id"])
    op.drop_index("ix_search_date_resource", table_name="search_date")
    op.create_index(
        "ix_search_date_resource", "search_date", ["resource_type", "resource_id", "param", "low"]
    )
    op.drop_index("ix_search_string_lookup", table_name="search_string")
    op.create_index(
        "ix_search_string_lookup",
        "search_string",
        ["resource_type", "param", "value"],
        postgresql_ops={"value": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_index("ix_search_string_lookup", table_name="search_string")
    op.create_index("ix_search_string_lookup", "search_string", ["resource_type", "param", "value"])
    op.drop_index("ix_search_date_resource", table_name="search_date")
    op.create_index("ix_search_date_resource", "search_date", ["resource_type", "resource_id"])
    op.drop_index("ix_search_date_high", table_name="search_date")
    op.drop_index("ix_search_date_lookup", table_name="search_date")
    op.create_index("ix_search_date_lookup", "search_date", ["resource_type", "param", "low"])
    op.drop_index("ix_resource_type_updated", table_name="resource")
    op.create_index("ix_resource_type_updated", "resource", ["resource_type", "last_updated"])
