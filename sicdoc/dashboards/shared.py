"""Analytics built once: results stored in the database by one analytics worker, read by every web
worker of every server.

    shared = SharedResults(engine, secret_key, wait_seconds=20)
    service.use_shared(shared)  # a web process: serves stored results, loads no frames

and one process builds them (``sicdoc.dashboards.worker``).

A web worker that needs a result nobody has asked for writes a request row and polls until the
worker has stored it for the current data version (``AnalyticsBusy`` after ``wait_seconds``). The
worker holds a lease row (``sicdoc.dashboards.lease``), so one worker builds however many servers run
one; it rebuilds the results asked for within the last day whenever the data version moves (reading
the frames once per version) and drops results nobody has asked for in a week.

Rows are zlib-compressed pickles with an HMAC keyed from the app's secret key, which is not in the
database. Loading a pickle can run code, so neither a result nor a request is unpickled unless its
HMAC verifies: someone who can write the database without holding the key can at most have a
result rebuilt, never have a process load their bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from sicdoc.dashboards.cache import Entry, VersionedCache
from sicdoc.dashboards.calls import (
    META,
    Call,
    ResultRow,
    asked_since_built,
    call_context,
    now_utc,
    result_context,
    result_row,
    unwrap,
)
from sicdoc.dashboards.seal import Seal, Tampered
from sicdoc.errors import AnalyticsBusy
from sicdoc.locking import WRITE
from sicdoc.models import AnalyticsResult

LOG = logging.getLogger(__name__)

# Results asked for within this window are rebuilt when the data version moves.
KEEP_CURRENT = timedelta(days=1)
# A web worker renews a request it serves from after this long, so viewed results stay current.
REREQUEST = timedelta(hours=1)
# Results nobody has asked for in this long are deleted.
DROP_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Held:
    """A result to be had without waiting: its value, the data version it is for, and the stored
    build it is, or was brought up to date from, in this process (None if not known)."""

    version: str
    value: Any
    build: tuple[str, float] | None
    kept: bool = False  # made in this process (``keep``), not the stored build as read


class SharedResults:
    """Results in the ``analytics_result`` table, with the few a web worker last read kept in memory."""

    @classmethod
    def from_config(cls, engine: Engine, config: Mapping[str, Any]) -> SharedResults:
        """As the app's settings give them: keyed from its secret key, waiting as long as it says."""
        return cls(
            engine,
            str(config["SECRET_KEY"]),
            wait_seconds=float(config["ANALYTICS_WAIT_SECONDS"]),
            max_age=float(config["DASHBOARD_CACHE_SECONDS"]),
        )

    def __init__(
        self, engine: Engine, secret: str, *, wait_seconds: float = 20.0, max_age: float = 300.0
    ) -> None:
        self.engine = engine
        self.wait_seconds = wait_seconds
        self._seal = Seal(secret)
        # Small on purpose: a web worker's memory must not grow with the population or the views.
        self._served = VersionedCache(max_entries=16, max_age=max_age)
        # One thread of the process reads and unpickles a build while the others asking wait for it:
        # a million patients' worklist is about 27 MB loaded (45 with its ids as strings), once, not
        # once a thread.
        self._reading: dict[str, threading.Lock] = {}
        self._reading_lock = threading.Lock()
        # The stored build (data version, time built) each result ``keep`` holds was first brought up
        # to date from, which bounds how long it is patched on (``_kept``).
        self._kept_from: dict[str, tuple[str, float]] = {}

    @property
    def max_age(self) -> float:
        """Seconds after which a result is rebuilt when viewed again, though the version has not moved."""
        return self._served.max_age

    @max_age.setter
    def max_age(self, seconds: float) -> None:
        self._served.max_age = seconds

    # -- the web side --------------------------------------------------------------------------

    def result(
        self,
        call: Call,
        version: str,
        probe: Callable[[], str],
        *,
        stale_limit: float | None = None,
        wait_seconds: float | None = None,
    ) -> tuple[Any, datetime | None]:
        """``call``'s result for ``version`` (or a newer one), waiting for the worker if need be.

        With ``stale_limit``, a result built for an older version up to that many seconds ago is
        returned at once with the time it was built, and the worker is asked for the current one.
        Raises ``AnalyticsBusy`` when nothing usable arrives within ``wait_seconds`` (the shorter of
        the argument and the configured wait).
        """
        key = call.key
        hit = self._served.peek(version, key)
        if hit is not None:
            return unwrap(hit.value), None
        row = self._status(key)
        entry = self._read(row) if row is not None else None
        if row is not None and entry is not None:
            now = now_utc()
            if self._should_request(row, now):
                self._request(call, now)
            if row.data_version == version:
                return unwrap(entry.value), None
            assert row.computed_at is not None  # a row with an entry was computed
            if stale_limit is not None and (now - row.computed_at).total_seconds() <= stale_limit:
                return unwrap(entry.value), row.computed_at
        wait = self.wait_seconds if wait_seconds is None else min(wait_seconds, self.wait_seconds)
        return self._wait(call, version, probe, wait), None

    def held(self, call: Call, version: str, *, kept: bool = True) -> Held | None:
        """The newest result of ``call`` to be had without waiting, with the data version it is for
        (this process's, or the stored row's), or None when there is none; when it is not for
        ``version``, the worker is asked for that. ``kept=False`` passes over what this process
        brought up to date and reads the stored build."""
        key = call.key
        hit = self._served.peek(version, key)
        if hit is not None:
            base = self._kept_from.get(key)
            return Held(version, unwrap(hit.value), base, kept=base is not None)
        row = self._status(key)
        if row is None or row.data_version is None or row.computed_at is None:
            return None
        build = (row.data_version, row.computed_at.timestamp())
        # Taken together: another thread may read a build meanwhile, and so forget what was kept.
        mine = self._kept(key, build) if kept else None
        entry = mine[0] if mine is not None else self._read(row)
        if entry is None:
            return None
        now = now_utc()
        if row.data_version != version or self._should_request(row, now):
            self._request(call, now)
        base = mine[1] if mine is not None else build
        return Held(entry.version, unwrap(entry.value), base, kept=mine is not None)

    def _kept(self, key: str, build: tuple[str, float]) -> tuple[Entry, tuple[str, float]] | None:
        """What ``keep`` holds for ``key``, with the build it started from, when it may be handed out
        instead of reading ``build``.

        It is exact for its version, and brought up to date by computing the patients written since.
        Reading a newer build instead costs tens of megabytes unpickled at a hospital's size, at
        every view after a write whenever the worker has stored one since: that was a web worker's
        time after a write. So it is handed out while it was made at most ``max_age`` ago and the
        build it started from is still the stored one or was stored at most ``max_age`` ago, so no
        table is patched on for longer than a build may be.
        """
        kept, base = self._served.latest(key), self._kept_from.get(key)
        if kept is None or base is None:
            return None
        now = time.time()
        if now - kept.computed_at > self.max_age:
            return None
        if base != build and now - base[1] > self.max_age:
            return None
        return kept, base

    def keep(self, call: Call, version: str, value: Any, held: Held) -> None:
        """Serve ``value``, brought up to ``version`` in this process from ``held``, as ``call``'s
        result for it."""
        self._served.put(version, call.key, ("ok", value), time.time())
        if held.build is None:
            self._kept_from.pop(call.key, None)
        else:
            self._kept_from[call.key] = held.build

    def _should_request(self, row: ResultRow, now: datetime) -> bool:
        if row.requested_at < now - REREQUEST:
            return True  # the worker would stop keeping it current
        # Built long ago for this version and not asked for since: rebuilt, as a local cache expires.
        return (
            row.computed_at is not None
            and row.requested_at <= row.computed_at
            and (now - row.computed_at).total_seconds() > self.max_age
        )

    def _wait(self, call: Call, version: str, probe: Callable[[], str], wait: float) -> Any:
        asked = now_utc()
        self._request(call, asked)
        deadline = time.monotonic() + wait
        pause = 0.05
        while True:
            row = self._status(call.key)
            if row is None:
                self._request(call, now_utc())  # dropped meanwhile (a request the worker could not verify)
            elif row.computed_at is not None and row.data_version is not None:
                if row.data_version != version and row.computed_at >= asked:
                    version = probe()  # built after we asked: for data newer than we first saw?
                if row.data_version == version:
                    entry = self._read(row)
                    if entry is not None:
                        return unwrap(entry.value)
            if time.monotonic() >= deadline:
                raise AnalyticsBusy()
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _status(self, key: str) -> ResultRow | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(*META).where(AnalyticsResult.key == key)).first()
        return result_row(found) if found is not None else None

    def _read(self, row: ResultRow) -> Entry | None:
        """The row's verified result, from memory when this process already read that build."""
        if row.data_version is None or row.computed_at is None:
            return None
        built = row.computed_at.timestamp()
        cached = self._served.latest(row.key)
        if cached is not None and cached.version == row.data_version and cached.computed_at == built:
            return cached
        with self._reading_lock:
            reading = self._reading.setdefault(row.key, threading.Lock())
        with reading:
            cached = self._served.latest(row.key)  # read by the thread this one waited for?
            if cached is not None and cached.version == row.data_version and cached.computed_at == built:
                return cached
            # The build this process held is let go first, by the cache and by this frame: two of a
            # large result at once (a million patients' worklist) is what would set the process's peak.
            cached = None
            self._served.forget(row.key)
            return self._load(row, built)

    def _load(self, row: ResultRow, built: float) -> Entry | None:
        assert row.data_version is not None
        with self.engine.connect() as conn:
            payload = conn.scalar(
                select(AnalyticsResult.payload).where(
                    AnalyticsResult.key == row.key, AnalyticsResult.data_version == row.data_version
                )
            )
        if payload is None:
            return None
        try:
            value = self._seal.open(result_context(row.key, row.data_version), payload)
        except Tampered:
            LOG.warning(
                "analytics result %s does not verify with this server's key (altered, or written "
                "under another secret key); it is built again",
                row.key,
            )
            self._forget(row.key)
            return None
        self._served.put(row.data_version, row.key, value, built)
        self._kept_from.pop(row.key, None)  # what this process kept was let go for this build
        return Entry(row.data_version, built, time.monotonic(), value)

    def _forget(self, key: str) -> None:
        """Clear a result that may not be loaded, so the worker builds it again."""
        with self._write() as conn:
            conn.execute(
                update(AnalyticsResult)
                .where(AnalyticsResult.key == key)
                .values(payload=None, data_version=None, computed_at=None, requested_at=now_utc())
            )

    def request(self, call: Call) -> None:
        """Ask the worker for ``call``'s result without waiting for it."""
        self._request(call, now_utc())

    def _request(self, call: Call, now: datetime) -> None:
        key = call.key
        try:
            with self._write() as conn:
                # Sealed again each time: a request written under an earlier secret key is replaced.
                sealed = self._seal.seal(call_context(key), call)
                asked = (
                    update(AnalyticsResult)
                    .where(AnalyticsResult.key == key)
                    .values(requested_at=now, call=sealed)
                )
                if conn.execute(asked).rowcount:
                    return
                conn.execute(
                    insert(AnalyticsResult).values(key=key, method=call.method, call=sealed, requested_at=now)
                )
        except IntegrityError:
            pass  # another web worker asked for it at the same moment

    def _write(self) -> AbstractContextManager[Connection]:
        # Marked as writing: on SQLite the transaction takes the write lock at BEGIN (sicdoc.locking).
        return self.engine.execution_options(**WRITE).begin()

    # -- the worker side -----------------------------------------------------------------------

    def due(self, version: str, now: datetime) -> list[ResultRow]:
        """The results to build for ``version``: first those asked for since they were last built
        (someone may be waiting), then the rest; the most recently asked for first in each."""
        with self.engine.connect() as conn:
            rows = [result_row(values) for values in conn.execute(select(*META))]
        out = []
        for row in rows:
            if row.requested_at < now - KEEP_CURRENT:
                continue
            built = row.computed_at
            if (
                built is None
                or row.data_version != version
                or (row.requested_at > built and (now - built).total_seconds() > self.max_age)
            ):
                out.append(row)
        out.sort(key=lambda r: (not asked_since_built(r), -r.requested_at.timestamp()))
        return out

    def drop_unrequested(self, now: datetime) -> int:
        with self._write() as conn:
            return conn.execute(
                delete(AnalyticsResult).where(AnalyticsResult.requested_at < now - DROP_AFTER)
            ).rowcount

    def call_of(self, row: ResultRow) -> Call | None:
        """The verified request of ``row``; a request that fails its check is deleted."""
        with self.engine.connect() as conn:
            blob = conn.scalar(select(AnalyticsResult.call).where(AnalyticsResult.key == row.key))
        if blob is None:
            return None
        try:
            call = self._seal.open(call_context(row.key), blob)
        except Tampered:
            call = None
        if not isinstance(call, Call) or call.key != row.key:
            LOG.error("analytics request %s failed its signature check; deleted", row.key)
            with self._write() as conn:
                conn.execute(delete(AnalyticsResult).where(AnalyticsResult.key == row.key))
            return None
        return call

    def store(self, key: str, version: str, outcome: tuple[str, Any]) -> None:
        payload = self._seal.seal(result_context(key, version), outcome)
        with self._write() as conn:
            conn.execute(
                update(AnalyticsResult)
                .where(AnalyticsResult.key == key)
                .values(payload=payload, data_version=version, computed_at=now_utc())
            )
