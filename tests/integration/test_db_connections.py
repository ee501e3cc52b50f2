"""PostgreSQL connections from the pool: pinged only after lying idle, and a dead one replaced.

A connection that served a request a moment ago is used without a ping (a round trip saved on every
request of a busy server); one idle longer than ``PING_AFTER_IDLE`` is pinged first, and replaced
before the request sees it when its server process has gone.
"""

import pytest
from sqlalchemy import create_engine, text

from sicdoc import db
from tests.sql_statements import round_trips
from tests.web.fhir_helpers import patient, send

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

PING = 'Query ";"'  # the empty statement SQLAlchemy pings psycopg connections with


def _end_server_processes(database_url: str) -> int:
    """End every server process of the database but this one's (what a server restart does to them)."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        admin.dispose()
    return int(ended or 0)


def _pinged(trips: list[list[str]]) -> bool:
    return [PING] in trips


def _search(app, client):  # type: ignore[no-untyped-def]
    with round_trips(app.extensions["sicdoc.engine"]) as trips:
        resp = client.get("/fhir/Patient?identifier=MRN-POOL-1")
    return resp, trips


def test_a_connection_used_a_moment_ago_is_not_pinged_and_an_idle_one_is(app, fhir_client, monkeypatch):
    assert send(fhir_client, "POST", "/fhir/Patient", patient("MRN-POOL-1")).status_code == 201
    dialect = app.extensions["sicdoc.engine"].dialect
    pings: list[object] = []
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda conn: pings.append(conn) or real_ping(conn))
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60.0)  # "a moment ago" however slow the machine
    resp, trips = _search(app, fhir_client)
    assert resp.status_code == 200 and pings == [] and not _pinged(trips)
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    resp, trips = _search(app, fhir_client)
    assert resp.status_code == 200 and len(pings) == 1 and _pinged(trips)


def test_an_idle_connection_whose_server_process_ended_is_replaced_before_the_request(
    app, fhir_client, database_url, monkeypatch
):
    assert send(fhir_client, "POST", "/fhir/Patient", patient("MRN-POOL-1")).status_code == 201
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
    assert _end_server_processes(database_url) >= 1
    resp, trips = _search(app, fhir_client)
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
    assert _pinged(trips)


def test_a_connection_that_died_within_the_idle_time_fails_one_request_then_the_pool_is_renewed(
    app, fhir_client, database_url, monkeypatch
):
    assert send(fhir_client, "POST", "/fhir/Patient", patient("MRN-POOL-1")).status_code == 201
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 3600.0)
    assert _end_server_processes(database_url) >= 1
    failed = fhir_client.get("/fhir/Patient?identifier=MRN-POOL-1")
    assert failed.status_code == 503
    assert failed.get_json()["resourceType"] == "OperationOutcome"
    resp, _ = _search(app, fhir_client)
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
