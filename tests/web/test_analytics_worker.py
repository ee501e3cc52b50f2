"""The analytics worker of shared mode: what it builds first, when it refreshes, the lease that lets
one worker build, and a real ``sicdoc serve`` that starts its own worker with the server's settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from sicdoc.app import create_app
from sicdoc.dashboards import worker as worker_module
from sicdoc.dashboards.calls import Call, now_utc
from sicdoc.dashboards.shared import SharedResults
from sicdoc.dashboards.worker import AnalyticsWorker
from sicdoc.db import make_engine
from sicdoc.migrate import upgrade
from sicdoc.models import AnalyticsLease, AnalyticsResult
from sicdoc.services import accounts
from tests.conftest import PASSWORD
from tests.live_server import live_server
from tests.web.analytics_population import DASHBOARD, shared_mode_app

SERVE_KEY = "shared-mode-serve-test-key-" + "k" * 16
# A web process in shared mode that logs in and asks for a dashboard the worker has stored.
SERVE_STORED = """
import sys
from sicdoc.app import create_app
url, path, password = sys.argv[1:]
app = create_app({"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False,
                  "ANALYTICS_MODE": "shared", "ANALYTICS_WAIT_SECONDS": 5})
http = app.test_client()
http.post("/login", data={"username": "analyst", "password": password})
page = http.get(path)
print(page.status_code, "panel-" if 'id="panel-' in page.get_data(as_text=True) else "no-panels",
      "plotly-loaded" if "plotly" in sys.modules else "plotly-not-loaded")
"""


class _Recorder:
    """A builder that notes what it built at which data version."""

    def __init__(self):
        self.current = "v1"
        self.built: list[tuple[str, str]] = []
        self.after_build = lambda: None

    def version(self) -> str:
        return self.current

    def compute(self, call, version):
        self.built.append((call.method, version))
        self.after_build()
        return call.method


def test_the_worker_builds_what_someone_waits_for_first_and_follows_a_new_version(database_url, monkeypatch):
    """After a write, a clinician's worklist is built before the dashboards still to refresh; those
    wait until writes pause (a dashboard build cannot be interrupted, and the next worklist would
    wait behind it); a request after another write is built for the newest data."""
    engine = make_engine(database_url)
    try:
        shared, builder = SharedResults(engine, "test-only-secret-key"), _Recorder()
        worker = AnalyticsWorker(builder, shared, poll_seconds=0.05)
        for n in range(4):
            shared.request(Call("dashboard", (n,), (n,)))
        assert worker.run_once() == 4
        builder.current, builder.built = "v2", []  # a write
        shared.request(Call("worklist", ("scope",), ("scope",)))

        def another_write() -> None:
            if len(builder.built) == 1:
                builder.current = "v3"

        builder.after_build = another_write
        worker.run_once()
        assert builder.built == [("worklist", "v2")]  # the dashboards wait: v3 was just written
        shared.request(Call("worklist", ("scope",), ("scope",)))  # the ward team looks again
        worker.run_once()
        assert builder.built[1:] == [("worklist", "v3")]
        monkeypatch.setattr(worker_module, "QUIET_SECONDS", 0.0)  # the feed has gone quiet
        worker.run_once()
        assert sorted(builder.built[2:]) == [("dashboard", "v3")] * 4
    finally:
        engine.dispose()


def test_a_busy_feed_still_has_its_figures_refreshed(database_url, monkeypatch):
    """Writes that never pause do not leave a dashboard nobody asks for behind for ever."""
    engine = make_engine(database_url)
    try:
        shared, builder = SharedResults(engine, "test-only-secret-key"), _Recorder()
        worker = AnalyticsWorker(builder, shared, poll_seconds=0.05)
        shared.request(Call("dashboard", (1,), (1,)))
        assert worker.run_once() == 1
        builder.current, builder.built = "v2", []  # a write
        assert worker.run_once() == 0
        monkeypatch.setattr(worker_module, "REFRESH_EVERY_SECONDS", 0.0)  # the figures are old now
        assert worker.run_once() == 1 and builder.built == [("dashboard", "v2")]
    finally:
        engine.dispose()


def test_the_lease_lets_one_worker_build(database_url):
    app = shared_mode_app(database_url)
    try:
        service = app.extensions["sicdoc.analytics"]
        first = AnalyticsWorker(service, SharedResults(service.engine, "test-only-secret-key"), holder="one")
        second = AnalyticsWorker(service, SharedResults(service.engine, "test-only-secret-key"), holder="two")
        with service.engine.begin() as conn:
            conn.execute(AnalyticsLease.__table__.delete())
        assert first.lease.acquire("one") and first.lease.acquire("one")  # taken, then renewed
        assert not second.lease.acquire("two")
        assert second.run_once() == 0  # builds nothing while the other holds the lease
        first.lease.release("one")
        assert second.lease.acquire("two") and not first.lease.acquire("one")
        with service.engine.begin() as conn:  # the holder stopped renewing: its lease lapses
            conn.execute(update(AnalyticsLease).values(expires_at=now_utc().replace(year=2000)))
        assert first.lease.acquire("one")
        first.lease.release("one")
    finally:
        app.extensions["sicdoc.engine"].dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sicdoc_serve_in_shared_mode_builds_with_its_own_worker(backend, tmp_path: Path):
    from bench.population import insert_population

    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    insert_population(app.extensions["sicdoc.engine"], 300)
    with app.extensions["sicdoc.sessionmaker"]() as session:
        accounts.create_user(session, "analyst", PASSWORD, "qi_analyst")
    # The page waits for the server's own worker to build; a busy machine may take more than the
    # default 20 s to start it and read the frames.
    settings = {
        "SICDOC_ANALYTICS_MODE": "shared",
        "SICDOC_ANALYTICS_WAIT_SECONDS": "50",
        "SICDOC_SECRET_KEY": SERVE_KEY,  # given, so that another process can open what it stores
    }
    with live_server(url, settings) as base:
        http = requests.Session()
        form = http.get(f"{base}/login", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        http.post(
            f"{base}/login",
            data={"username": "analyst", "password": PASSWORD, "csrf_token": token},
            timeout=10,
        )
        page = http.get(f"{base}{DASHBOARD}", timeout=60)
        assert page.status_code == 200, page.text[:500]
        assert 'id="panel-' in page.text
    # Another web process serves the stored dashboard without loading plotly (about 80 MB a worker).
    served = subprocess.run(
        [sys.executable, "-c", SERVE_STORED, url, DASHBOARD, PASSWORD],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SICDOC_SECRET_KEY": SERVE_KEY},
    )
    assert served.stdout.split() == ["200", "panel-", "plotly-not-loaded"], served.stderr[-2000:]
    engine = app.extensions["sicdoc.engine"]
    with engine.connect() as conn:
        stored = conn.execute(select(AnalyticsResult.method, AnalyticsResult.data_version)).all()
        lease = conn.execute(select(AnalyticsLease.holder, AnalyticsLease.expires_at)).one()
    assert "dashboard" in {method for method, version in stored if version}
    assert lease.expires_at.year == 1970  # the worker was stopped with the server and let go
    engine.dispose()


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"ANALYTICS_MODE": "everywhere"}, "SICDOC_ANALYTICS_MODE must be 'local' or 'shared'"),
        ({"ANALYTICS_WAIT_SECONDS": "soon"}, "SICDOC_ANALYTICS_WAIT_SECONDS must be a number"),
        ({"ANALYTICS_WAIT_SECONDS": -1}, "SICDOC_ANALYTICS_WAIT_SECONDS"),
        ({"ANALYTICS_WAIT_SECONDS": True}, "SICDOC_ANALYTICS_WAIT_SECONDS"),
    ],
)
def test_a_bad_analytics_setting_stops_the_start(tmp_path, override, named):
    settings = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **override}
    with pytest.raises(RuntimeError, match=named):
        create_app(settings)


def test_the_worker_started_by_serve_gets_the_server_settings(tmp_path):
    from sicdoc.config import child_environment

    app = create_app(
        {"DEMO": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "ANALYTICS_MODE": "Shared"}
    )
    env = child_environment(app.config)
    # Demo mode's secret key is new at every start: the worker must sign and check with the same one.
    assert env["SICDOC_SECRET_KEY"] == f'"{app.config["SECRET_KEY"]}"'
    assert env["SICDOC_ANALYTICS_MODE"] == '"shared"' and env["SICDOC_DEMO"] == "true"
    app.extensions["sicdoc.engine"].dispose()
