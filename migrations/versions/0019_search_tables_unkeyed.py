"""the search tables lose their serial key column

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

No statement reads a search row by ``pk``: rows are found by the lookup and per-resource indexes and
deleted by resource. Every row still paid for the key's index, and writers inserting side by side all
appended to its last page: in a load of 5,000 patients with two writers, beside other work, the
PostgreSQL server used 21.3-22.0 CPU seconds with the key and 16.7-17.3 without it; quiet, at 20,000
patients, 65.8 and 60.0 (medians of three).

On PostgreSQL the column and its sequence are dropped in place, and each table's rows are identified
to logical replication by their whole content (``REPLICA IDENTITY FULL``; no cost unless
``wal_level`` is ``logical``). SQLite cannot drop a primary key
column, so each table is copied into a new one without it (minutes on a store of a million patients;
the rows' own rowid takes its place, at no cost, as the key did).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = ("search_token", "search_reference", "search_date", "search_string")


def upgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "postgresql":
            op.drop_column(table, "pk")  # with its primary key constraint and its sequence
            # A table without a key would refuse deletes under a logical replication publication
            # (a resource's new version deletes its old rows); the whole old row identifies it.
            op.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
        else:
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.drop_column("pk")


def downgrade() -> None:
    for table in TABLES:
        if op.get_context().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} REPLICA IDENTITY DEFAULT")
            op.execute(f"ALTER TABLE {table} ADD COLUMN pk SERIAL")
            op.create_primary_key(f"pk_{table}", table, ["pk"])
        else:
            # The copy leaves the new key out, and SQLite numbers each row's integer key itself.
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.add_column(sa.Column("pk", sa.Integer(), primary_key=True))
