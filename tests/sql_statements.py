"""The SQL statements a block of test code sends, for tests that hold a query count."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO

from sqlalchemy import Engine, event


@contextmanager
def sent(engine: Engine) -> Iterator[list[str]]:
    """Collects the statements ``engine`` executes inside the block."""
    statements: list[str] = []

    def note(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def selects(statements: list[str]) -> int:
    return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])


_MESSAGE = re.compile(r"([FB])\t\d+\t(.*)")


@contextmanager
def round_trips(engine: Engine) -> Iterator[list[list[str]]]:
    """On PostgreSQL, what ``engine``'s connections send inside the block, one list of messages per
    round trip (what the client sends before it next waits for the server), read from libpq's trace
    of each connection checked out in the block, from the start of its check-out."""
    from psycopg import pq

    trips: list[list[str]] = []
    with ExitStack() as files:
        traces: list[IO[bytes]] = []

        def start(dbapi_conn, *_args) -> None:  # type: ignore[no-untyped-def]
            trace = files.enter_context(tempfile.TemporaryFile())
            traces.append(trace)
            dbapi_conn.pgconn.trace(os.dup(trace.fileno()))
            dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

        def stop(dbapi_conn, *_args) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.pgconn.untrace()

        event.listen(engine, "checkout", start, insert=True)  # before the pool's own ping
        event.listen(engine, "checkin", stop)
        try:
            yield trips
        finally:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)
        for trace in traces:
            trace.seek(0)
            waiting = True
            for line in trace.read().decode().splitlines():
                found = _MESSAGE.match(line)
                if found is None:
                    continue  # a statement's text goes on over several lines
                side, message = found.groups()
                if side == "F":
                    if waiting:
                        trips.append([])
                    trips[-1].append(" ".join(message.split())[:80])
                waiting = side == "B"
