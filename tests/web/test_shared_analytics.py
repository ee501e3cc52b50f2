"""Shared analytics mode: one worker builds, the web only serves, on both databases.

A web app in shared mode and one in local mode read the same generated population; whatever the
shared one serves (a dashboard page, /api/metrics, the worklist, the case review) equals what the
local one computes, before and after a write. The web side never reads the frames: load_frames
fails outside the worker's thread. A result row whose signature does not verify is never unpickled;
with no worker, a request gets 503 and Retry-After; a chart and the worklist after a write never wait
for the worker. The worker itself is tested in test_analytics_worker.py, a web worker's reading of
its builds in test_shared_results.py.
"""

import pickle
import re
import threading
import time
import uuid
import zlib

import pytest
from sqlalchemy import select, update

from sicdoc.app import create_app
from sicdoc.dashboards import service as service_module
from sicdoc.dashboards import worklists
from sicdoc.dashboards.calls import call_context, now_utc, result_context, unwrap
from sicdoc.dashboards.shared import SharedResults
from sicdoc.dashboards.worker import AnalyticsWorker
from sicdoc.errors import AnalyticsBusy
from sicdoc.models import AnalyticsResult
from sicdoc.views import forms_patients
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.web.analytics_population import (
    AS_OF,
    DASHBOARD,
    let_go_at_each_read,
    logged_in,
    population_app,
    shared_mode_app,
    write_a_patient,
)
from tests.web.fhir_helpers import patient, stroke

WORKER_THREAD = "analytics-worker"
METRICS = f"/api/metrics?as_of={AS_OF}&from=2024-01-01"
WORKLIST = f"/worklist?as_of={AS_OF}"
REVIEW = "/reviews/end-of-life?from=2023-01-01&to=2026-06-30"
# Set by an unpickled forged payload (it must never be).
FORGED: list[str] = []


class _Forged:
    def __reduce__(self):
        return (FORGED.append, ("unpickled",))


@pytest.fixture(scope="module", params=BACKENDS)
def local_app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        yield app


@pytest.fixture(scope="module")
def shared_app(local_app):
    app = shared_mode_app(local_app.config["DATABASE_URL"])
    yield app
    app.extensions["sicdoc.engine"].dispose()


def _results(app) -> SharedResults:
    service = app.extensions["sicdoc.analytics"]
    assert service.shared
    return service._shared


@pytest.fixture(scope="module")
def worker(shared_app):
    """The analytics worker in a thread of its own (named so the frame guard lets it read)."""
    service = shared_app.extensions["sicdoc.analytics"]
    builder = AnalyticsWorker(
        service, SharedResults(service.engine, "test-only-secret-key"), poll_seconds=0.05
    )
    stop = threading.Event()
    thread = threading.Thread(target=builder.run, args=(stop,), name=WORKER_THREAD, daemon=True)
    thread.start()
    yield builder
    stop.set()
    thread.join(30)


_LOCAL = threading.local()


@pytest.fixture(autouse=True)
def frames_read_only_by_the_worker(monkeypatch):
    """Reading projection rows anywhere but in the worker's thread (or a local-mode request the test
    makes for comparison) fails the request."""
    readers: list[str] = []

    def guarded(real):
        def read(*args, **kwargs):
            if getattr(_LOCAL, "computing", False):
                return real(*args, **kwargs)
            name = threading.current_thread().name
            readers.append(name)
            if name != WORKER_THREAD:
                raise AssertionError(f"frames read outside the analytics worker ({name})")
            return real(*args, **kwargs)

        return read

    monkeypatch.setattr(service_module, "load_frames", guarded(service_module.load_frames))
    for name in ("load_normalised_tables", "patient_tables"):  # after a write: tables, or patients' rows
        monkeypatch.setattr(service_module, name, guarded(getattr(service_module, name)))
    return readers


def _body(resp) -> str:
    """The page without its per-session CSRF token (the log-out form's)."""
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1", resp.get_data(as_text=True))


def _locally(local_app, path: str, role: str) -> str:
    """What the local-mode app serves (it computes in the test's thread, which may read frames)."""
    _LOCAL.computing = True
    try:
        return _body(logged_in(local_app, role, role).get(path))
    finally:
        _LOCAL.computing = False


def test_every_view_served_in_shared_mode_equals_local_mode(local_app, shared_app, worker):
    expected = {path: _locally(local_app, path, role) for path, role in _VIEWS}
    for path, role in _VIEWS:
        shared_http = logged_in(shared_app, role, role)
        assert _body(shared_http.get(path)) == expected[path], path
    assert "panel-" in expected[DASHBOARD] and "due" in expected[WORKLIST]
    rows = _stored(shared_app)
    assert {"dashboard", "report", "worklist", "review", "places"} <= {r.method for r in rows}


_VIEWS = ((DASHBOARD, "qi_analyst"), (METRICS, "qi_analyst"), (WORKLIST, "clinician"), (REVIEW, "clinician"))


def _stored(app):
    with app.extensions["sicdoc.engine"].connect() as conn:
        return conn.execute(select(AnalyticsResult)).all()


def _fresh(get, seconds: float = 60) -> str:
    """The page once it no longer shows figures marked as being recomputed."""
    deadline = time.monotonic() + seconds
    while "data-stale" in (page := get()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return page


def write_a_stroke(app) -> str:
    """A new patient in the stroke cohort, inside the period every view here asks for; their id."""
    from sicdoc.db import session_scope
    from sicdoc.services.bundles import process_transaction
    from sicdoc.services.unit import system_unit

    ref = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        {
            "fullUrl": ref,
            "resource": patient(str(uuid.uuid4())),
            "request": {"method": "POST", "url": "Patient"},
        },
        {"resource": stroke(ref, onset="2025-06-10"), "request": {"method": "POST", "url": "Condition"}},
    ]
    entries[1]["resource"]["subject"] = {"reference": ref}
    with session_scope(app) as session:
        answer = process_transaction(
            system_unit(session, app.extensions["sicdoc.store"]),
            {"resourceType": "Bundle", "type": "transaction", "entry": entries},
        )
    return answer.response["entry"][0]["response"]["location"].split("/")[1]


def test_a_write_moves_the_served_result_once_the_worker_rebuilds_it(
    local_app, shared_app, worker, frames_read_only_by_the_worker
):
    analyst = logged_in(shared_app, "qi_analyst", "qi_analyst")
    before = _body(analyst.get(METRICS))
    write_a_stroke(local_app)
    after = _body(analyst.get(METRICS))  # waits for the worker's build of the new data version
    assert after == _locally(local_app, METRICS, "qi_analyst")
    assert after != before
    # The pages show the last figures while they are rebuilt, then the new ones.
    assert _fresh(lambda: _body(analyst.get(DASHBOARD))) == _fresh(
        lambda: _locally(local_app, DASHBOARD, "qi_analyst")
    )
    readers = set(frames_read_only_by_the_worker)
    assert WORKER_THREAD in readers


def test_the_web_side_never_reads_frames(local_app, shared_app, worker, frames_read_only_by_the_worker):
    clinician = logged_in(shared_app, "clinician", "clinician")
    write_a_patient(local_app)
    for path in (WORKLIST, REVIEW):
        assert clinician.get(path).status_code == 200
    analyst = logged_in(shared_app, "qi_analyst", "qi_analyst")
    assert analyst.get(METRICS).status_code == 200
    assert frames_read_only_by_the_worker  # the worker read the new version
    assert set(frames_read_only_by_the_worker) == {WORKER_THREAD}


def test_a_forged_result_row_is_refused_and_built_again(shared_app, worker):
    analyst = logged_in(shared_app, "qi_analyst", "qi_analyst")
    good = _body(analyst.get(METRICS))
    engine = shared_app.extensions["sicdoc.engine"]
    with engine.begin() as conn:
        rows = conn.execute(
            select(AnalyticsResult.key, AnalyticsResult.payload).where(AnalyticsResult.method == "report")
        ).all()
        for key, payload in rows:
            # The old signature with new bytes: what someone with the database but not the key can write.
            forged = bytes(payload)[:33] + zlib.compress(pickle.dumps(_Forged()))
            conn.execute(update(AnalyticsResult).where(AnalyticsResult.key == key).values(payload=forged))
    _results(shared_app)._served.clear()
    assert _body(analyst.get(METRICS)) == good  # refused, then built again by the worker
    assert FORGED == []


def test_results_written_under_another_secret_key_are_built_again(shared_app, worker):
    """A changed secret key (or demo mode's new one at each start) makes stored rows unverifiable:
    they are built again, not loaded and not waited on for ever."""
    analyst = logged_in(shared_app, "qi_analyst", "qi_analyst")
    good = _body(analyst.get(METRICS))
    engine = shared_app.extensions["sicdoc.engine"]
    current, earlier = _results(shared_app)._seal, SharedResults(engine, "an-earlier-secret-key")._seal
    columns = (
        AnalyticsResult.key,
        AnalyticsResult.data_version,
        AnalyticsResult.call,
        AnalyticsResult.payload,
    )
    with engine.begin() as conn:
        for key, version, call, payload in conn.execute(select(*columns)).all():
            if payload is None:
                continue
            asked, built = call_context(key), result_context(key, version)
            conn.execute(
                update(AnalyticsResult)
                .where(AnalyticsResult.key == key)
                .values(
                    call=earlier.seal(asked, current.open(asked, call)),
                    payload=earlier.seal(built, current.open(built, payload)),
                )
            )
    _results(shared_app)._served.clear()
    assert _body(analyst.get(METRICS)) == good


def test_a_forged_request_row_is_deleted_unread(shared_app, worker):
    engine = shared_app.extensions["sicdoc.engine"]
    with engine.begin() as conn:
        conn.execute(
            AnalyticsResult.__table__.insert().values(
                key="f" * 64,
                method="report",
                call=b"\x01" + b"0" * 32 + zlib.compress(pickle.dumps(_Forged())),
                requested_at=now_utc(),
            )
        )
    deadline = time.monotonic() + 30
    while any(r.key == "f" * 64 for r in _stored(shared_app)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(r.key != "f" * 64 for r in _stored(shared_app))
    assert FORGED == []


def test_with_no_worker_a_request_gets_503_and_retry_after(database_url):
    app = shared_mode_app(database_url, wait_seconds=0.4)
    try:
        analyst = logged_in(app, "qi_analyst", "qi_analyst")
        started = time.monotonic()
        resp = analyst.get("/api/metrics?as_of=2025-03-31")
        assert time.monotonic() - started >= 0.4
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        assert resp.get_json()["error"] == "unavailable"
        page = analyst.get("/dashboards/?as_of=2025-02-28")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        body = page.get_data(as_text=True)
        assert "still being computed" in body
        assert 'data-retry-in="5"' in body  # forms.js asks again (tests/browser/test_retry_browser.py)
    finally:
        app.extensions["sicdoc.engine"].dispose()


def test_a_clinical_page_refused_while_figures_are_computed_says_when_to_retry(database_url, monkeypatch):
    """The forms pages answer a refusal that passes as the other faces do: 503 with Retry-After."""
    app = shared_mode_app(database_url, wait_seconds=0.2)

    def busy(*_args, **_kwargs):
        raise AnalyticsBusy()

    monkeypatch.setattr(forms_patients.charts, "recently_updated", busy)
    try:
        page = logged_in(app, "clinician", "clinician").get("/patients")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "still being computed" in page.get_data(as_text=True)
    finally:
        app.extensions["sicdoc.engine"].dispose()


def test_the_patient_page_never_waits_on_the_worker(database_url):
    """A clinician's chart is served without the worker, whether a conversation is due included:
    that is computed from the patient's own rows (at a million patients the page waited 3 s for the
    worker's whole worklist, then said it was not known yet)."""
    app = shared_mode_app(database_url, wait_seconds=60)
    try:
        patient_id = write_a_stroke(app)
        clinician = logged_in(app, "clinician", "clinician")
        started = time.monotonic()
        page = clinician.get(f"/patients/{patient_id}")
        assert time.monotonic() - started < 2.5  # the worklist wait alone was 3 s
        body = page.get_data(as_text=True)
        assert page.status_code == 200, body[:500]
        assert 'id="conversation-due"' in body and "no conversation since" in body
    finally:
        app.extensions["sicdoc.engine"].dispose()


def test_the_worklist_after_a_write_is_current_without_waiting_for_the_worker(database_url, monkeypatch):
    """A web worker puts a write's patients into the worklist the analytics worker last stored,
    computing them from their own rows: the ward team sees the new patient at once however busy the
    worker is (here, not running at all), and the page equals what local mode computes whole. After
    the next write it starts from the table it brought up to date, not from the stored one again."""
    app = shared_mode_app(database_url, wait_seconds=0.5)
    local = create_app({"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False})
    try:
        first = write_a_stroke(app)
        clinician = logged_in(app, "clinician", "clinician")
        builder = AnalyticsWorker(app.extensions["sicdoc.analytics"], _results(app))
        while (page := clinician.get(WORKLIST)).status_code == 503:  # what the page asked for is built
            build = threading.Thread(target=builder.run_once, name=WORKER_THREAD)
            build.start()
            build.join(60)
        assert first in _body(page)
        second = write_a_stroke(app)
        page = _body(clinician.get(WORKLIST))  # 503 after half a second, when it waited for the worker
        assert first in page and second in page
        assert page == _locally(local, WORKLIST, "clinician")
        stored = {r.method: r.data_version for r in _stored(app)}
        assert stored["worklist"] != app.extensions["sicdoc.analytics"].version()  # not built by a worker
        loads: list[str] = []
        load = SharedResults._load
        monkeypatch.setattr(
            SharedResults, "_load", lambda self, row, built: loads.append(row.key) or load(self, row, built)
        )
        third = write_a_stroke(app)
        page = _body(clinician.get(WORKLIST))
        assert first in page and second in page and third in page
        assert page == _locally(local, WORKLIST, "clinician")
        assert loads == []  # the stored table was not read and unpickled again
        _results(app).max_age = 0  # what this process made is never older than a build may be
        fourth = write_a_stroke(app)
        page = _body(clinician.get(WORKLIST))
        assert fourth in page and page == _locally(local, WORKLIST, "clinician")
        assert len(loads) == 1
    finally:
        app.extensions["sicdoc.engine"].dispose()
        local.extensions["sicdoc.engine"].dispose()


def test_the_worklist_after_a_write_starts_from_this_process_table_though_a_build_landed_since(
    database_url, monkeypatch
):
    """The analytics worker stores a build after each write; a web worker that brought the worklist
    up to date itself goes on from its own table rather than reading that build (tens of megabytes
    at a hospital's size, at every view after a write). When too much has been written since its
    own, it starts from the stored build instead, and the page is still exact."""
    app = shared_mode_app(database_url, wait_seconds=0.5)
    local = create_app({"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False})
    service = app.extensions["sicdoc.analytics"]
    builder = AnalyticsWorker(service, _results(app))

    def build() -> None:
        thread = threading.Thread(target=builder.run_once, name=WORKER_THREAD)
        thread.start()
        thread.join(60)

    try:
        written = [write_a_stroke(app)]
        clinician = logged_in(app, "clinician", "clinician")
        while clinician.get(WORKLIST).status_code == 503:
            build()
        written.append(write_a_stroke(app))
        _body(clinician.get(WORKLIST))  # brought up to date here from the stored build
        build()  # and the worker stores one of that write since
        assert {r.method: r.data_version for r in _stored(app)}["worklist"] == service.version()
        loads: list[str] = []
        load = SharedResults._load
        monkeypatch.setattr(
            SharedResults, "_load", lambda self, row, built: loads.append(row.key) or load(self, row, built)
        )
        written.append(write_a_stroke(app))
        page = _body(clinician.get(WORKLIST))
        assert all(patient in page for patient in written)
        assert page == _locally(local, WORKLIST, "clinician")
        assert loads == []

        own = service.version()  # the version of this process's table now
        updated = worklists.updated

        def too_much_since_own(engine, table, old_version, version, scope):
            return None if old_version == own else updated(engine, table, old_version, version, scope)

        monkeypatch.setattr(worklists, "updated", too_much_since_own)
        written.append(write_a_stroke(app))
        build()
        written.append(write_a_stroke(app))
        shared = _results(app)
        (own_key,) = shared._kept_from  # the worklist this process brought up to date
        let_go = let_go_at_each_read(monkeypatch, shared, unwrap(shared._served.latest(own_key).value))
        page = _body(clinician.get(WORKLIST))
        assert all(patient in page for patient in written)
        assert page == _locally(local, WORKLIST, "clinician")
        assert len(loads) == 1  # the stored build, once
        assert let_go == [True]  # and only once this process's table was let go
    finally:
        app.extensions["sicdoc.engine"].dispose()
        local.extensions["sicdoc.engine"].dispose()
