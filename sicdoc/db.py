"""Engine and session glue: the only database module that knows about Flask."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from flask import Flask, current_app, g
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from sicdoc.locking import WRITE_OPTION


def _json_text(value: object) -> str:
    # orjson is several times faster than the standard library for the large FHIR documents stored here.
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    """An engine with the connection settings sicdoc relies on for each backend."""
    json_options = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, pool_pre_ping=True, **json_options)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10, **json_options)
    _configure_postgresql(engine)
    return engine


# A PostgreSQL connection back from the pool is pinged before use when it has lain idle this many
# seconds: one that served a request a moment ago is taken as alive, which saves a busy server a
# round trip per request. One found dead is replaced before the request sees it; one that died in
# the last second (the server restarted) fails its request (503) and SQLAlchemy then replaces every
# connection the pool held.
PING_AFTER_IDLE = 1.0
_IDLE_SINCE = "sicdoc.idle_since"


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.pop(_IDLE_SINCE, None)  # none: opened for this check-out
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError() from exc  # the pool connects again and checks that out

    # A transaction marked as writing takes its transaction id at once, so that it shows as a writer in
    # pg_stat_activity from its start, before it stamps anything (sicdoc.store.writers).
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION, False):
            conn.exec_driver_sql("SELECT pg_current_xact_id()")


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN is ours to send: deferred for
    # reads (WAL readers never wait), IMMEDIATE for transactions marked as writing (sicdoc.locking).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writes = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


@contextmanager
def sqlite_bulk_writes(
    engine: Engine, cache_kib: int, checkpoint_pages: int, checkpoint_seconds: float | None = None
) -> Iterator[None]:
    """Within the block, SQLite connections of ``engine`` keep up to ``cache_kib`` KiB of pages in
    memory (SQLite's default is 2 MiB) and copy the write-ahead log into the database once it holds
    ``checkpoint_pages`` pages (default 1,000); nothing on PostgreSQL. For one process writing much
    (``sicdoc load``): web workers keep the defaults, so their memory does not grow with the database.

    With ``checkpoint_seconds``, a thread of its own copies the log into the database that often, and
    the writers' own copy waits for four times ``checkpoint_pages``: the copy and its disk flushes then
    overlap the writer's work instead of stopping it at a commit."""
    if engine.dialect.name != "sqlite":
        yield
        return
    pages = checkpoint_pages if checkpoint_seconds is None else 4 * checkpoint_pages

    def _cache(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")

    engine.dispose()  # connections opened before the block are opened again, with the cache
    event.listen(engine, "connect", _cache)
    try:
        if checkpoint_seconds is None:
            yield
        else:
            with _checkpointing(engine, checkpoint_seconds):
                yield
    finally:
        event.remove(engine, "connect", _cache)
        engine.dispose()


@contextmanager
def _checkpointing(engine: Engine, seconds: float) -> Iterator[None]:
    """A thread running a passive checkpoint every ``seconds`` on a connection of its own (SQLite runs
    it without the interpreter lock, and it never waits for nor blocks the writer)."""
    stop = threading.Event()
    connection = sqlite3.connect(engine.url.database or "", timeout=0, check_same_thread=False)

    def _run() -> None:
        while not stop.wait(seconds):
            # Busy with the writer's own checkpoint: the next turn copies what is left.
            with contextlib.suppress(sqlite3.OperationalError):
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    thread = threading.Thread(target=_run, name="sqlite-checkpoint", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        connection.close()


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["sicdoc.engine"] = engine
    # Every session carries the audit key, so sicdoc.security.audit can chain records without Flask.
    app.extensions["sicdoc.sessionmaker"] = sessionmaker(
        bind=engine, expire_on_commit=False, info={"audit_key": app.config["AUDIT_KEY"].encode("utf-8")}
    )
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    return current_app.extensions["sicdoc.engine"]


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sicdoc.sessionmaker"]()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(app: Flask) -> Iterator[Session]:
    """A session for CLI commands and scripts; the services inside decide when to commit."""
    session = app.extensions["sicdoc.sessionmaker"]()
    try:
        yield session
    finally:
        session.close()
