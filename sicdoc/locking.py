"""How a transaction says it will write, so SQLite takes its write lock at BEGIN and readers never wait.

SQLite in WAL mode lets any number of readers run beside one writer. A read-only transaction is a
plain deferred ``BEGIN``: it reads a snapshot and neither waits for nor blocks a writer. A transaction
that will write must take the write lock at ``BEGIN IMMEDIATE``; a deferred one that reads first and
writes later could find its snapshot overtaken and fail. The marker below travels as a connection
execution option, which the engine's ``begin`` hook in ``sicdoc.db`` reads; PostgreSQL ignores it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, SessionTransaction

WRITE_OPTION = "sicdoc_write"
WRITE = {WRITE_OPTION: True}


def begin_write(session: Session) -> SessionTransaction:
    """End any read-only transaction the session has open and begin one that will write."""
    if session.in_transaction():
        session.rollback()
    tx = session.begin()
    session.connection(execution_options=WRITE)  # procures the connection now, with the marker
    return tx
