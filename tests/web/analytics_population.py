"""A small generated population loaded through the ingest service into its own database per backend,
and what tests do to it: write more, run the CLI on it, serve it in shared analytics mode.

Loading costs seconds, so it happens once per module and backend, in a database of its own that the
per-test emptying of the shared databases cannot touch.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from sicdoc.cli import main
from sicdoc.dashboards.shared import SharedResults
from sicdoc.errors import Conflict
from sicdoc.migrate import upgrade
from sicdoc.sample.writer import generate, read_output
from sicdoc.services import accounts
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from tests.conftest import BACKENDS, PASSWORD, PG_ADMIN_URL, login, scratch_postgresql

PATIENTS = 80
SEED = 7
AS_OF = "2026-06-30"  # the generator's default cut-off
DASHBOARD = f"/dashboards/?as_of={AS_OF}&from=2024-01-01"


@contextmanager
def scratch_url(backend: str, folder: Path, admin_url: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'analytics.sqlite3'}"
        return
    with scratch_postgresql("sicdoc_analytics", admin_url) as url:
        yield url


def logged_in(app, username: str, role: str):  # type: ignore[no-untyped-def]
    """A test client logged in as ``username`` (created with ``role`` unless the shared app has it)."""
    with app.extensions["sicdoc.sessionmaker"]() as session, contextlib.suppress(Conflict):
        accounts.create_user(session, username, PASSWORD, role)
    http = app.test_client()
    assert login(http, username).status_code == 302
    return http


def load_population(app, folder: Path, patients: int = PATIENTS, seed: int = SEED) -> None:  # type: ignore[no-untyped-def]
    from sicdoc.db import session_scope

    out = folder / "bundles"
    generate(patients, seed, out, "ndjson")
    store = app.extensions["sicdoc.store"]
    with session_scope(app) as session:
        for bundle in read_output(out):
            process_transaction(system_unit(session, store), bundle)


@contextmanager
def projection_app(folder: Path, patients: int) -> Iterator:
    """An app on SQLite whose projection tables hold ``patients`` generated people, written straight
    from the generator's plans (bench/population.py): what the dashboards read, at a hospital's
    size, in seconds. Nothing else of the store is there, so it serves analytics tests only."""
    from bench.population import insert_population
    from sicdoc.app import create_app

    url = f"sqlite:///{folder / 'projections.sqlite3'}"
    upgrade(url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "1000/minute"}
    )
    insert_population(app.extensions["sicdoc.engine"], patients)
    try:
        yield app
    finally:
        app.extensions["sicdoc.engine"].dispose()


@contextmanager
def population_app(backend: str, folder: Path, admin_url: str, patients: int = PATIENTS) -> Iterator:
    from sicdoc.app import create_app

    with scratch_url(backend, folder, admin_url) as url:
        upgrade(url)
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "WTF_CSRF_ENABLED": False,
                "LOGIN_RATE_LIMIT": "1000/minute",
            }
        )
        load_population(app, folder, patients)
        try:
            yield app
        finally:
            app.extensions["sicdoc.engine"].dispose()


@pytest.fixture(scope="module", params=BACKENDS, name="app")
def population_per_backend(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A module's ``app``: the generated population in a database of its own, once per backend."""
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        yield app


def shared_mode_app(database_url: str, wait_seconds: float = 30):  # type: ignore[no-untyped-def]
    """An app in shared analytics mode on ``database_url``: its web side serves what a worker built."""
    from sicdoc.app import create_app

    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "1000/minute",
            "ANALYTICS_MODE": "shared",
            "ANALYTICS_WAIT_SECONDS": wait_seconds,
        }
    )


def post_resources(app, *resources) -> None:  # type: ignore[no-untyped-def]
    """Create resources through the transaction service, as an EHR feed would."""
    from sicdoc.db import session_scope

    entries = [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources]
    with session_scope(app) as session:
        process_transaction(
            system_unit(session, app.extensions["sicdoc.store"]),
            {"resourceType": "Bundle", "type": "transaction", "entry": entries},
        )


def write_a_patient(app) -> None:  # type: ignore[no-untyped-def]
    # A new identifier each time: an identical bundle would be recognised as a repeat and store nothing.
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:example:test", "value": str(uuid.uuid4())}],
        "gender": "female",
        "birthDate": "1940-01-01",
    }
    post_resources(app, patient)


def run_cli(app, *args):  # type: ignore[no-untyped-def]
    """``sicdoc ARGS`` on ``app``'s database, as an operator would run it."""
    overrides = {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True}
    return CliRunner().invoke(main, list(args), obj={"overrides": overrides})


def let_go_at_each_read(monkeypatch: pytest.MonkeyPatch, shared: SharedResults, value: object) -> list[bool]:
    """Whether ``value`` had been let go (collected) each time ``shared`` then opens a stored build:
    two of a large result at once would set a web worker's peak memory. ``value`` must be held by
    nothing else once the caller drops its references."""
    held = weakref.ref(value)
    del value
    let_go: list[bool] = []
    real_open = shared._seal.open

    def open_once_let_go(context, payload):  # type: ignore[no-untyped-def]
        gc.collect()
        let_go.append(held() is None)
        return real_open(context, payload)

    monkeypatch.setattr(shared._seal, "open", open_once_let_go)
    return let_go
