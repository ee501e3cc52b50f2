"""The audit log is append-only in the database itself and hash-chained, so tampering is found."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from sicdoc.db import make_engine
from sicdoc.models import AuditEvent
from sicdoc.security import audit
from sicdoc.security.audit import Actor
from tests.conftest import audit_triggers_off

ALICE = Actor("alice", "clinician", "10.0.0.7", "req-1")


def _append_three(session):
    with session.begin():
        for i in range(3):
            audit.append(
                session,
                ALICE,
                "read",
                "success",
                resource_type="Patient",
                resource_id=f"p{i}",
                patient_id=f"p{i}",
            )


def test_records_chain_and_verify(session):
    _append_three(session)
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert audit.verify(session) is None


def test_update_delete_and_truncate_are_refused_by_the_database(database_url, session):
    _append_three(session)
    statements = ["UPDATE audit_event SET outcome = 'x'", "DELETE FROM audit_event WHERE seq = 2"]
    if database_url.startswith("postgresql"):
        statements.append("TRUNCATE audit_event")
    engine = make_engine(database_url)
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_event WHERE outcome = 'success'")) == 3
    engine.dispose()
    assert audit.verify(session) is None


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        ("UPDATE audit_event SET patient_id = 'someone-else' WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 2", 2),
        ("UPDATE audit_event SET hash = 'f' WHERE seq = 3", 3),
    ],
)
def test_tampering_with_triggers_lifted_is_found(database_url, session, tamper, broken):
    _append_three(session)
    engine = make_engine(database_url)
    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(text(tamper))
    engine.dispose()
    assert audit.verify(session) == broken


def test_concurrent_appends_keep_one_unbroken_chain(app):
    from concurrent.futures import ThreadPoolExecutor

    maker = app.extensions["sicdoc.sessionmaker"]

    def append(i):
        with maker() as s:
            audit.record(s, Actor(f"worker-{i}", "client"), "read", "success")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(40)))
    with maker() as s:
        assert audit.count(s) == 40
        assert audit.verify(s) is None
