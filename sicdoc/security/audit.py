"""Appending to and searching the keyed, hash-chained audit log (``sicdoc.security.chain`` verifies it).

``hash = HMAC-SHA256(key, prev_hash || canonical JSON of the row's fields and its sorted patients)``; the
first row chains from ``GENESIS``. The key is not in the database: it comes with the session
(``session.info["audit_key"]``, set by ``sicdoc.db``), so a database administrator who edits a row cannot
compute a hash that verifies, even by re-chaining every later row. A deleted tail leaves a valid chain,
so ``checkpoint`` gives the head (seq and hash) to keep outside the database, and ``verify`` compares.

Appends are serialised (a PostgreSQL transaction-level advisory lock; SQLite's ``BEGIN IMMEDIATE``
already holds the write lock), so ``seq`` and ``prev_hash`` are never raced. Records name people,
clients, resources and patients, never note text, passwords or tokens.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Dialect, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sicdoc.errors import ConfigurationError, SicdocError
from sicdoc.fhir.dates import as_utc
from sicdoc.locking import appending
from sicdoc.models.audit import AuditEvent, AuditEventPatient
from sicdoc.store.rows import driver_errors, insert_tables, one_round_trip

GENESIS = "0" * 64
_LOCK_KEY = 0x51CD0C  # the advisory lock that serialises audit appends on PostgreSQL
FIELDS = (
    "seq",
    "recorded",
    "actor_id",
    "actor_role",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "source_address",
    "request_id",
    "detail",
)
EVENT_TABLE = AuditEvent.__table__
PATIENT_TABLE = AuditEventPatient.__table__


@dataclass(frozen=True)
class Actor:
    """Who acts: a person (user id and role), an integration client, or the command line."""

    id: str
    role: str
    source_address: str | None = None
    request_id: str | None = None


SYSTEM = Actor(id="sicdoc-cli", role="system")


class AuditUnavailable(SicdocError):
    """The audit record could not be written, so the request must fail and return no patient data."""

    status = 503

    def __init__(self) -> None:
        super().__init__("The audit log is unavailable; nothing was returned or changed", code="transient")


class AuditKeyMissing(ConfigurationError):
    """A session without the audit key: records cannot be chained or verified (a wiring error)."""

    def __init__(self) -> None:
        super().__init__(
            "this session has no audit key: make sessions with the app's sessionmaker "
            "(sicdoc.db sets info={'audit_key': ...} from SICDOC_AUDIT_KEY)"
        )


def patient_of(resource: dict[str, Any] | None) -> str | None:
    """The patient a resource is about: its own id for a Patient, else its subject/patient reference."""
    if not resource:
        return None
    if resource.get("resourceType") == "Patient":
        return resource.get("id")
    for key in ("subject", "patient", "beneficiary"):
        ref = resource.get(key)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            rtype, _, rid = ref["reference"].rpartition("/")
            if rtype.endswith("Patient") and rid:
                return rid
    return None


def chain_key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not isinstance(key, bytes) or len(key) < 32:
        raise AuditKeyMissing()
    return key


def canonical(fields: dict[str, Any], patients: list[str] | None = None) -> str:
    """The text a record's hash covers; ``patients=None`` for records from before the key (no patient rows)."""
    values: dict[str, Any] = {k: fields.get(k) for k in FIELDS}
    values["recorded"] = as_utc(values["recorded"]).isoformat(timespec="microseconds")
    if patients is not None:
        values["patients"] = sorted(patients)
    # orjson writes the same text as json.dumps(sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False) for these fields (text, integers, null), several times faster.
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def chain_hash(key: bytes, prev_hash: str, fields: dict[str, Any], patients: Iterable[str]) -> str:
    message = (prev_hash + canonical(fields, list(patients))).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def unkeyed_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """How records were hashed before the key existed (they stay verifiable, and the first keyed one seals them)."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def _patients(patient_id: str | None, patients: Iterable[str]) -> list[str]:
    """``{patient_id} ∪ patients`` without empties or repeats, in order of first mention."""
    if isinstance(patients, str):
        raise TypeError("patients must be an iterable of patient ids, not one string")
    return list(dict.fromkeys(p for p in (patient_id, *patients) if p))


def append(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    patient_id: str | None = None,
    patients: Iterable[str] = (),
    detail: str | None = None,
) -> AuditEvent:
    """Add one record inside the caller's transaction (the caller commits, together with its change).

    The record names every patient in ``{patient_id} ∪ patients``; ``patient_id`` keeps the first.
    Raises AuditUnavailable if the record cannot be written; the caller's transaction must then roll back.
    """
    record = {
        "action": action,
        "outcome": outcome,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "patient_id": patient_id,
        "patients": patients,
        "detail": detail,
    }
    try:
        [(fields, names)] = _chain(session, actor, [record])
        event = AuditEvent(**fields)
        session.add(event)
        session.flush()
        if names:
            session.execute(insert(PATIENT_TABLE), [{"seq": fields["seq"], "patient_id": p} for p in names])
        return event
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc


def append_many(session: Session, actor: Actor, records: list[dict[str, Any]]) -> None:
    """Add several records at once: dicts of action, outcome, resource_type, resource_id, patient_id,
    patients (an iterable of patient ids) and detail.

    One lock and one look-up of the chain's head, then one insert per table: a bundle of hundreds of
    writes leaves hundreds of records without hundreds of round trips.
    """
    if not records:
        return
    try:
        chained = _chain(session, actor, records)
        # Through the driver (COPY on PostgreSQL): a bulk-load batch leaves thousands of records.
        patients = [{"seq": f["seq"], "patient_id": p} for f, names in chained for p in names]
        insert_tables(session, [(EVENT_TABLE, [fields for fields, _ in chained]), (PATIENT_TABLE, patients)])
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc


def _chain(
    session: Session, actor: Actor, records: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], list[str]]]:
    """Lock the chain, read its head and return each record's row (hashes included) and its patients."""
    key = chain_key(session)
    seq, prev = _locked_head(session) or (0, GENESIS)
    # Microseconds survive on both databases, so the hash can be recomputed from what is read back.
    now = datetime.now(UTC)
    out = []
    for record in records:
        seq += 1
        names = _patients(record.get("patient_id"), record.get("patients") or ())
        detail = record.get("detail")
        fields: dict[str, Any] = {
            "seq": seq,
            "recorded": now,
            "actor_id": actor.id[:120],
            "actor_role": actor.role,
            "action": record["action"],
            "resource_type": record.get("resource_type"),
            "resource_id": record.get("resource_id"),
            "patient_id": names[0] if names else None,
            "outcome": record.get("outcome", "success"),
            "source_address": actor.source_address,
            "request_id": actor.request_id,
            "detail": detail[:500] if detail else None,
        }
        digest = chain_hash(key, prev, fields, names)
        out.append(({**fields, "prev_hash": prev, "hash": digest}, names))
        prev = digest
    return out


_HEAD = select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
_LOCK = "SELECT pg_advisory_xact_lock(%s)"


def _locked_head(session: Session) -> tuple[int, str] | None:
    """The chain's last (seq, hash), read once the chain is locked; None while it is empty.

    On PostgreSQL the lock and the read go to the server in one round trip (a pipeline), still as two
    statements: at READ COMMITTED the read takes its snapshot when it starts, after the lock is
    granted, so it sees the record of whoever held the lock before. On SQLite the writer's
    ``BEGIN IMMEDIATE`` has serialised appends already.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        last = connection.execute(_HEAD).first()
        return None if last is None else (last.seq, last.hash)
    driver = connection.connection.driver_connection
    assert driver is not None
    head = _head_text(connection.dialect)
    with driver_errors(connection.dialect, head), one_round_trip(driver):
        driver.execute(_LOCK, (_LOCK_KEY,))
        found = driver.execute(head)
    row = found.fetchone()
    return None if row is None else (row[0], row[1])


@cache
def _head_text(dialect: Dialect) -> str:
    return str(_HEAD.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def record(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str,
    **fields: Any,
) -> None:
    """Write one record in its own transaction (reads, refusals, logins); raise AuditUnavailable on failure.

    Takes the keyword fields of ``append`` (resource_type, resource_id, patient_id, patients, detail).
    """
    try:
        with appending(session):
            append(session, actor, action, outcome, **fields)
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable() from exc


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def search(
    session: Session,
    person: str | None = None,
    patient: str | None = None,
    day: date | None = None,
    action: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The newest records matching every given filter (a person or client id, a patient, a UTC day, an action).

    A patient matches every record that names them, alone or among many.
    """
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if person:
        query = query.where(AuditEvent.actor_id == person)
    if patient:
        named = select(AuditEventPatient.seq).where(AuditEventPatient.patient_id == patient)
        query = query.where(AuditEvent.seq.in_(named))
    if action:
        query = query.where(AuditEvent.action == action)
    if day:
        start = datetime.combine(day, time.min, UTC)
        query = query.where(AuditEvent.recorded >= start, AuditEvent.recorded < start + timedelta(days=1))
    return list(session.scalars(query).all())
