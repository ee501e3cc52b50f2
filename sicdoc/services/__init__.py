"""Use cases. Every write to the database goes through here, and only here is a transaction committed."""

from __future__ import annotations

from sqlalchemy.orm import Session, SessionTransaction


def transaction(session: Session) -> SessionTransaction:
    """Begin the use case's own transaction, ending any read-only one the caller left open."""
    if session.in_transaction():
        session.rollback()
    return session.begin()
