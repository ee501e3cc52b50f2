"""What the web pages, the API and the CLI ask of analytics, with the in-process caches.

    service = AnalyticsService(engine, definitions, value_set_version="2026.1")
    built = service.dashboard(definitions["qi-overview"], scope)

Frames are read once per data version (one query per projection table); each built dashboard and
report is kept per (scope, data version), so a repeated or shared view costs one version probe.

After a write, the dashboard pages show the figures they last built for that view, marked with
their age, while a background thread rebuilds them (reading every projection row again takes
seconds at a hospital's scale). The metrics API, the CSVs and the CLI always compute from the
current data.

In shared mode (``use_shared``) nothing is computed here: every result comes from the analytics
worker through the database (``sicdoc.dashboards.shared``), so a web worker never holds the frames.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from sqlalchemy import Engine

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.served_worklist import Worklist
from sicdoc.dashboards import worklists
from sicdoc.dashboards.cache import VersionedCache
from sicdoc.dashboards.calls import Call
from sicdoc.dashboards.definitions import Dashboard
from sicdoc.dashboards.shared import SharedResults
from sicdoc.errors import ConfigurationError
from sicdoc.store.changes import changed_patients
from sicdoc.store.frames import (
    changed_tables,
    clinician_departments,
    clinician_names,
    data_version,
    load_frames,
    load_normalised_tables,
    patient_tables,
    places,
)

if TYPE_CHECKING:  # the statistics stack is imported on first use, not when the app starts
    from sicdoc.analytics.case_review import Case
    from sicdoc.analytics.frames import Where
    from sicdoc.dashboards.build import BuiltDashboard


LOG = logging.getLogger(__name__)
# Older figures than this are rebuilt while the viewer waits rather than shown.
STALE_LIMIT_SECONDS = 3600.0


@dataclass(frozen=True)
class DashboardView:
    built: BuiltDashboard
    # When the figures were computed, if newer data has arrived since (a rebuild is under way).
    stale_since: datetime | None = None


class AnalyticsService:
    def __init__(self, engine: Engine, definitions: dict[str, Dashboard], value_set_version: str):
        self.engine = engine
        self.definitions = definitions
        self.value_set_version = value_set_version
        self._frames = VersionedCache(max_entries=1)
        self._results = VersionedCache(max_entries=64)
        self._refreshing: dict[Hashable, threading.Thread] = {}
        self._refresh_lock = threading.Lock()
        self._shared: SharedResults | None = None
        # When each worklist (by scope) was last computed whole rather than patched after a write.
        self._worklist_whole: dict[Hashable, float] = {}
        # When the frames were last read whole (monotonic), for their ``max_age``.
        self._frames_whole_at = 0.0
        self.set_clinician_labels("name", None)

    def use_shared(self, shared: SharedResults | None) -> None:
        """Serve results the analytics worker built and stored (None: compute them here again)."""
        self._shared = shared
        if shared is not None:
            shared.max_age = self._results.max_age

    @property
    def shared(self) -> bool:
        return self._shared is not None

    def set_clinician_labels(self, mode: str, secret: str | None) -> None:
        """How QI outputs name clinicians ("name" or "pseudonym"); pseudonyms are keyed with a key
        derived from ``secret`` (the same secret gives the same pseudonyms in every process)."""
        if mode not in ("name", "pseudonym"):
            raise ValueError(f"clinician labels must be 'name' or 'pseudonym', not {mode!r}")
        self.clinician_label_mode = mode
        # Without a secret, a key of this process: pseudonyms stay the same until it ends.
        self._pseudonym_key = (
            hashlib.sha256(b"sicdoc qi clinician pseudonyms\0" + secret.encode()).digest()
            if secret
            else secrets.token_bytes(32)
        )
        self._results.clear()

    def set_max_age(self, seconds: float) -> None:
        self._frames.max_age = self._results.max_age = seconds
        if self._shared is not None:
            self._shared.max_age = seconds

    @property
    def default_board(self) -> Dashboard:
        return self.definitions.get("qi-overview") or next(iter(self.definitions.values()))

    def board_for_panel(self, panel_id: str) -> Dashboard | None:
        return next((b for b in self.definitions.values() if b.panel(panel_id) is not None), None)

    def version(self) -> str:
        with self.engine.connect() as conn:
            return data_version(conn)

    def frames(self, version: str | None = None) -> Frames:
        """All projection rows, normalised once per data version.

        After a write the rows of the patients it touched are read again, in the tables its resource
        types feed, and the rest are kept; when those patients cannot be told cheaply (a ward, a bulk
        load), the tables it feeds are read whole. Every ``max_age`` seconds since they last were, the
        frames are read whole however busy the writes, which bounds how long a commit that did not move
        the version (see ``VersionedCache``) can go unseen.
        """
        version = version or self.version()

        def load() -> Frames:
            previous = self._frames.latest("frames")
            started = time.monotonic()
            with self.engine.connect() as conn:
                if previous is None or started - self._frames_whole_at > self._frames.max_age:
                    frames = load_frames(conn)
                    self._frames_whole_at = started
                    return frames
                changed = changed_tables(previous.version, version)
                if not changed:
                    return previous.value
                patients = changed_patients(conn, previous.version, version)
                if patients is not None:
                    return previous.value.patched(patients, patient_tables(conn, patients, sorted(changed)))
                return previous.value.replaced(**load_normalised_tables(conn, sorted(changed)))

        return self._frames.get(version, "frames", load)

    def places(self) -> dict[str, list[str]]:
        """The sites and wards the filters offer. In shared mode a list up to an hour old is shown
        while the worker brings it up to date: a write must not hold up every page with filters."""
        call = Call("places", (), ())
        if self._shared is not None:
            version = self.version()
            return self._shared.result(call, version, self.version, stale_limit=STALE_LIMIT_SECONDS)[0]
        return self._get(call)

    def dashboard(self, board: Dashboard, scope: Scope, version: str | None = None) -> BuiltDashboard:
        """The dashboard built from the current data (of ``version`` when the caller just probed it)."""
        return self._get(_dashboard_call(board, scope), version)

    def _get(self, call: Call, version: str | None = None) -> Any:
        version = version or self.version()
        if self._shared is not None:
            return self._shared.result(call, version, self.version)[0]
        return self.compute(call, version)

    def compute(self, call: Call, version: str) -> Any:
        """``call``'s result computed in this process from the frames of ``version`` (kept per data
        version): what local mode serves and what the analytics worker stores."""
        build = getattr(self, f"_build_{call.method}", None)
        if build is None:
            raise ConfigurationError(f"no analytics result is called {call.method!r}")
        return self._results.get(version, (call.method, call.identity), lambda: build(version, *call.args))

    def _build_places(self, _version: str) -> dict[str, list[str]]:
        with self.engine.connect() as conn:
            return places(conn)

    def _build_dashboard(self, version: str, board: Dashboard, scope: Scope) -> BuiltDashboard:
        from sicdoc.dashboards.build import build_dashboard

        return build_dashboard(
            self.frames(version),
            scope,
            board,
            self.value_set_version,
            self.clinician_labels(version),
            self.clinician_departments(version),
        )

    def clinician_labels(self, version: str | None = None) -> ClinicianLabels:
        """The labels of the clinicians in the data: their stored names (unless pseudonyms are
        configured) read once per data version, pseudonyms for the rest."""
        version = version or self.version()

        def load() -> ClinicianLabels:
            names: dict[str, str] = {}
            if self.clinician_label_mode == "name":
                refs = self.frames(version).conversations["clinician_id"].dropna().astype(str).unique()
                with self.engine.connect() as conn:
                    names = clinician_names(conn, refs)
            return ClinicianLabels(self.clinician_label_mode, self._pseudonym_key, names)

        return self._results.get(version, ("clinicians",), load)

    def clinician_departments(self, version: str | None = None) -> dict[str, str]:
        """The department (PractitionerRole specialty) of each clinician in the data who has one,
        read once per data version (a Practitioner or PractitionerRole write moves it)."""
        version = version or self.version()

        def load() -> dict[str, str]:
            refs = self.frames(version).conversations["clinician_id"].dropna().astype(str).unique()
            with self.engine.connect() as conn:
                return clinician_departments(conn, refs)

        return self._results.get(version, ("departments",), load)

    def dashboard_view(self, board: Dashboard, scope: Scope) -> DashboardView:
        """The dashboard for a page: current if it is built, else the last one built for this
        view (up to an hour old) while the current one is built in the background."""
        if self._shared is not None:
            built, stale_since = self._shared.result(
                _dashboard_call(board, scope), self.version(), self.version, stale_limit=STALE_LIMIT_SECONDS
            )
            return DashboardView(built, stale_since)
        call, version = _dashboard_call(board, scope), self.version()
        key = (call.method, call.identity)
        current = self._results.peek(version, key)
        if current is not None:
            return DashboardView(current.value)
        last = self._results.latest(key)
        if last is not None and time.time() - last.computed_at <= STALE_LIMIT_SECONDS:
            self._refresh(key, board, scope)
            return DashboardView(last.value, datetime.fromtimestamp(last.computed_at, UTC))
        return DashboardView(self.dashboard(board, scope, version))

    def _refresh(self, key: Hashable, board: Dashboard, scope: Scope) -> None:
        with self._refresh_lock:
            running = self._refreshing.get(key)
            if running is not None and running.is_alive():
                return
            # A daemon thread: a rebuild under way never holds up a worker's shutdown.
            thread = threading.Thread(
                target=self._rebuild, args=(key, board, scope), name="dashboard-refresh", daemon=True
            )
            self._refreshing[key] = thread
        thread.start()

    def _rebuild(self, key: Hashable, board: Dashboard, scope: Scope) -> None:
        try:
            self.dashboard(board, scope)
        except Exception:  # logged for whoever runs the server; the next view tries again
            LOG.exception("background rebuild of dashboard %s failed", board.id)
        finally:
            with self._refresh_lock:
                if self._refreshing.get(key) is threading.current_thread():
                    del self._refreshing[key]

    def wait_for_refreshes(self, timeout: float = 60.0) -> None:
        """Block until the background rebuilds under way are done (for tests and benchmarks)."""
        with self._refresh_lock:
            threads = list(self._refreshing.values())
        for thread in threads:
            thread.join(timeout)

    def report(self, scope: Scope, *, suppress: bool = True) -> dict:
        """The metrics report of ``scope``, with its time basis (``Scope.describe``) after the period."""
        return scope.annotate(self._get(Call("report", (scope, suppress), (scope.key(), suppress))))

    def _build_report(self, version: str, scope: Scope, suppress: bool) -> dict:
        from sicdoc.analytics import compute_metrics

        return compute_metrics(
            self.frames(version),
            as_of=scope.as_of,
            period_from=scope.period_from,
            period_to=scope.period_to,
            cohorts=list(scope.cohorts),
            value_set_version=self.value_set_version,
            suppress=suppress,
            site=scope.site,
            unit=scope.unit,
        )

    def warm(self) -> None:
        """Build the default dashboard for today's default scope (imports the statistics and plotting
        stack on the way), so the first analyst of the day does not wait for it."""
        version = self.version()
        for call in self.warm_calls():
            self.compute(call, version)

    def warm_calls(self) -> list[Call]:
        """What the first analyst of the day asks for: the filter choices and the default dashboard
        for today's default scope (the analytics worker builds them as it starts)."""
        from sicdoc.analytics.scope import parse_qi_scope

        board = self.default_board
        scope = parse_qi_scope({}, today=today_utc(), default_months=board.default_period_months)
        return [Call("places", (), ()), _dashboard_call(board, scope)]

    def worklist(
        self,
        scope: Scope,
        *,
        in_hospital: bool = False,
        only: Collection[str] | None = None,
        hide: Collection[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[pd.DataFrame, int]:
        """One page of the patients due a conversation, with name and MRN, and how many match in all.

        ``in_hospital`` keeps patients in an inpatient stay now, ``only`` a set of patient ids (the
        clinician's own patients), ``hide`` drops patients (snoozed ones). Clinicians act on it, so
        it is never shown stale: the table is kept per data version (any write moves it) and names
        and MRNs are read from the current Patient resources at every view.
        """
        return worklists.page_of(
            self.engine,
            self._worklist_table(scope),
            in_hospital=in_hospital,
            only=only,
            hide=hide,
            offset=offset,
            limit=limit,
        )

    def review_cases(self, where: Where, as_of: date) -> list[Case]:
        """The end-of-life case review's cases of ``where`` as known at the end of ``as_of``, kept
        per data version like the worklist (a write moves it, so it is never stale)."""
        return self._get(Call("review", (where, as_of), (where, as_of)))

    def _build_review(self, version: str, where: Where, as_of: date) -> list[Case]:
        from sicdoc.analytics.case_review import review_cases

        return review_cases(self.frames(version).observed(as_of), where)

    def _worklist_table(self, scope: Scope) -> Worklist:
        call = worklists.call(scope)
        if self._shared is None:
            return self._get(call)
        return worklists.from_shared(self.engine, self._shared, scope, self.version)

    def _build_worklist(self, version: str, scope: Scope, ids_apart: bool = False) -> Worklist | pd.DataFrame:
        """After a write, the patients it touched are computed again from their own rows, read by
        patient, and the rest of the last table is kept: seconds become milliseconds at a hospital's
        size. The whole table is computed when there is none, when a write touched what many
        patients share or a great many patients, and once ``max_age`` has passed since it last was
        (as frames are read whole again: a late commit that was missed is then seen)."""
        from sicdoc.analytics.worklist import scoped

        call = worklists.call(scope)
        if not ids_apart:  # as servers of an earlier version ask for it: one DataFrame
            return cast(Worklist, self.compute(call, version)).table()
        key = (call.method, call.identity)
        previous = self._results.latest(key)
        whole_at = self._worklist_whole.get(key)
        recent = whole_at is not None and time.monotonic() - whole_at <= self._results.max_age
        if previous is not None and recent:
            current = worklists.updated(self.engine, previous.value, previous.version, version, scope)
            if current is not None:
                return current
        started = time.monotonic()
        table = Worklist.of(scoped(self.frames(version), scope))
        self._worklist_whole[key] = started
        return table


def _dashboard_call(board: Dashboard, scope: Scope) -> Call:
    return Call("dashboard", (board, scope), (board.id, scope.key()))


def today_utc() -> date:
    return pd.Timestamp.now(tz="UTC").date()
