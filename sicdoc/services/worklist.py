"""The worklist's own decisions: snoozing a patient until a date, which patients count as "mine", and
whether one patient is due a conversation."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.worklist import WORKLIST_TABLES, reasons
from sicdoc.models import ConversationDraft, WorklistSnooze
from sicdoc.services.conversations.common import AnswersRefused
from sicdoc.services.unit import UnitOfWork
from sicdoc.store.frames import patient_tables

MAX_REASON = 500
MAX_AHEAD = timedelta(days=366)
DIAGNOSES = "diagnoses"  # the projection table read first for "conversation due"


@dataclass(frozen=True)
class Snooze:
    patient_id: str
    until: date
    reason: str
    author: str
    created: datetime


def snooze(
    uow: UnitOfWork, patient_id: str, until: date | None, reason: str, author: str, today: date
) -> Snooze:
    """Take a patient off the worklist until ``until`` (exclusive); refused with field messages."""
    reason = " ".join(reason.split())
    errors: dict[str, str] = {}
    if until is None:
        errors["until"] = "Give the date on which the patient should come back on the worklist."
    elif until <= today:
        errors["until"] = "The date must be after today."
    elif until > today + MAX_AHEAD:
        errors["until"] = "A snooze lasts a year at most; choose an earlier date."
    if not reason:
        errors["reason"] = "Say why the conversation can wait, for the colleagues who read the worklist."
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"Keep the reason under {MAX_REASON} characters."
    uow.read("Patient", patient_id)  # an unknown patient is a 404, before any field message
    if errors:
        raise AnswersRefused(errors)
    assert until is not None
    return _write(uow, patient_id, until, reason, author, "worklist-snooze")


def wake(uow: UnitOfWork, patient_id: str, author: str, today: date) -> Snooze:
    """End a snooze early: the patient is back on the worklist from today."""
    uow.read("Patient", patient_id)
    return _write(uow, patient_id, today, "Snooze ended", author, "worklist-wake")


def _write(uow: UnitOfWork, patient_id: str, until: date, reason: str, author: str, action: str) -> Snooze:
    row = WorklistSnooze(
        patient_id=patient_id, until=until, reason=reason, author=author, created=datetime.now(UTC)
    )
    with uow.transaction():
        uow.session.add(row)
        uow.audit_change(
            action,
            patients=[patient_id],
            resource_type="Patient",
            resource_id=patient_id,
            detail=f"until {until}",
        )
    return _snooze(row)


def active_snoozes(uow: UnitOfWork, today: date) -> dict[str, Snooze]:
    """Snoozes in force today, by patient: each patient's latest decision, if its date is still ahead.

    The caller discloses the patients it shows (the worklist names each row it lists).
    """
    latest = select(func.max(WorklistSnooze.pk)).group_by(WorklistSnooze.patient_id)
    rows = uow.session.scalars(
        select(WorklistSnooze).where(WorklistSnooze.pk.in_(latest), WorklistSnooze.until > today)
    ).all()
    return {row.patient_id: _snooze(row) for row in rows}


def snooze_of(uow: UnitOfWork, patient_id: str, today: date) -> Snooze | None:
    """The snooze in force today for one patient (their latest decision, if its date is still
    ahead), read by the patient's index: a chart does not read every patient's snoozes."""
    uow.disclose("read", patients=[patient_id])
    row = uow.session.scalars(
        select(WorklistSnooze)
        .where(WorklistSnooze.patient_id == patient_id)
        .order_by(WorklistSnooze.pk.desc())
        .limit(1)
    ).first()
    return _snooze(row) if row is not None and row.until > today else None


def drafted_by(uow: UnitOfWork, author: str) -> set[str]:
    """Patients whose conversations this clinician started (drafts, signed or not)."""
    return set(
        uow.session.scalars(select(ConversationDraft.patient_id).where(ConversationDraft.author == author))
    )


def _snooze(row: WorklistSnooze) -> Snooze:
    return Snooze(row.patient_id, row.until, row.reason, row.author, row.created)


def due(uow: UnitOfWork, scope: Scope, patient_id: str) -> dict[str, Any] | None:
    """The patient's worklist row (why they are due a conversation), or None when they are not due.

    Computed from this patient's own projection rows, read by patient, since each worklist row
    depends on its patient's records alone: a chart never waits on the analytics worker or the
    whole worklist, and is never stale.
    """
    uow.disclose("read", patients=[patient_id])
    connection = uow.session.connection()
    tables = patient_tables(connection, [patient_id], [DIAGNOSES])
    present = set(tables[DIAGNOSES]["cohort"].dropna())
    cohorts = tuple(cohort for cohort in scope.cohorts if cohort in present)
    if not cohorts:
        # No diagnosis of the scope's cohorts, so no cohort and never on the worklist: most of a
        # hospital's charts are answered without reading the other tables or building frames.
        return None
    tables |= patient_tables(
        connection, [patient_id], [name for name in WORKLIST_TABLES if name != DIAGNOSES]
    )
    # Only the cohorts the patient has a diagnosis of can list them: the others are not worked out.
    table = reasons(Frames.of(tables), replace(scope, cohorts=cohorts))
    rows = table[table["patient_id"] == patient_id]
    return None if rows.empty else {str(k): v for k, v in rows.iloc[0].items()}
