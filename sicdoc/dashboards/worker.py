"""The analytics worker: the one process that builds shared analytics results and keeps them current.

It holds the frames (read once per data version) and builds what web workers asked for through
``SharedResults``; the lease (``BuilderLease``) lets one worker build at a time however many servers
run one.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sicdoc.dashboards.calls import Builder, Call, ResultRow, asked_since_built, now_utc, outcome_of_error
from sicdoc.dashboards.lease import LEASE_SECONDS, BuilderLease
from sicdoc.dashboards.shared import SharedResults
from sicdoc.errors import SicdocError

LOG = logging.getLogger(__name__)
# How often results nobody has asked for in a long time are looked for and deleted.
DROP_EVERY_SECONDS = 300.0
# Results built in one round at most, so the lease and the clean-up are looked at between rounds.
MAX_BUILDS_PER_ROUND = 200
# Results nobody is waiting for are brought up to date once writes have paused this long: a build
# cannot be interrupted, and a dashboard refreshed after every write of a busy feed would keep a
# clinician's worklist waiting behind it. Those views show their figures' age meanwhile.
QUIET_SECONDS = 10.0
# ... and at least this often however busy the feed is.
REFRESH_EVERY_SECONDS = 300.0


class AnalyticsWorker:
    """Builds the results web workers ask for, under the lease, and keeps them current."""

    def __init__(
        self,
        builder: Builder,
        shared: SharedResults,
        *,
        poll_seconds: float = 0.25,
        holder: str | None = None,
    ) -> None:
        self.builder = builder
        self.shared = shared
        self.lease = BuilderLease(shared.engine)
        self.poll_seconds = poll_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Monotonic times: when the lease next needs renewing, when unrequested results are next dropped.
        self._renew_at = 0.0
        self._drop_at = 0.0
        # The data version last seen and when it was first seen (monotonic), for QUIET_SECONDS.
        self._version = ""
        self._version_seen = 0.0

    def _hold(self) -> bool:
        """Whether this worker holds the lease, renewed once half of it has run (one write a minute,
        not one a round: on SQLite every write takes the database's write lock)."""
        if time.monotonic() < self._renew_at:
            return True
        if self.lease.acquire(self.holder, LEASE_SECONDS):
            self._renew_at = time.monotonic() + LEASE_SECONDS / 2
            return True
        self._renew_at = 0.0
        return False

    def run(self, stop: threading.Event) -> None:
        """Build until ``stop`` is set; a failed round is logged and tried again."""
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception:  # the database may be away for a moment: the next round retries
                    LOG.exception("analytics worker round failed")
                stop.wait(self.poll_seconds)
        finally:
            try:
                self.lease.release(self.holder)
                self._renew_at = 0.0
            except SQLAlchemyError:
                LOG.warning("could not release the analytics lease; it lapses by itself")

    def run_once(self) -> int:
        """One round: build what is due for the current data version. Returns how many were built
        (0 while another worker holds the lease)."""
        if not self._hold():
            return 0
        now = now_utc()
        if time.monotonic() >= self._drop_at:
            self.shared.drop_unrequested(now)
            self._drop_at = time.monotonic() + DROP_EVERY_SECONDS
        built = 0
        # One result at a time, looking again before each: a request made meanwhile (a clinician's
        # worklist after a write) goes before older results still to refresh, and a write made
        # meanwhile moves the build to the new data version instead of finishing the old one.
        for _ in range(MAX_BUILDS_PER_ROUND):
            version = self.builder.version()
            if version != self._version:
                self._version, self._version_seen = version, time.monotonic()
            due = self.shared.due(version, now_utc())
            if not due or not self._may_build(due[0]):
                break
            call = self.shared.call_of(due[0])
            if call is None:
                continue  # deleted: it failed its check
            self.shared.store(due[0].key, version, self._outcome(call, version))
            built += 1
            if not self._hold():
                break  # another worker took over while this one was busy
        return built

    def _may_build(self, row: ResultRow) -> bool:
        """Whether to build ``row`` now: at once when someone asked for it since it was last built,
        else once writes have paused, or once it is REFRESH_EVERY_SECONDS old."""
        if asked_since_built(row) or row.computed_at is None:
            return True
        if time.monotonic() - self._version_seen >= QUIET_SECONDS:
            return True
        return (now_utc() - row.computed_at).total_seconds() >= REFRESH_EVERY_SECONDS

    def _outcome(self, call: Call, version: str) -> tuple[str, Any]:
        try:
            return "ok", portable(self.builder.compute(call, version))
        except SQLAlchemyError:
            raise  # the database, not the request: the round is tried again
        except SicdocError as exc:
            return outcome_of_error(exc)
        except Exception as exc:
            LOG.exception("analytics %s could not be built", call.method)
            return "error", (500, "exception", f"analytics {call.method} could not be built: {exc}")


def portable(value: Any) -> Any:
    """``value`` as stored: a dashboard travels without its plotly figure objects (its figures'
    JSON is what pages draw), which are made again from that JSON only if something asks for them."""
    from sicdoc.dashboards.build import BuiltDashboard

    if isinstance(value, BuiltDashboard):
        # A sequence that stands in for the tuple of figures: the same reads, built on first use.
        panels = tuple(
            replace(p, figures=FiguresFromJson(p.figure_json))  # type: ignore[arg-type]
            for p in value.panels
        )
        return replace(value, panels=panels)
    return value


class FiguresFromJson(Sequence[Any]):
    """A dashboard panel's figures, made from their JSON on first use (an export needs them; a
    page does not, so a web worker never builds a figure object)."""

    def __init__(self, texts: tuple[str, ...]):
        self._texts = texts
        self._figures: tuple | None = None

    def _built(self) -> tuple:
        if self._figures is None:
            import plotly.io as pio

            self._figures = tuple(pio.from_json(text) for text in self._texts)
        return self._figures

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __len__(self) -> int:
        return len(self._texts)

    def __reduce__(self) -> tuple:
        return (FiguresFromJson, (self._texts,))
