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
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from sicdoc.db import make_engine
from sicdoc.migrate import upgrade
from sicdoc.models import Base

ROOT = Path(__file__).resolve().parent.parent
# Six Synthea records kept in the repository (source and licence in their README), so a clone runs alone.
SYNTHEA = ROOT / "tests" / "fixtures" / "synthea"
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
    admin.dispose()
    with scratch_postgresql(f"sicdoc_test_{os.getpid()}") as url:
        yield url


@contextmanager
def scratch_postgresql(prefix: str, admin_url: str = PG_ADMIN_URL) -> Iterator[str]:
    """The URL of a new PostgreSQL database, dropped when the block ends."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
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
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, for a test that walks the migrations back and forth."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with scratch_postgresql("sicdoc_empty") as url:
        yield url


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


# The audit log's tables, children first; their triggers refuse changes, so they are emptied apart.
AUDIT_TABLES = ("audit_event_patient", "audit_unkeyed_prefix", "audit_event")


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in AUDIT_TABLES:
                conn.execute(table.delete())
        with audit_triggers_off(conn):
            for name in AUDIT_TABLES:
                conn.execute(text(f"DELETE FROM {name}"))


@contextmanager
def audit_triggers_off(conn: Connection) -> Iterator[None]:
    """Lift the audit tables' append-only triggers (as the database owner) inside ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        for name in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
        yield
        for name in AUDIT_TABLES:
            conn.execute(text(f"ALTER TABLE {name} ENABLE TRIGGER USER"))
        return
    tables = ", ".join(f"'{name}'" for name in AUDIT_TABLES)
    ddl = conn.execute(
        text(f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ({tables})")
    ).all()
    for name, _sql in ddl:
        conn.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in ddl:
        conn.execute(text(sql))


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


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2-cffi's CHEAPEST profile (meant for tests): argon2id still, at a fraction of the cost."""
    from argon2 import PasswordHasher, profiles

    from sicdoc.security import passwords

    real = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    yield
    passwords._hasher = real


PATIENT_JSON = json.dumps(
    {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
        "name": [{"family": "Nguyen", "given": ["Lan"]}],
        "gender": "female",
        "birthDate": "1951-07-09",
    }
)
PASSWORD = "correct horse battery staple"
ROLES = ("clinician", "qi_analyst", "admin")


@pytest.fixture
def users(app):  # type: ignore[no-untyped-def]
    """One active user per role, named after the role, all with PASSWORD."""
    from sicdoc.db import session_scope
    from sicdoc.services import accounts

    with session_scope(app) as s:
        for role in ROLES:
            accounts.create_user(s, role, PASSWORD, role)
    return {role: (role, PASSWORD) for role in ROLES}


def login(client, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"username": username, "password": password})


def site_day(app, days: int = 0) -> str:  # type: ignore[no-untyped-def]
    """The ISO date ``days`` from today on the site's clock, taken when asked: a date fixed when the
    module was imported is yesterday's for a test that runs after midnight."""
    return (datetime.now(ZoneInfo(app.config["TIME_ZONE"])).date() + timedelta(days=days)).isoformat()


def client_token(app, scopes: str) -> str:  # type: ignore[no-untyped-def]
    """Register a secret-based integration client with ``scopes`` and fetch a bearer token for it."""
    from sicdoc.db import session_scope
    from sicdoc.services import accounts

    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "test feed", scopes, with_secret=True)
    resp = app.test_client().post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["access_token"]


def bearer_client(app, scopes: str):  # type: ignore[no-untyped-def]
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {client_token(app, scopes)}"
    return http


@pytest.fixture
def fhir_client(app):  # type: ignore[no-untyped-def]
    """A test client that sends a bearer token with every FHIR scope (system/*.*)."""
    return bearer_client(app, "system/*.*")


@pytest.fixture
def store(app):  # type: ignore[no-untyped-def]
    return app.extensions["sicdoc.store"]


@pytest.fixture
def uow(session, store):  # type: ignore[no-untyped-def]
    """A unit of work acting as the command line, for tests that call the services directly."""
    from sicdoc.services.unit import system_unit

    return system_unit(session, store)


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
