"""Migration 0019: the search tables lose their serial key column and keep their rows and indexes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from sicdoc.db import make_engine
from sicdoc.migrate import alembic_config, upgrade

TABLES = {
    "search_token": (
        "resource_type, resource_id, param, system, code",
        "'Patient', 'p1', 'identifier', NULL, 'M-1'",
    ),
    "search_reference": (
        "resource_type, resource_id, param, target_type, target_id",
        "'Encounter', 'e1', 'subject', 'Patient', 'p1'",
    ),
    "search_date": (
        "resource_type, resource_id, param, low, high",
        "'Patient', 'p1', 'birthdate', NULL, NULL",
    ),
    "search_string": ("resource_type, resource_id, param, value", "'Patient', 'p1', 'name', 'baker'"),
}


def _insert_each(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for table, (columns, values) in TABLES.items():
            conn.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values})"))


def _shape(engine: sa.Engine, table: str) -> tuple[list[str], list[str], list[str], int]:
    found = sa.inspect(engine)
    with engine.connect() as conn:
        rows = conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))
    return (
        [c["name"] for c in found.get_columns(table)],
        found.get_pk_constraint(table)["constrained_columns"],
        sorted(i["name"] for i in found.get_indexes(table)),
        rows,
    )


def _replica_identity(engine: sa.Engine, table: str) -> str | None:
    """How logical replication identifies the table's rows on PostgreSQL (None on SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        kind = conn.scalar(
            sa.text("SELECT relreplident FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}
        )
    return {"d": "default", "f": "full", "n": "nothing", "i": "index"}[kind]


def test_the_search_tables_lose_their_key_keep_their_rows_and_downgrade(empty_url):
    upgrade(empty_url, "0018")
    engine = make_engine(empty_url)
    try:
        before = {table: _shape(engine, table) for table in TABLES}
        _insert_each(engine)
        upgrade(empty_url, "0019")
        for table in TABLES:
            columns, key, indexes, rows = _shape(engine, table)
            assert "pk" not in columns and key == []
            assert columns == [c for c in before[table][0] if c != "pk"]
            assert indexes == before[table][2]
            assert rows == 1
            assert _replica_identity(engine, table) in ("full", None)
        _insert_each(engine)  # written without a key, as the store writes them
        if engine.dialect.name == "postgresql":
            # Published for logical replication, their rows can still be deleted (a new version's).
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE PUBLICATION sicdoc_search FOR TABLE {', '.join(TABLES)}"))
                conn.execute(sa.text("DELETE FROM search_token WHERE resource_id = 'nobody'"))
        command.downgrade(alembic_config(empty_url), "0018")
        for table in TABLES:
            columns, key, indexes, rows = _shape(engine, table)
            assert key == ["pk"] and sorted(columns) == sorted(before[table][0])
            assert _replica_identity(engine, table) in ("default", None)
            assert indexes == before[table][2] and rows == 2
            with engine.connect() as conn:
                keys = conn.scalars(sa.text(f"SELECT pk FROM {table} ORDER BY pk")).all()
            assert keys == [1, 2]
        _insert_each(engine)  # the key numbers new rows again
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT max(pk) FROM search_token")) == 3
    finally:
        engine.dispose()
