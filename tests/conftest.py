"""Shared fixtures. Database tests run once on SQLite and once on PostgreSQL.

PostgreSQL is required: if it cannot be reached the run fails with a clear message (never a skip).
A scratch database is created for the run and dropped at the end.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from sicdoc.db import make_engine
from sicdoc.migrate import upgrade
from sicdoc.models import Base

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SYNTHEA = SHARED / "fixtures" / "synthea"
PG_ADMIN_URL = os.environ.get("SICDOC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")

_per_backend: Counter[str] = Counter()


def synthea_bundles() -> list[Path]:
    files = sorted(SYNTHEA.glob("*.json"))
    assert files, f"Synthea fixtures are missing under {SYNTHEA}"
    return files


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc.__class__.__name__}). Start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set "
            "SICDOC_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    name = f"sicdoc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'sicdoc.sqlite3'}"


@pytest.fixture(scope="session")
def migrated(request: pytest.FixtureRequest) -> dict[str, str]:
    """Backend name -> URL of a database built by the migrations (once per run)."""
    return {}


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, migrated: dict[str, str]) -> Iterator[str]:
    backend = request.param
    if backend not in migrated:
        url = request.getfixturevalue(f"{backend}_url")
        upgrade(url)
        migrated[backend] = url
    url = migrated[backend]
    engine = make_engine(url)
    _empty(engine)
    engine.dispose()
    yield url


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(database_url: str):  # type: ignore[no-untyped-def]
    from sicdoc.app import create_app

    # CSRF is switched off for the test client; tests/web/test_forms.py proves it is enforced.
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["sicdoc.engine"].dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def session(app):  # type: ignore[no-untyped-def]
    from sicdoc.db import session_scope

    with session_scope(app) as s:
        yield s


@pytest.fixture
def store(app):  # type: ignore[no-untyped-def]
    return app.extensions["sicdoc.store"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for backend in BACKENDS:
            if (
                f"[{backend}" in report.nodeid
                or f"-{backend}]" in report.nodeid
                or f"-{backend}-" in report.nodeid
            ):
                _per_backend[backend] += 1
                break
        else:
            _per_backend["no database"] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _per_backend:
        parts = ", ".join(f"{name}: {_per_backend[name]}" for name in (*BACKENDS, "no database"))
        terminalreporter.write_line(f"tests passed per database: {parts}")
