"""On SQLite, readers never wait for writers: reads are deferred WAL snapshots, writes lock at BEGIN."""

import threading
import time

from sqlalchemy import text
from sqlalchemy.orm import Session

from sicdoc.db import make_engine
from sicdoc.locking import begin_write


def _engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'locking.sqlite3'}")
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("CREATE TABLE note (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO note VALUES (1)")
    return engine


def _count(session: Session) -> int:
    return session.execute(text("SELECT count(*) FROM note")).scalar_one()


def test_a_long_read_runs_while_a_write_commits(tmp_path):
    engine = _engine(tmp_path)
    with Session(engine) as reader, Session(engine) as writer:
        assert _count(reader) == 1  # the reader's transaction is open, holding its snapshot
        started = time.monotonic()
        with begin_write(writer):
            writer.execute(text("INSERT INTO note VALUES (2)"))
        assert time.monotonic() - started < 1.0  # the write did not wait for the reader
        assert _count(reader) == 1  # the reader still sees its snapshot
        reader.rollback()
        assert _count(reader) == 2
    engine.dispose()


def test_a_read_is_not_blocked_by_a_write_in_progress(tmp_path):
    engine = _engine(tmp_path)
    with Session(engine) as writer, Session(engine) as reader:
        tx = begin_write(writer)  # holds SQLite's write lock from BEGIN
        writer.execute(text("INSERT INTO note VALUES (2)"))
        started = time.monotonic()
        assert _count(reader) == 1  # the uncommitted row is not seen, and the read did not wait
        assert time.monotonic() - started < 1.0
        reader.rollback()
        tx.commit()
        assert _count(reader) == 2
    engine.dispose()


def test_a_second_writer_waits_for_the_first_instead_of_failing_later(tmp_path):
    engine = _engine(tmp_path)
    order: list[str] = []
    with Session(engine) as first:
        tx = begin_write(first)
        first.execute(text("INSERT INTO note VALUES (2)"))

        def second() -> None:
            with Session(engine) as other, begin_write(other):
                order.append("second has the lock")
                other.execute(text("INSERT INTO note VALUES (3)"))

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert order == []  # BEGIN IMMEDIATE is waiting for the first writer
        order.append("first commits")
        tx.commit()
        thread.join(10)
    assert order == ["first commits", "second has the lock"]
    with Session(engine) as check:
        assert _count(check) == 3
    engine.dispose()
