"""Fresh databases for the benchmarks: a new SQLite file, or a PostgreSQL database created and dropped.

PostgreSQL is the server the tests use: ``SICDOC_TEST_POSTGRES_URL``, else the local one (127.0.0.1:5432,
trust authentication).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get("SICDOC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def sqlite_url(folder: Path, name: str | None = None) -> str:
    """The URL of a SQLite file in ``folder``: ``name``, or a new random name."""
    return f"sqlite:///{folder / (name or f'bench-{uuid.uuid4().hex[:8]}.sqlite3')}"


def postgres_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _admin(statement: str, **params: Any) -> list[tuple]:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        admin.dispose()


def create_postgres(name: str | None = None) -> tuple[str, str]:
    """A new empty PostgreSQL database (``name``, or a new random one); returns (URL, name)."""
    name = name or f"sicdoc_bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    return postgres_url(name), name


def drop_postgres(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_exists(name: str) -> bool:
    return bool(_admin("SELECT 1 FROM pg_database WHERE datname = :name", name=name))


# The server settings that bear on a bulk load's rate and on what a search reads from memory.
SERVER_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "synchronous_commit",
    "autovacuum",
)


def server_settings() -> dict[str, str]:
    """The PostgreSQL server's values of ``SERVER_SETTINGS``, as ``SHOW`` gives them."""
    rows = _admin(
        "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(:names)",
        names=list(SERVER_SETTINGS),
    )
    return dict(sorted(rows))


def wal_counters() -> dict[str, Any]:
    """The server's write-ahead log written so far (bytes, full-page images) and its checkpoints; the
    difference over a load is what the load cost the log, when nothing else writes meanwhile."""
    [(wal_bytes, fpi, timed, requested)] = _admin(
        "SELECT w.wal_bytes::bigint, w.wal_fpi, b.checkpoints_timed, b.checkpoints_req"
        " FROM pg_stat_wal w, pg_stat_bgwriter b"
    )
    return {"wal_bytes": int(wal_bytes), "wal_fpi": int(fpi), "checkpoints": int(timed) + int(requested)}
