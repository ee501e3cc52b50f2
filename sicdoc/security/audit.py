"""Appending to, anchoring and verifying the keyed, hash-chained audit log.

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
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from sicdoc.errors import SicdocError
from sicdoc.models.audit import AuditEvent, AuditEventPatient, AuditUnkeyedPrefix

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
_EVENT = AuditEvent.__table__
_PATIENT = AuditEventPatient.__table__


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


class AuditKeyMissing(RuntimeError):
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


def _key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not isinstance(key, bytes) or len(key) < 32:
        raise AuditKeyMissing()
    return key


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def canonical(fields: dict[str, Any], patients: list[str] | None = None) -> str:
    """The text a record's hash covers; ``patients=None`` for records from before the key (no patient rows)."""
    values: dict[str, Any] = {k: fields.get(k) for k in _FIELDS}
    values["recorded"] = _utc(values["recorded"]).isoformat(timespec="microseconds")
    if patients is not None:
        values["patients"] = sorted(patients)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(key: bytes, prev_hash: str, fields: dict[str, Any], patients: Iterable[str]) -> str:
    message = (prev_hash + canonical(fields, list(patients))).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _unkeyed_hash(prev_hash: str, fields: dict[str, Any]) -> str:
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
            session.execute(insert(_PATIENT), [{"seq": fields["seq"], "patient_id": p} for p in names])
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
        session.execute(insert(_EVENT), [fields for fields, _ in chained])
        children = [{"seq": f["seq"], "patient_id": p} for f, names in chained for p in names]
        if children:
            session.execute(insert(_PATIENT), children)
    except SQLAlchemyError as exc:
        raise AuditUnavailable() from exc


def _chain(
    session: Session, actor: Actor, records: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], list[str]]]:
    """Lock the chain, read its head and return each record's row (hashes included) and its patients."""
    key = _key(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
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
        if session.in_transaction():
            session.rollback()
        with session.begin():
            append(session, actor, action, outcome, **fields)
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable() from exc


# Anchoring and verifying.


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, to be kept where the database's administrators cannot edit it."""

    seq: int
    hash: str
    recorded: str | None  # when the head record was written (ISO 8601, UTC)
    written_at: str  # when the checkpoint was taken
    unkeyed_through: int = 0  # records 1..this were written before the audit key

    def line(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """One line written by ``line``; ValueError if it is not one."""
        try:
            data = json.loads(line)
            point = cls(
                seq=data["seq"],
                hash=data["hash"],
                recorded=data.get("recorded"),
                written_at=data["written_at"],
                unkeyed_through=data.get("unkeyed_through", 0),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a checkpoint ({exc.__class__.__name__}: {exc})") from None
        valid = (
            isinstance(point.seq, int)
            and point.seq >= 0
            and isinstance(point.hash, str)
            and len(point.hash) == 64
            and isinstance(point.unkeyed_through, int)
        )
        if not valid:
            raise ValueError("not a checkpoint (seq, hash or unkeyed_through is malformed)")
        return point


def checkpoint(session: Session) -> Checkpoint:
    """The chain's head now (seq 0 and GENESIS for an empty log)."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.recorded).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return Checkpoint(
        seq=last.seq if last else 0,
        hash=last.hash if last else GENESIS,
        recorded=_utc(last.recorded).isoformat(timespec="microseconds") if last else None,
        written_at=datetime.now(UTC).isoformat(timespec="seconds"),
        unkeyed_through=_unkeyed_through(session)[0],
    )


@dataclass(frozen=True)
class Verdict:
    """What ``verify`` found: ``problem`` is one line naming the first thing broken, or None."""

    head_seq: int  # records 1..head_seq were walked
    unkeyed_through: int
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _unkeyed_through(session: Session) -> tuple[int, int]:
    """(last seq written before the key, how many markers say so: 0 or 1 unless someone added one)."""
    marks = session.scalars(select(AuditUnkeyedPrefix.through_seq)).all()
    return (max(marks) if marks else 0), len(marks)


def _rows(session: Session, batch: int = 1000) -> Iterator[tuple[Any, list[str]]]:
    """Records in seq order, each with its sorted patients."""
    after = 0
    while True:
        rows = session.execute(
            select(_EVENT).where(_EVENT.c.seq > after).order_by(_EVENT.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        patients: dict[int, list[str]] = {}
        for seq, patient in session.execute(
            select(_PATIENT.c.seq, _PATIENT.c.patient_id).where(
                _PATIENT.c.seq > after, _PATIENT.c.seq <= rows[-1].seq
            )
        ):
            patients.setdefault(seq, []).append(patient)
        for row in rows:
            yield row, sorted(patients.get(row.seq, ()))
        after = rows[-1].seq


def verify(session: Session, checkpoints: Iterable[Checkpoint] = ()) -> Verdict:
    """Walk the chain with the key; compare with checkpoints taken earlier (any number, any order)."""
    key = _key(session)
    unkeyed, markers = _unkeyed_through(session)
    marks: dict[int, list[Checkpoint]] = {}
    for point in checkpoints:
        marks.setdefault(point.seq, []).append(point)
    latest = max((p for points in marks.values() for p in points), key=lambda p: p.seq, default=None)

    def verdict(problem: str | None, head: int) -> Verdict:
        return Verdict(head_seq=head, unkeyed_through=unkeyed, problem=problem)

    if markers > 1:
        return verdict("broken: more than one marker of records written before the audit key", 0)
    # The unkeyed prefix is fixed when the key is introduced; grown, it would pass keyed records off as old.
    for point in (p for points in marks.values() for p in points):
        if unkeyed > point.unkeyed_through:
            return verdict(
                f"broken: records up to seq {unkeyed} are now marked as written before the audit key; "
                f"the checkpoint written at {point.written_at} says up to seq {point.unkeyed_through}",
                0,
            )
    prev, expected = GENESIS, 1
    for row, patients in _rows(session):
        if row.seq != expected:
            where = (
                f"seq {expected - 1} is followed by seq {row.seq}"
                if expected > 1
                else f"the log starts at seq {row.seq}"
            )
            return verdict(f"broken at seq {expected}: record missing ({where})", expected - 1)
        if row.prev_hash != prev:
            before = f"the hash of seq {row.seq - 1}" if row.seq > 1 else "the chain's start"
            return verdict(f"broken at seq {row.seq}: prev_hash is not {before}", row.seq - 1)
        fields = {k: getattr(row, k) for k in _FIELDS}
        if row.seq <= unkeyed:
            matches = row.hash == _unkeyed_hash(prev, fields) and patients == (
                [row.patient_id] if row.patient_id else []
            )
        else:
            matches = row.hash == chain_hash(key, prev, fields, patients)
        if not matches:
            return verdict(
                f"broken at seq {row.seq}: the record or its patients do not match its hash "
                "(altered, or not hashed with this audit key)",
                row.seq - 1,
            )
        for point in marks.get(row.seq, ()):
            if point.hash != row.hash:
                return verdict(
                    f"broken at seq {row.seq}: the hash differs from the checkpoint written at {point.written_at}",
                    row.seq - 1,
                )
        prev, expected = row.hash, row.seq + 1
    head = expected - 1
    stray = session.scalar(
        select(func.min(_PATIENT.c.seq)).where((_PATIENT.c.seq > head) | (_PATIENT.c.seq < 1))
    )
    if stray is not None:
        return verdict(f"broken at seq {stray}: patients recorded for a missing record", head)
    if latest is not None and latest.seq > head:
        return verdict(f"tail missing: checkpoint at seq {latest.seq}, log ends at seq {head}", head)
    return verdict(None, head)


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
