"""Server-side login sessions: the cookie holds a random id, the database its SHA-256 digest.

Nothing here commits; ``sicdoc.services.accounts`` owns the transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sicdoc.fhir.dates import as_utc
from sicdoc.models import User, UserSession
from sicdoc.security.opaque import digest, new_secret


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta = timedelta(minutes=15)
    absolute: timedelta = timedelta(hours=12)


def start(session: Session, user: User, now: datetime) -> str:
    """Open a session for ``user``; return the raw id for the cookie (never stored)."""
    raw = new_secret()
    session.add(UserSession(id_hash=digest(raw), user_id=user.id, created=now, last_seen=now, revoked=False))
    return raw


# ``last_seen`` is written at most this often per login, so most requests only read their session
# (on SQLite a write would wait behind any other writer); an idle login may end up to this much early.
TOUCH_EVERY = timedelta(minutes=1)


def look_up(session: Session, raw: str, now: datetime, lifetime: Lifetime) -> tuple[User | None, bool]:
    """The active user behind a cookie (None if unknown, revoked, idle or too old), and whether
    ``resolve`` must write: to end the session, or to move a ``last_seen`` older than TOUCH_EVERY."""
    row = session.get(UserSession, digest(raw))
    if row is None or row.revoked:
        return None, False
    if now - as_utc(row.last_seen) > lifetime.idle or now - as_utc(row.created) > lifetime.absolute:
        return None, True
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None, True
    return user, now - as_utc(row.last_seen) >= TOUCH_EVERY


def resolve(session: Session, raw: str, now: datetime, lifetime: Lifetime) -> User | None:
    """``look_up``, and the write it says is due: the session ended (idle, too old, its user gone) or
    ``last_seen`` moved."""
    user, due = look_up(session, raw, now, lifetime)
    if due:
        row = session.get(UserSession, digest(raw))  # found by look_up: only a live row is ever due
        assert row is not None
        if user is None:
            row.revoked, row.recent_patients = True, None
        else:
            row.last_seen = now
    return user


def end(session: Session, raw: str) -> int | None:
    """Revoke one session; return its user id (None if there was none)."""
    row = session.get(UserSession, digest(raw))
    if row is None or row.revoked:
        return None
    row.revoked, row.recent_patients = True, None  # what it viewed ends with it
    return row.user_id


def remember_patient(session: Session, raw: str, patient_id: str, keep: int) -> None:
    """Put ``patient_id`` first in this login's recently viewed list (at most ``keep`` ids); nothing is
    written when it is first already (the same chart again)."""
    # Read again and locked: the row this request's reads found may have changed since (another tab).
    row = session.get(UserSession, digest(raw), populate_existing=True, with_for_update=True)
    if row is None or row.revoked:
        return
    recent = row.recent_patients or []
    if recent[:1] != [patient_id]:
        row.recent_patients = [patient_id, *(i for i in recent if i != patient_id)][:keep]


def recent_patients(session: Session, raw: str) -> list[str]:
    """This login's recently viewed patient ids, newest first; none for an ended session."""
    row = session.get(UserSession, digest(raw))
    if row is None or row.revoked:
        return []
    return [str(i) for i in row.recent_patients or []]


def end_all(session: Session, user_id: int) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
        .values(revoked=True, recent_patients=None)
    )


def active_count(session: Session, user_id: int) -> int:
    rows = session.scalars(
        select(UserSession.id_hash).where(UserSession.user_id == user_id, UserSession.revoked.is_(False))
    ).all()
    return len(rows)
