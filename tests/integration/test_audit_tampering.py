"""A database administrator who lifts the triggers cannot rewrite the audit log unseen by ``sicdoc audit verify``.

Each test tampers as the database owner would (triggers off, then UPDATE, DELETE or a re-computed chain)
and runs the command line, which exits 1 with one line naming what broke.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from sicdoc.cli import main
from sicdoc.db import make_engine
from sicdoc.migrate import upgrade
from sicdoc.models import AuditEvent, AuditEventPatient
from sicdoc.security import audit, chain
from sicdoc.security.audit import Actor
from tests.conftest import audit_triggers_off, scratch_postgresql

ALICE = Actor("alice", "clinician", "10.0.0.7", "req-1")
EVENT = AuditEvent.__table__
PATIENT = AuditEventPatient.__table__


def sicdoc(database_url, *args):
    runner = CliRunner()
    return runner.invoke(main, ["--database-url", database_url, *args], obj={"overrides": {"TESTING": True}})


def _append(session, count, start=0):
    """``count`` records; record i names patient p<i>, and every third names two more."""
    with session.begin():
        for i in range(start, start + count):
            extra = [f"q{i}", f"r{i}"] if i % 3 == 2 else []
            audit.append(
                session, ALICE, "read", "success", patient_id=f"p{i}", patients=extra, detail=f"#{i}"
            )


def _broken(result, expected):
    """Exit 1 with exactly one line, on stderr; ``expected`` ending in '...' matches the line's start."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    if expected.endswith("..."):
        assert line.startswith(expected[:-3]), line
    else:
        assert line == expected


def _as_dba(database_url, tamper):
    engine = make_engine(database_url)
    with engine.begin() as conn, audit_triggers_off(conn):
        tamper(conn)
    engine.dispose()


def _plain_sha256_as_before(prev, fields, _patients):
    return hashlib.sha256((prev + audit.canonical(fields)).encode()).hexdigest()


def _plain_sha256_with_patients(prev, fields, patients):
    return hashlib.sha256((prev + audit.canonical(fields, patients)).encode()).hexdigest()


def _hmac_with_a_guessed_key(prev, fields, patients):
    return hmac.new(b"g" * 32, (prev + audit.canonical(fields, patients)).encode(), "sha256").hexdigest()


def _rechain(conn, from_seq, digest):
    """Recompute prev_hash and hash of every record from ``from_seq`` on, as an attacker without the key can."""
    prev = conn.scalar(select(EVENT.c.hash).where(EVENT.c.seq == from_seq - 1)) or audit.GENESIS
    for row in conn.execute(select(EVENT).where(EVENT.c.seq >= from_seq).order_by(EVENT.c.seq)).all():
        fields = {k: getattr(row, k) for k in audit.FIELDS}
        patients = sorted(conn.scalars(select(PATIENT.c.patient_id).where(PATIENT.c.seq == row.seq)))
        new = digest(prev, fields, patients)
        conn.execute(EVENT.update().where(EVENT.c.seq == row.seq).values(prev_hash=prev, hash=new))
        prev = new


def test_an_intact_log_verifies(database_url, session):
    _append(session, 5)
    result = sicdoc(database_url, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == "audit log intact: 5 records\n"


def test_an_edited_row_is_found(database_url, session):
    _append(session, 5)

    def tamper(conn):
        conn.execute(text("UPDATE audit_event SET actor_id = 'bob' WHERE seq = 3"))

    _as_dba(database_url, tamper)
    _broken(
        sicdoc(database_url, "audit", "verify"),
        "audit log broken at seq 3: the record or its patients do not match its hash "
        "(altered, or not hashed with this audit key)",
    )


@pytest.mark.parametrize(
    "digest", [_plain_sha256_as_before, _plain_sha256_with_patients, _hmac_with_a_guessed_key]
)
def test_a_row_updated_and_the_chain_recomputed_after_it_is_found(database_url, session, digest):
    _append(session, 6)

    def tamper(conn):
        conn.execute(text("UPDATE audit_event SET actor_id = 'bob', detail = 'nothing seen' WHERE seq = 3"))
        _rechain(conn, 3, digest)

    _as_dba(database_url, tamper)
    _broken(sicdoc(database_url, "audit", "verify"), "audit log broken at seq 3: the record ...")


def test_a_row_deleted_in_the_middle_is_found(database_url, session):
    _append(session, 5)

    def tamper(conn):
        conn.execute(text("DELETE FROM audit_event_patient WHERE seq = 3"))
        conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))

    _as_dba(database_url, tamper)
    _broken(
        sicdoc(database_url, "audit", "verify"),
        "audit log broken at seq 3: record missing (seq 2 is followed by seq 4)",
    )


def test_a_row_deleted_the_rest_renumbered_and_re_chained_is_found(database_url, session):
    _append(session, 5)

    def tamper(conn):
        children = conn.execute(select(PATIENT).where(PATIENT.c.seq >= 3)).all()
        conn.execute(PATIENT.delete().where(PATIENT.c.seq >= 3))
        conn.execute(EVENT.delete().where(EVENT.c.seq == 3))
        for seq in (4, 5):
            conn.execute(EVENT.update().where(EVENT.c.seq == seq).values(seq=seq - 1))
        kept = [{"seq": c.seq - 1, "patient_id": c.patient_id} for c in children if c.seq > 3]
        conn.execute(insert(PATIENT), kept)
        _rechain(conn, 3, _plain_sha256_with_patients)

    _as_dba(database_url, tamper)
    _broken(sicdoc(database_url, "audit", "verify"), "audit log broken at seq 3: the record ...")


def test_a_deleted_tail_is_found_against_the_last_checkpoint(database_url, session, tmp_path):
    _append(session, 3)
    checkpoints = tmp_path / "audit-checkpoints.jsonl"
    assert sicdoc(database_url, "audit", "checkpoint", "--out", str(checkpoints)).exit_code == 0
    _append(session, 2, start=3)
    written = sicdoc(database_url, "audit", "checkpoint", "--out", str(checkpoints))
    assert written.exit_code == 0 and written.output == ""  # quiet under cron
    assert len(checkpoints.read_text().splitlines()) == 2
    ok = sicdoc(database_url, "audit", "verify", "--checkpoint", str(checkpoints))
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("audit log intact: 5 records; matches 2 checkpoint(s), latest at seq 5")

    def tamper(conn):
        conn.execute(text("DELETE FROM audit_event_patient WHERE seq >= 4"))
        conn.execute(text("DELETE FROM audit_event WHERE seq >= 4"))

    _as_dba(database_url, tamper)
    # What is left is a valid chain: only the checkpoint kept outside the database shows the loss.
    assert sicdoc(database_url, "audit", "verify").stdout == "audit log intact: 3 records\n"
    _broken(
        sicdoc(database_url, "audit", "verify", "--checkpoint", str(checkpoints)),
        "audit log tail missing: checkpoint at seq 5, log ends at seq 3",
    )
    # New records written over the gap do not hide it: seq 5 no longer has the checkpoint's hash.
    _append(session, 2, start=10)
    _broken(
        sicdoc(database_url, "audit", "verify", "--checkpoint", str(checkpoints)),
        "audit log broken at seq 5: the hash differs from the checkpoint written at ...",
    )


def test_checkpoint_prints_the_head_as_one_json_line(database_url, session):
    empty = sicdoc(database_url, "audit", "checkpoint")
    assert empty.exit_code == 0
    assert json.loads(empty.stdout)["seq"] == 0 and json.loads(empty.stdout)["hash"] == audit.GENESIS
    _append(session, 4)
    result = sicdoc(database_url, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    [line] = result.stdout.splitlines()
    point = json.loads(line)
    head = session.get(AuditEvent, 4)
    assert point["seq"] == 4 and point["hash"] == head.hash
    assert datetime.fromisoformat(point["recorded"]) == audit.as_utc(head.recorded)
    assert {"written_at", "unkeyed_through"} <= set(point)


def test_a_bad_checkpoint_file_is_a_one_line_error(database_url, session, tmp_path):
    _append(session, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(sicdoc(database_url, "audit", "checkpoint").stdout + "{not json\n")
    result = sicdoc(database_url, "audit", "verify", "--checkpoint", str(bad))
    assert result.exit_code == 1 and f"{bad} line 2: not a checkpoint" in result.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "holds no checkpoint" in sicdoc(database_url, "audit", "verify", "--checkpoint", str(empty)).stderr
    missing = sicdoc(database_url, "audit", "verify", "--checkpoint", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


# A database that had records before the key: migration 0005 marks them, and they still verify.


@pytest.fixture
def fresh_url(database_url, tmp_path):
    """An empty database of the same kind as ``database_url``, for migrating step by step."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
        return
    with scratch_postgresql("sicdoc_legacy") as url:
        yield url


def _legacy_records(url, count):
    """Records as sicdoc wrote them before the key: plain SHA-256, no patient rows."""
    engine = make_engine(url)
    prev = audit.GENESIS
    with engine.begin() as conn:
        for seq in range(1, count + 1):
            fields = {
                "seq": seq,
                "recorded": datetime.now(UTC),
                "actor_id": "old",
                "actor_role": "clinician",
                "action": "read",
                "resource_type": "Patient",
                "resource_id": f"old{seq}",
                "patient_id": f"old{seq}",
                "outcome": "success",
                "source_address": None,
                "request_id": None,
                "detail": None,
            }
            digest = _plain_sha256_as_before(prev, fields, None)
            conn.execute(insert(EVENT).values(**fields, prev_hash=prev, hash=digest))
            prev = digest
    engine.dispose()


def test_records_from_before_the_key_still_verify_and_are_sealed_by_the_first_keyed_one(
    fresh_url, session, tmp_path
):
    upgrade(fresh_url, "0004")
    _legacy_records(fresh_url, 3)
    upgrade(fresh_url, "0005")
    engine = make_engine(fresh_url)
    maker = sessionmaker(bind=engine, expire_on_commit=False, info=dict(session.info))
    with maker() as s:
        _append(s, 2)
        verdict = chain.verify(s)
        assert verdict.intact and verdict.head_seq == 5 and verdict.unkeyed_through == 3, verdict
        assert [r.seq for r in audit.search(s, patient="old2")] == [2]  # patients copied by the migration
        s.rollback()
        with pytest.raises(DBAPIError, match="append-only"), s.begin():
            s.execute(text("UPDATE audit_unkeyed_prefix SET through_seq = 5"))
    result = sicdoc(fresh_url, "audit", "verify")
    assert result.exit_code == 0 and result.stdout.startswith(
        "audit log intact: 5 records (seq 1-3 written before the audit key)"
    )
    checkpoints = tmp_path / "checkpoints.jsonl"
    assert sicdoc(fresh_url, "audit", "checkpoint", "--out", str(checkpoints)).exit_code == 0

    def rewrite_old(conn):
        conn.execute(text("UPDATE audit_event SET actor_id = 'bob' WHERE seq = 2"))
        _rechain(conn, 2, _plain_sha256_as_before)

    with engine.begin() as conn, audit_triggers_off(conn):
        rewrite_old(conn)
    _broken(sicdoc(fresh_url, "audit", "verify"), "audit log broken at seq 4: ...")

    def pass_keyed_records_off_as_old(conn):
        conn.execute(text("UPDATE audit_unkeyed_prefix SET through_seq = 5"))
        _rechain(conn, 2, _plain_sha256_as_before)

    with engine.begin() as conn, audit_triggers_off(conn):
        pass_keyed_records_off_as_old(conn)
    engine.dispose()
    _broken(
        sicdoc(fresh_url, "audit", "verify", "--checkpoint", str(checkpoints)),
        "audit log broken: records up to seq 5 are now marked as written before the audit key; ...",
    )
