"""Appending to and verifying the hash-chained audit log.

``hash = SHA-256(prev_hash || canonical JSON of the row's fields)``; the first row chains from
``GENESIS``. Appends are serialised (a PostgreSQL transaction-level advisory lock; SQLite's
``BEGIN IMMEDIATE`` already holds the write lock), so ``seq`` and ``prev_hash`` are never raced.
Records name people, clients and resources, never note text, passwords or tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sicdoc.errors import SicdocError
from sicdoc.models import AuditEvent

GENESIS = "0" * 64
_LOCK_KEY = 0x51CD0C  # the advisory lock that serialises audit appends on PostgreSQL
_FIELDS = (
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


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def canonical(fields: dict[str, Any]) -> str:
    values = {k: fields.get(k) for k in _FIELDS}
    values["recorded"] = _utc(values["recorded"]).isoformat(timespec="microseconds")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()


def append(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    patient_id: str | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one record inside the caller's transaction (the caller commits, together with its change).

    Raises AuditUnavailable if the record cannot be written; the caller's transaction must then roll back.
    """
    try:
        return _append(session, actor, action, outcome, resource_type, resource_id, patient_id, detail)
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc


def append_many(session: Session, actor: Actor, records: list[dict[str, Any]]) -> None:
    """Add several records (action, outcome, resource_type, resource_id, patient_id, detail) at once.

    One lock and one look-up of the chain's head, then one insert: a bundle of hundreds of writes
    leaves hundreds of records without hundreds of round trips.
    """
    if not records:
        return
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        last = session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        ).first()
        seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
        now = datetime.now(UTC)
        rows = []
        for record in records:
            seq += 1
            fields: dict[str, Any] = {
                "seq": seq,
                "recorded": now,
                "actor_id": actor.id[:120],
                "actor_role": actor.role,
                "action": record["action"],
                "resource_type": record.get("resource_type"),
                "resource_id": record.get("resource_id"),
                "patient_id": record.get("patient_id"),
                "outcome": record.get("outcome", "success"),
                "source_address": actor.source_address,
                "request_id": actor.request_id,
                "detail": (record.get("detail") or "")[:500] or None,
            }
            digest = chain_hash(prev, fields)
            rows.append({**fields, "prev_hash": prev, "hash": digest})
            prev = digest
        session.execute(insert(AuditEvent.__table__), rows)
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc


def _append(
    session: Session,
    actor: Actor,
    action: str,
    outcome: str,
    resource_type: str | None,
    resource_id: str | None,
    patient_id: str | None,
    detail: str | None,
) -> AuditEvent:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    fields: dict[str, Any] = {
        "seq": (last.seq + 1) if last else 1,
        # Microseconds survive on both databases, so the hash can be recomputed from what is read back.
        "recorded": datetime.now(UTC),
        "actor_id": actor.id[:120],
        "actor_role": actor.role,
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "patient_id": patient_id,
        "outcome": outcome,
        "source_address": actor.source_address,
        "request_id": actor.request_id,
        "detail": detail[:500] if detail else None,
    }
    prev = last.hash if last else GENESIS
    event = AuditEvent(**fields, prev_hash=prev, hash=chain_hash(prev, fields))
    session.add(event)
    session.flush()
    return event


def record(session: Session, actor: Actor, action: str, outcome: str, **fields: Any) -> None:
    """Write one record in its own transaction (reads, refusals, logins); raise AuditUnavailable on failure."""
    try:
        if session.in_transaction():
            session.rollback()
        with session.begin():
            append(session, actor, action, outcome, **fields)
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable() from exc


def _rows(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify(session: Session) -> int | None:
    """Walk the chain; return the seq of the first record that does not match, or None if all do."""
    prev, expected_seq = GENESIS, 1
    for row in _rows(session):
        fields = {k: getattr(row, k) for k in _FIELDS}
        if row.seq != expected_seq or row.prev_hash != prev or row.hash != chain_hash(prev, fields):
            return row.seq if row.seq == expected_seq else expected_seq
        prev, expected_seq = row.hash, row.seq + 1
    return None


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
    """The newest records matching every given filter (a person or client id, a patient, a UTC day, an action)."""
    query = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if person:
        query = query.where(AuditEvent.actor_id == person)
    if patient:
        query = query.where(AuditEvent.patient_id == patient)
    if action:
        query = query.where(AuditEvent.action == action)
    if day:
        start = datetime.combine(day, time.min, UTC)
        query = query.where(AuditEvent.recorded >= start, AuditEvent.recorded < start + timedelta(days=1))
    return list(session.scalars(query).all())
