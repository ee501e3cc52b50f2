"""The analytics builder's lease: one row naming the worker that builds shared results, so that one
worker builds however many servers run one. The holder renews it between results; a worker that has
not renewed it for ``LEASE_SECONDS`` (stopped, or cut off) is taken over by another.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sicdoc.dashboards.calls import now_utc
from sicdoc.locking import WRITE
from sicdoc.models import AnalyticsLease

LEASE_NAME = "builder"
LEASE_SECONDS = 120.0


class BuilderLease:
    """The ``analytics_lease`` row of the builder, taken and let go in write transactions of their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, holder: str, seconds: float = LEASE_SECONDS) -> bool:
        """Take or renew the lease for ``seconds``; False while another holder has it."""
        now = now_utc()
        lease = AnalyticsLease
        expires = now + timedelta(seconds=seconds)
        try:
            # Marked as writing: on SQLite the transaction takes the write lock at BEGIN.
            with self.engine.execution_options(**WRITE).begin() as conn:
                taken = conn.execute(
                    update(lease)
                    .where(lease.name == LEASE_NAME, or_(lease.holder == holder, lease.expires_at < now))
                    .values(holder=holder, expires_at=expires)
                ).rowcount
                if taken:
                    return True
                if conn.scalar(select(lease.name).where(lease.name == LEASE_NAME)) is not None:
                    return False
                conn.execute(insert(lease).values(name=LEASE_NAME, holder=holder, expires_at=expires))
                return True
        except IntegrityError:
            return False  # another worker created the lease first

    def release(self, holder: str) -> None:
        """Let the lease go at once, if ``holder`` has it."""
        with self.engine.execution_options(**WRITE).begin() as conn:
            conn.execute(
                update(AnalyticsLease)
                .where(AnalyticsLease.name == LEASE_NAME, AnalyticsLease.holder == holder)
                .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
            )
