"""How many transactions a FHIR read costs: on PostgreSQL one, in which the token is checked, the data
read and its audit record appended and committed before the response leaves; on SQLite the record
needs a transaction of its own that takes the write lock at BEGIN."""

import psycopg
import pytest
from sqlalchemy import event, select

from sicdoc import db
from sicdoc.db import session_scope
from sicdoc.locking import WRITE_OPTION
from sicdoc.models import AuditEvent
from tests.sql_statements import round_trips
from tests.web.fhir_helpers import patient, send, stroke


def test_a_fhir_read_is_one_transaction_on_postgresql_and_two_on_sqlite(app, fhir_client, database_url):
    created = send(fhir_client, "POST", "/fhir/Patient", patient("MRN-TX-1"))
    pid = created.get_json()["id"]
    assert send(fhir_client, "POST", "/fhir/Condition", stroke(pid)).status_code == 201
    fhir_client.get(f"/fhir/Condition?patient={pid}")  # the pool and the caches are warm
    engine = app.extensions["sicdoc.engine"]
    begins: list[bool] = []
    checkouts: list[object] = []

    def on_begin(conn):
        begins.append(bool(conn.get_execution_options().get(WRITE_OPTION, False)))

    def on_checkout(*_args):
        checkouts.append(1)

    event.listen(engine, "begin", on_begin)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        resp = fhir_client.get(f"/fhir/Condition?patient={pid}")
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine.pool, "checkout", on_checkout)
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
    # PostgreSQL: one read transaction carries the record; SQLite: a read, then BEGIN IMMEDIATE.
    expected = [False] if database_url.startswith("postgresql") else [False, True]
    assert begins == expected and len(checkouts) == len(expected)
    with session_scope(app) as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert last.request_id == resp.headers["X-Request-ID"] and last.patient_id == pid


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_fhir_read_goes_to_postgresql_in_eight_round_trips(app, fhir_client, monkeypatch):
    """BEGIN, the token, the search's planner settings, the index rows, the resources, the audit chain's
    lock with its head (one pipeline), the record's two inserts (one pipeline) and COMMIT: no ping for
    a connection used a moment ago."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60.0)  # "a moment ago" however slow the machine
    created = send(fhir_client, "POST", "/fhir/Patient", patient("MRN-TX-2"))
    pid = created.get_json()["id"]
    assert send(fhir_client, "POST", "/fhir/Condition", stroke(pid)).status_code == 201
    fhir_client.get(f"/fhir/Condition?patient={pid}")
    with round_trips(app.extensions["sicdoc.engine"]) as trips:
        resp = fhir_client.get(f"/fhir/Condition?patient={pid}")
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
    assert len(trips) == 8, trips
    assert ['Query ";"'] not in trips  # the pool's ping
    [chain] = [trip for trip in trips if any("pg_advisory_xact_lock" in m for m in trip)]
    assert any("audit_event.seq" in message for message in chain)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_without_pipelines_in_libpq_a_read_is_recorded_one_statement_at_a_time(app, fhir_client, monkeypatch):
    """An older libpq (before 14) has no pipeline mode: the record's statements then go one by one."""
    monkeypatch.setattr(db, "PING_AFTER_IDLE", 60.0)
    pid = send(fhir_client, "POST", "/fhir/Patient", patient("MRN-TX-3")).get_json()["id"]
    assert send(fhir_client, "POST", "/fhir/Condition", stroke(pid)).status_code == 201
    fhir_client.get(f"/fhir/Condition?patient={pid}")
    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    with round_trips(app.extensions["sicdoc.engine"]) as trips:
        resp = fhir_client.get(f"/fhir/Condition?patient={pid}")
    assert resp.status_code == 200 and resp.get_json()["total"] == 1
    assert len(trips) == 10, trips  # the lock, the head and each insert apart
    with session_scope(app) as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert last.request_id == resp.headers["X-Request-ID"] and last.patient_id == pid
