"""Rate-limit counters in the application's own database, shared by every worker and every server.

A ``limits`` storage for the fixed-window strategy: one row per (limit, client) window, incremented
by a single atomic upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) that works the same
on SQLite and PostgreSQL, so two processes can never both see the same count. Each hit commits on
its own connection: a refused or rolled-back request still counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from limits.storage import Storage
from sqlalchemy import Engine, Table, case, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from sicdoc.locking import WRITE
from sicdoc.models.security import RateLimitCounter
from sicdoc.security.opaque import digest

_TABLE = RateLimitCounter.__table__
_INSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}
# Expired windows are swept once every this many hits (by whichever process makes that hit).
SWEEP_EVERY = 200
_MAX_KEY = 255


def _now_ms() -> int:
    return int(time.time() * 1000)


def _key(key: str) -> str:
    """The stored key: as given, or its digest when too long for the column (an IPv6 address fits)."""
    if len(key) <= _MAX_KEY:
        return key
    return "sha256:" + digest(key)


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counter`` table (no URI scheme: built by the app)."""

    STORAGE_SCHEME = None

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in _INSERTS:
            raise ValueError(
                f"rate limits in the database need SQLite or PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        self._insert = _INSERTS[engine.dialect.name]
        self._hits = 0
        super().__init__()

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = _now_ms()
        ends = now + int(expiry * 1000)
        expired = _TABLE.c.window_end <= now
        stmt = (
            self._insert(_TABLE)
            .values(key=_key(key), hits=amount, window_end=ends)
            .on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={
                    "hits": case((expired, amount), else_=_TABLE.c.hits + amount),
                    "window_end": case((expired, ends), else_=_TABLE.c.window_end),
                },
            )
            .returning(_TABLE.c.hits)
        )
        with self.engine.execution_options(**WRITE).begin() as conn:
            hits = int(conn.execute(stmt).scalar_one())
        self._hits += 1
        if self._hits % SWEEP_EVERY == 0:
            self.sweep(now)
        return hits

    def _row(self, key: str) -> tuple[int, int] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.hits, _TABLE.c.window_end).where(
                    _TABLE.c.key == _key(key), _TABLE.c.window_end > _now_ms()
                )
            ).first()
        return (int(row.hits), int(row.window_end)) if row else None

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] / 1000 if row else time.time()

    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.execution_options(**WRITE).begin() as conn:
            return conn.execute(delete(_TABLE)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.execution_options(**WRITE).begin() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.key == _key(key)))

    def sweep(self, now_ms: int | None = None) -> int:
        """Delete windows that have ended; returns how many."""
        with self.engine.execution_options(**WRITE).begin() as conn:
            return conn.execute(delete(_TABLE).where(_TABLE.c.window_end <= (now_ms or _now_ms()))).rowcount
