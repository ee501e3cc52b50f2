"""How a transaction says it will write, so SQLite takes its write lock at BEGIN and readers never wait.

SQLite in WAL mode lets any number of readers run beside one writer. A read-only transaction is a
plain deferred ``BEGIN``: it reads a snapshot and neither waits for nor blocks a writer. A transaction
that will write must take the write lock at ``BEGIN IMMEDIATE``; a deferred one that reads first and
writes later could find its snapshot overtaken and fail. The marker below travels as a connection
execution option, which the engine's ``begin`` hook in ``sicdoc.db`` reads; PostgreSQL ignores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg.pq import TransactionStatus
from sqlalchemy.orm import Session, SessionTransaction

WRITE_OPTION = "sicdoc_write"
WRITE = {WRITE_OPTION: True}
INTRANS = TransactionStatus.INTRANS  # psycopg: idle inside a transaction that has not failed


def begin_write(session: Session) -> SessionTransaction:
    """End any read-only transaction the session has open and begin one that will write."""
    if session.in_transaction():
        session.rollback()
    tx = session.begin()
    session.connection(execution_options=WRITE)  # procures the connection now, with the marker
    return tx


@contextmanager
def appending(session: Session) -> Iterator[None]:
    """A transaction for rows appended under their own lock (audit records), committed on leaving.

    On PostgreSQL they go into the transaction the request's reads left open: at READ COMMITTED each
    statement sees the latest commits (the chain's head is read after its lock), and the request saves a
    ROLLBACK, a pool check-out with its ping and a BEGIN. Such rows stamp nothing the change feed reads,
    so the transaction need not show as a writer from its start. SQLite begins again with the write
    lock, and so does anything else (a writer's open transaction, changes waiting in the session).
    """
    if not _reads_only(session):
        with begin_write(session):
            yield
        return
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


def _reads_only(session: Session) -> bool:
    """An open PostgreSQL transaction that has only read and is still usable: no writer's, no change
    waiting in the session (``begin_write`` rolls those back, as ever), no failed statement."""
    if not session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return False
    if session.new or session.dirty or session.deleted:
        return False
    connection = session.connection()
    if connection.get_execution_options().get(WRITE_OPTION, False):
        return False
    # A statement that failed (a value PostgreSQL cannot compare) aborts the transaction: begin again.
    info = getattr(connection.connection.driver_connection, "info", None)
    return info is not None and info.transaction_status == INTRANS
