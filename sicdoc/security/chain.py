"""Anchoring and verifying the audit chain: checkpoints kept outside the database, and the walk that checks them.

A deleted tail leaves a valid chain, so ``checkpoint`` gives the head (seq and hash) to keep where the
database's administrators cannot edit it, and ``verify`` walks every record with the key and compares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sicdoc.fhir.dates import as_utc
from sicdoc.models.audit import AuditEvent, AuditUnkeyedPrefix
from sicdoc.schemas import Invalid, check
from sicdoc.schemas.audit import CheckpointSchema
from sicdoc.security.audit import (
    EVENT_TABLE,
    FIELDS,
    GENESIS,
    PATIENT_TABLE,
    chain_hash,
    chain_key,
    unkeyed_hash,
)


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, to be kept where the database's administrators cannot edit it."""

    seq: int
    hash: str
    recorded: str | None  # when the head record was written (ISO 8601, UTC)
    written_at: str  # when the checkpoint was taken
    unkeyed_through: int = 0  # records 1..this were written before the audit key

    def line(self) -> str:
        return json.dumps(CheckpointSchema().dump(asdict(self)), separators=(",", ":"))

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """One line written by ``line``; ValueError if it is not one."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"not a checkpoint (not JSON: {exc})") from None
        try:
            return cls(**check(CheckpointSchema(), data))
        except Invalid as exc:
            raise ValueError(f"not a checkpoint ({exc})") from None


def checkpoint(session: Session) -> Checkpoint:
    """The chain's head now (seq 0 and GENESIS for an empty log)."""
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.recorded).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return Checkpoint(
        seq=last.seq if last else 0,
        hash=last.hash if last else GENESIS,
        recorded=as_utc(last.recorded).isoformat(timespec="microseconds") if last else None,
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
            select(EVENT_TABLE).where(EVENT_TABLE.c.seq > after).order_by(EVENT_TABLE.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        patients: dict[int, list[str]] = {}
        for seq, patient in session.execute(
            select(PATIENT_TABLE.c.seq, PATIENT_TABLE.c.patient_id).where(
                PATIENT_TABLE.c.seq > after, PATIENT_TABLE.c.seq <= rows[-1].seq
            )
        ):
            patients.setdefault(seq, []).append(patient)
        for row in rows:
            yield row, sorted(patients.get(row.seq, ()))
        after = rows[-1].seq


def verify(session: Session, checkpoints: Iterable[Checkpoint] = ()) -> Verdict:
    """Walk the chain with the key; compare with checkpoints taken earlier (any number, any order)."""
    key = chain_key(session)
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
        fields = {k: getattr(row, k) for k in FIELDS}
        if row.seq <= unkeyed:
            matches = row.hash == unkeyed_hash(prev, fields) and patients == (
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
        select(func.min(PATIENT_TABLE.c.seq)).where((PATIENT_TABLE.c.seq > head) | (PATIENT_TABLE.c.seq < 1))
    )
    if stray is not None:
        return verdict(f"broken at seq {stray}: patients recorded for a missing record", head)
    if latest is not None and latest.seq > head:
        return verdict(f"tail missing: checkpoint at seq {latest.seq}, log ends at seq {head}", head)
    return verdict(None, head)
