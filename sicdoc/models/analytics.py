"""Analytics results built once by the analytics worker and read by every web worker and server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base


class AnalyticsResult(Base):
    """One result (a dashboard, a metrics report, a worklist table...) for one set of arguments.

    A web worker that needs it writes the row with ``call`` (what to build, signed) and
    ``requested_at``; the worker fills ``payload`` for ``data_version`` and keeps it current while it
    is requested. ``call`` and ``payload`` are signed pickles: neither is unpickled unless its HMAC,
    keyed from the app's secret key, verifies.
    """

    __tablename__ = "analytics_result"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the method and arguments
    method: Mapped[str] = mapped_column(String(32))
    call: Mapped[bytes] = mapped_column(LargeBinary)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data_version: Mapped[str | None] = mapped_column(Text)
    computed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)


class AnalyticsLease(Base):
    """Who builds analytics results, until when: one row, so one worker builds across all servers."""

    __tablename__ = "analytics_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(160))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
