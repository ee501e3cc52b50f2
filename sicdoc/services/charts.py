"""What a clinician sees of a patient: search cards and the timeline (the header: ``chart_header``).

Everything comes from the store and its projections, so a conversation or referral posted by an
EHR shows up exactly like one entered in the forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sicdoc import codes, questionnaires
from sicdoc.fhir.dates import calendar_date
from sicdoc.fhir.search import parse_search
from sicdoc.models import Conversation, EncounterFact, PalliativeConsult, PalliativeReferral, Resource
from sicdoc.services.conversations.entered_in_error import ENTERED_IN_ERROR, withdrawals
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, read
from sicdoc.store.search import search


@dataclass(frozen=True)
class PatientCard:
    id: str
    name: str
    mrn: str | None
    birth_date: str | None
    gender: str | None
    deceased: str | None = None


@dataclass(frozen=True)
class Event:
    when: date | None
    kind: str  # diagnosis | admission | referral | consult | conversation
    title: str
    detail: str = ""
    procedure_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def card(stored: Stored) -> PatientCard:
    content = stored.content or {}
    deceased = content.get("deceasedDateTime") or (True if content.get("deceasedBoolean") else None)
    return PatientCard(
        id=stored.id,
        name=_name(content.get("name")),
        mrn=_mrn(content.get("identifier")),
        birth_date=content.get("birthDate"),
        gender=content.get("gender"),
        deceased=str(deceased)[:10] if deceased else None,
    )


def patient_card(uow: UnitOfWork, patient_id: str) -> PatientCard:
    return card(uow.read("Patient", patient_id))


def shown(uow: UnitOfWork, cards: list[PatientCard]) -> list[PatientCard]:
    """Cards about to be shown: each patient named is noted for the audit record."""
    uow.disclose("search", patients=[c.id for c in cards], resource_type="Patient")
    return cards


def patient_cards(uow: UnitOfWork, ids: list[str]) -> list[PatientCard]:
    """Cards for known, live patients, in the order given (unknown ids are skipped)."""
    out = []
    for pid in ids:
        row = uow.session.get(Resource, ("Patient", pid))
        if row is not None and not row.deleted:
            out.append(card(Stored("Patient", pid, row.version_id, row.last_updated, False, row.content)))
    return shown(uow, out)


def recently_updated(uow: UnitOfWork, limit: int = 10) -> list[PatientCard]:
    # No total: counting every patient would cost more than the page it is never shown on.
    args = [("_sort", "-_lastUpdated"), ("_count", str(limit)), ("_total", "none")]
    request = parse_search("Patient", args)
    return shown(uow, [card(m) for m in search(uow.session, request).matches])


def conditions(uow: UnitOfWork, patient_id: str) -> list[tuple[str, str, date | None]]:
    """(id, words, date) of the patient's diagnoses, newest first."""
    uow.disclose("read", patients=[patient_id])
    return _conditions(uow.session, patient_id)


def _conditions(session: Session, patient_id: str) -> list[tuple[str, str, date | None]]:
    request = parse_search("Condition", [("patient", patient_id), ("_count", "200")])
    out = []
    for match in search(session, request).matches:
        c = match.content or {}
        when = c.get("onsetDateTime") or (c.get("onsetPeriod") or {}).get("start") or c.get("recordedDate")
        out.append((match.id, _concept_words(c.get("code")), calendar_date(when)))
    return sorted(out, key=lambda t: (t[2] or date.min, t[0]), reverse=True)


def encounters(uow: UnitOfWork, patient_id: str) -> list[tuple[str, str, bool]]:
    """(id, words, ongoing) of the patient's encounters, newest first, for linking a conversation."""
    uow.disclose("read", patients=[patient_id])
    rows = uow.session.scalars(
        select(EncounterFact)
        .where(EncounterFact.patient_id == patient_id)
        .order_by(EncounterFact.admit_at.desc().nulls_last(), EncounterFact.encounter_id)
    )
    out = []
    for enc in rows:
        kind = "Admission" if enc.class_code in codes.INPATIENT_CLASSES else "Visit"
        start = enc.admit_date.isoformat() if enc.admit_date else "date unknown"
        until = f" to {enc.discharge_date.isoformat()}" if enc.discharge_date else " (ongoing)"
        where = ", ".join(x for x in (enc.unit, enc.site) if x)
        out.append(
            (
                enc.encounter_id,
                f"{kind} {start}{until}{' · ' + where if where else ''}",
                not enc.discharge_date,
            )
        )
    return out


def timeline(uow: UnitOfWork, patient_id: str, diagnoses: list[tuple[str, str, date | None]]) -> list[Event]:
    """Diagnoses (the patient's ``conditions``, which the chart shows too, so read once), admissions,
    palliative referrals and consults, and conversations, newest first."""
    uow.disclose("read", patients=[patient_id])
    session = uow.session
    events = [Event(when, "diagnosis", words or "Diagnosis") for _, words, when in diagnoses]
    for enc in session.scalars(select(EncounterFact).where(EncounterFact.patient_id == patient_id)):
        if enc.class_code in codes.INPATIENT_CLASSES and not enc.palliative:
            where = ", ".join(x for x in (enc.unit, enc.site) if x)
            until = f" to {enc.discharge_date.isoformat()}" if enc.discharge_date else " (in hospital)"
            events.append(Event(enc.admit_date, "admission", "Admission", f"{where}{until}".strip(", ")))
    for ref in session.scalars(select(PalliativeReferral).where(PalliativeReferral.patient_id == patient_id)):
        content = read(session, "ServiceRequest", ref.service_request_id).content or {}
        reason = "; ".join(_concept_words(r) for r in content.get("reasonCode") or ())
        detail = ", ".join(x for x in (content.get("priority"), ref.status, reason) if x)
        events.append(Event(ref.authored_date, "referral", "Palliative care referral", detail))
    for consult in session.scalars(
        select(PalliativeConsult).where(PalliativeConsult.patient_id == patient_id)
    ):
        detail = ", ".join(x for x in (consult.unit, consult.site, consult.status) if x)
        events.append(Event(consult.start_date, "consult", "Palliative care consult", detail))
    conversations = list(session.scalars(select(Conversation).where(Conversation.patient_id == patient_id)))
    # A withdrawn note stays on the timeline, marked, so no one wonders where it went.
    withdrawn = withdrawals(session, [c.procedure_id for c in conversations if c.status == ENTERED_IN_ERROR])
    for conv in conversations:
        status = questionnaires.option_display("code-status", conv.code_status or "") or conv.code_status
        detail = f"Code status: {status}" if status else ""
        title = "Serious illness conversation"
        if conv.status == ENTERED_IN_ERROR:
            title += " (entered in error)"
            mark = withdrawn.get(conv.procedure_id)
            on = f" {mark.when:%Y-%m-%d}" if mark and mark.when else ""
            detail = f"Entered in error{on} by {mark.who}: {mark.reason}" if mark else "Entered in error"
        events.append(Event(conv.performed_date, "conversation", title, detail, conv.procedure_id))
    return sorted(events, key=lambda e: (e.when or date.min, e.kind), reverse=True)


def _name(names: Any) -> str:
    for name in names or ():
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or ()), name.get("family") or ""]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return "(no name recorded)"


def _mrn(identifiers: Any) -> str | None:
    idents = [i for i in identifiers or () if isinstance(i, dict) and i.get("value")]
    for ident in idents:
        type_codes = {c for _, c in codes.codings(ident.get("type"))}
        if "MR" in type_codes or ident.get("system") == codes.MRN_SYSTEM:
            return str(ident["value"])
    return str(idents[0]["value"]) if idents else None


def _concept_words(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or ():
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""
