"""The audit log: append-only in the database itself, keyed and chained, naming every patient of a record."""

from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sicdoc.db import make_engine
from sicdoc.fhir.audit_event import to_audit_event
from sicdoc.fhir.dates import utc_now
from sicdoc.locking import begin_write
from sicdoc.models import AuditEvent, AuditEventPatient, ReindexMark
from sicdoc.security import audit, chain
from sicdoc.security.audit import Actor, AuditKeyMissing
from tests.conftest import audit_triggers_off
from tests.sql_statements import sent

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


def _problem(session):
    return chain.verify(session).problem


def test_records_chain_and_verify(session):
    _append_three(session)
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == audit.GENESIS
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert [r.patients for r in rows] == [["p0"], ["p1"], ["p2"]]
    verdict = chain.verify(session)
    assert verdict.intact and verdict.head_seq == 3


def test_the_hash_is_keyed_and_a_session_without_the_key_is_refused(app, session):
    _append_three(session)
    row = session.get(AuditEvent, 1)
    fields = {k: getattr(row, k) for k in audit.FIELDS}
    assert row.hash == audit.chain_hash(session.info["audit_key"], audit.GENESIS, fields, ["p0"])
    assert row.hash != audit.chain_hash(b"k" * 32, audit.GENESIS, fields, ["p0"])
    keyless = Session(bind=app.extensions["sicdoc.engine"])
    with pytest.raises(AuditKeyMissing, match="no audit key"), keyless.begin():
        audit.append(keyless, ALICE, "read", "success")
    with pytest.raises(AuditKeyMissing):
        chain.verify(keyless)
    keyless.close()
    assert audit.count(session) == 3


def test_update_delete_and_truncate_are_refused_by_the_database(database_url, session):
    _append_three(session)
    statements = [
        "UPDATE audit_event SET outcome = 'x'",
        "DELETE FROM audit_event WHERE seq = 2",
        "UPDATE audit_event_patient SET patient_id = 'someone-else'",
        "DELETE FROM audit_event_patient WHERE seq = 2",
    ]
    if database_url.startswith("postgresql"):
        statements += ["TRUNCATE audit_event CASCADE", "TRUNCATE audit_event_patient"]
    engine = make_engine(database_url)
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_event WHERE outcome = 'success'")) == 3
        assert conn.scalar(text("SELECT count(*) FROM audit_event_patient")) == 3
    engine.dispose()
    assert chain.verify(session).intact


# SQLite's REPLACE deletes the old row without firing DELETE triggers, so the insert itself must be refused;
# PostgreSQL's upsert is an UPDATE, refused by the UPDATE trigger.
OVERWRITES = {
    "sqlite": [
        "INSERT OR REPLACE INTO audit_event SELECT seq, recorded, actor_id, actor_role, action, resource_type,"
        " resource_id, 'someone-else', outcome, source_address, request_id, detail, prev_hash, hash"
        " FROM audit_event WHERE seq = 2",
        "REPLACE INTO audit_event SELECT seq, recorded, 'mallory', actor_role, action, resource_type,"
        " resource_id, patient_id, outcome, source_address, request_id, detail, prev_hash, hash"
        " FROM audit_event WHERE seq = 2",
        "INSERT OR REPLACE INTO audit_event_patient (seq, patient_id) VALUES (2, 'p1')",
    ],
    "postgresql": [
        "INSERT INTO audit_event SELECT * FROM audit_event WHERE seq = 2 "
        "ON CONFLICT (seq) DO UPDATE SET patient_id = 'someone-else'",
        "INSERT INTO audit_event_patient VALUES (2, 'p1') ON CONFLICT (seq, patient_id) DO UPDATE SET seq = 3",
    ],
}


def test_replace_over_an_existing_audit_row_is_refused(database_url, session):
    _append_three(session)
    engine = make_engine(database_url)
    for statement in OVERWRITES[engine.dialect.name]:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor_id, patient_id FROM audit_event WHERE seq = 2")).one() == (
            "alice",
            "p1",
        )
    engine.dispose()
    assert chain.verify(session).intact


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        (["UPDATE audit_event SET patient_id = 'someone-else' WHERE seq = 2"], 2),
        (["DELETE FROM audit_event_patient WHERE seq = 2", "DELETE FROM audit_event WHERE seq = 2"], 2),
        (["UPDATE audit_event SET hash = 'f' WHERE seq = 3"], 3),
        (["DELETE FROM audit_event_patient WHERE seq = 1"], 1),
        (["INSERT INTO audit_event_patient (seq, patient_id) VALUES (3, 'p9')"], 3),
        (["UPDATE audit_event_patient SET patient_id = 'p9' WHERE seq = 2"], 2),
    ],
)
def test_tampering_with_triggers_lifted_is_found(database_url, session, tamper, broken):
    _append_three(session)
    engine = make_engine(database_url)
    with engine.begin() as conn, audit_triggers_off(conn):
        for statement in tamper:
            conn.execute(text(statement))
    engine.dispose()
    assert _problem(session).startswith(f"broken at seq {broken}:")


PATIENTS = [f"pt-{i:03d}" for i in range(150)]


def test_one_record_names_150_patients_each_found_by_search(session):
    with session.begin():
        audit.append(session, ALICE, "read", "success", resource_type="Patient", detail="search page")
        event = audit.append(
            session,
            ALICE,
            "search",
            "success",
            resource_type="Observation",
            patient_id=PATIENTS[7],
            patients=[*PATIENTS, "", PATIENTS[7], None],  # empties and repeats are dropped
        )
    seq = event.seq
    assert session.scalar(select(func.count()).where(AuditEventPatient.seq == seq)) == 150
    assert session.get(AuditEvent, seq).patient_id == PATIENTS[7]  # the first named keeps the old column
    for patient in (PATIENTS[0], PATIENTS[7], PATIENTS[75], PATIENTS[149]):
        assert [r.seq for r in audit.search(session, patient=patient)] == [seq]
    assert audit.search(session, patient="pt-150") == []
    [found] = audit.search(session, patient=PATIENTS[149])
    references = [e["what"].get("reference") for e in to_audit_event(found)["entity"]]
    assert sorted(r for r in references if r and r.startswith("Patient/")) == [
        f"Patient/{p}" for p in PATIENTS
    ]
    assert chain.verify(session).intact


def test_every_index_of_the_log_serves_one_of_its_searches(app, session):
    """Every audited act writes each index of the log, so each is one a search reads: by person, by
    patient (through the rows naming every patient), by day, by action."""
    _append_three(session)
    with sent(app.extensions["sicdoc.engine"]) as statements:
        assert len(audit.search(session, person="alice")) == 3
        assert [r.resource_id for r in audit.search(session, patient="p1")] == ["p1"]
        assert len(audit.search(session, day=utc_now().date())) == 3
        assert audit.search(session, action="read", day=date(2000, 1, 1)) == []
    filtered = " ".join(statement.partition("WHERE")[2] for statement in statements)
    for table in (AuditEvent.__table__, AuditEventPatient.__table__):
        for index in table.indexes:
            leading = next(iter(index.columns)).name
            assert f"{table.name}.{leading} " in filtered, f"no search reads {index.name}"


def test_append_many_and_record_name_patients_too(session):
    with session.begin():
        audit.append_many(
            session,
            ALICE,
            [
                {"action": "create", "resource_type": "Patient", "resource_id": "a", "patient_id": "a"},
                {"action": "transaction", "patients": ["b", "c", "b"]},
                {"action": "transaction", "patients": iter(["d"]), "patient_id": "e"},
            ],
        )
    audit.record(session, ALICE, "search", "success", patients=("f", "g"))
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [(r.patient_id, r.patients) for r in rows] == [
        ("a", ["a"]),
        ("b", ["b", "c"]),
        ("e", ["d", "e"]),
        ("f", ["f", "g"]),
    ]
    assert [r.seq for r in audit.search(session, patient="d")] == [3]
    session.rollback()
    with pytest.raises(TypeError, match="not one string"), session.begin():
        audit.append(session, ALICE, "read", "success", patients="abc")
    assert chain.verify(session).intact


def test_removing_one_of_150_patient_rows_is_found(database_url, session):
    with session.begin():
        audit.append(session, ALICE, "read", "success")
        audit.append(session, ALICE, "search", "success", patients=PATIENTS)
        audit.append(session, ALICE, "read", "success", patient_id="z")
    engine = make_engine(database_url)
    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(text("DELETE FROM audit_event_patient WHERE patient_id = 'pt-042'"))
    engine.dispose()
    assert _problem(session).startswith("broken at seq 2: the record or its patients do not match its hash")


@pytest.mark.parametrize("read_first", [False, True], ids=["alone", "after-a-read"])
def test_concurrent_appends_keep_one_unbroken_chain(app, read_first):
    """Also when each record goes into the transaction its request's reads left open (PostgreSQL):
    the chain's head is read after the lock, at READ COMMITTED, so no two records take one seq."""
    from concurrent.futures import ThreadPoolExecutor

    maker = app.extensions["sicdoc.sessionmaker"]

    def append(i):
        with maker() as s:
            if read_first:
                s.scalar(select(func.max(AuditEvent.seq)))
            audit.record(s, Actor(f"worker-{i}", "client"), "read", "success", patients=[f"p{i}", "p-all"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(append, range(40)))
    with maker() as s:
        assert audit.count(s) == 40
        assert len(audit.search(s, patient="p-all")) == 40
        assert chain.verify(s).intact


def test_a_record_never_commits_a_change_left_open_before_it(app):
    """A record in its own transaction drops what a writer left uncommitted, as it always has; only
    a transaction that has read and nothing more is carried on into the record (on PostgreSQL)."""
    maker = app.extensions["sicdoc.sessionmaker"]
    with maker() as s:
        begin_write(s)
        s.add(ReindexMark(resource_type="Patient", reindexed_at=utc_now()))
        s.flush()
        audit.record(s, ALICE, "read", "success", patient_id="p1")
        s.scalar(select(func.count()).select_from(AuditEvent))
        s.add(ReindexMark(resource_type="Condition", reindexed_at=utc_now()))  # pending, not flushed
        audit.record(s, ALICE, "read", "success", patient_id="p2")
        # a read whose statement failed: PostgreSQL refuses anything more in its transaction
        with pytest.raises(DBAPIError):
            s.execute(text("SELECT * FROM no_such_table"))
        audit.record(s, ALICE, "read", "success", patient_id="p3")
    with maker() as s:
        assert s.scalar(select(func.count()).select_from(ReindexMark)) == 0
        assert [e.patient_id for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))] == [
            "p1",
            "p2",
            "p3",
        ]
        assert chain.verify(s).intact
