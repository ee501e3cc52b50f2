"""Write transactions still open when a data version is taken: how far back a commit that lands after
the version can be stamped.

A write stamps its rows' ``last_updated`` when it makes them, and may commit later. On SQLite one
writer runs at a time and stamps after ``BEGIN IMMEDIATE`` has given it the lock, so no commit carries a
stamp older than one already seen. On PostgreSQL writers overlap: a commit after the version may carry
any stamp from its transaction's start on. Every write transaction takes its transaction id at BEGIN
(``sicdoc.db``), so the writers in flight are those with an id in ``pg_stat_activity``, and the start of
the oldest bounds the stamps still to come. ``sicdoc.store.changes`` reads back from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

# Writers open for less than this are left out of the version: their stamps come after the version's
# own last write less this and the clock allowance of ``sicdoc.store.changes``. Most write transactions
# last milliseconds, so the version stays the same while they come and go.
SETTLED = timedelta(seconds=2)
# Written into a version when a writer's start cannot be seen (another role's session or autovacuum's,
# without pg_read_all_stats; a prepared transaction): read back as far as the longest write may last.
UNKNOWN = "?"

_OPEN_WRITERS = text(
    """
    SELECT min(xact_start),
           count(*) FILTER (WHERE xact_start IS NULL)
             + (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database())
    FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL
      AND datname = current_database()
      AND coalesce(backend_type, 'client backend') = 'client backend'
      AND pid <> pg_backend_pid()
      AND (xact_start IS NULL OR xact_start < clock_timestamp() - make_interval(secs => :settled))
    """
)


def open_writers(connection: Connection) -> str:
    """``""`` when no write transaction has been open longer than SETTLED (always on SQLite); else
    ``"@"`` and the start of the oldest, or ``"@?"`` when one's start is hidden from this role.

    Taken before the version's last writes are read, so every writer that could commit behind them
    is either named here or began after the reading started."""
    if connection.dialect.name != "postgresql":
        return ""
    oldest, hidden = connection.execute(_OPEN_WRITERS, {"settled": SETTLED.total_seconds()}).one()
    if hidden:
        return "@" + UNKNOWN
    return "" if oldest is None else "@" + oldest.isoformat()


@dataclass(frozen=True)
class InFlight:
    """What a version says of the writers open when it was taken."""

    since: datetime | None = None  # the start of the oldest one open longer than SETTLED
    unknown: bool = False  # one was open whose start this role could not see


def in_flight(version: str) -> InFlight:
    """The writers part of a ``data_version`` token."""
    writers = version.partition("@")[2]
    if not writers:
        return InFlight()
    if writers == UNKNOWN:
        return InFlight(unknown=True)
    return InFlight(since=datetime.fromisoformat(writers))
