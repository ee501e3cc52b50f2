"""A bulk load's SQLite settings: the write-ahead log copied into the database by a thread of its own."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from sicdoc.db import make_engine, sqlite_bulk_writes

ROW = "x" * 2000  # about two rows a page, so 400 rows fill a few hundred log pages


def _write(engine, rows: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": ROW}] * rows)


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


def _file_grows(path: Path, size: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size > size:
            return True
        time.sleep(0.02)
    return False


def test_the_log_is_copied_into_the_database_by_a_thread_while_the_writer_goes_on(tmp_path):
    """The writer's own checkpoint waits for four times the pages; until then the rows reach the
    database file only through the checkpointing thread, which ends with the block."""
    path = tmp_path / "bulk.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v TEXT)"))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the table in the file, the log empty
    empty = path.stat().st_size
    try:
        with sqlite_bulk_writes(engine, cache_kib=4096, checkpoint_pages=1000):
            assert not _checkpointers()
            _write(engine, 400)
            assert not _file_grows(path, empty, 0.3)  # the log holds them, under 1,000 pages
        with sqlite_bulk_writes(engine, cache_kib=4096, checkpoint_pages=1000, checkpoint_seconds=0.05):
            assert len(_checkpointers()) == 1
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 4000
            written = path.stat().st_size  # the first rows, copied in as the last connection closed
            _write(engine, 400)
            assert _file_grows(path, written, 5.0)
        assert not _checkpointers()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 800
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        engine.dispose()
