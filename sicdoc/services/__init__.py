"""Use cases. Every write to the database goes through here, and only here is a transaction committed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from sicdoc.errors import DuplicateIdentifier
from sicdoc.locking import begin_write

T = TypeVar("T")
ATTEMPTS = 3


def transaction(session: Session) -> SessionTransaction:
    """Begin the use case's own (writing) transaction, ending any read-only one the caller left open."""
    return begin_write(session)


def retrying(session: Session, attempt: Callable[[], T]) -> T:
    """Run a use case again when a concurrent request took a unique key first.

    The second run sees the winner's committed rows, so a conditional create finds the existing
    resource and a re-posted bundle finds its receipt instead of failing.
    """
    for remaining in range(ATTEMPTS - 1, -1, -1):
        try:
            return attempt()
        except (DuplicateIdentifier, IntegrityError):
            session.rollback()
            if remaining == 0:
                raise
    raise AssertionError("unreachable")
