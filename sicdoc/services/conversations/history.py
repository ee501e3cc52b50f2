"""Reading a conversation back: its current record, and every version with who, when, why and what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.conversation import Answer
from sicdoc.conversation.form import Change, answers_from_items, diff_answers
from sicdoc.errors import NotFound
from sicdoc.fhir.dates import instant
from sicdoc.fhir.search import parse_search
from sicdoc.services import timing
from sicdoc.services.conversations.common import performer
from sicdoc.services.practitioners import author_display
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, find_by_identifier, history, read
from sicdoc.store.identifiers import identifier_pairs
from sicdoc.store.search import search


@dataclass(frozen=True)
class ConversationRecord:
    """The current versions of a conversation's Procedure, QuestionnaireResponse and Composition."""

    procedure: Stored
    questionnaire_response: Stored | None
    composition: Stored | None

    @property
    def patient_id(self) -> str:
        return str((self.procedure.content or {})["subject"]["reference"]).split("/")[-1]

    @property
    def answers(self) -> dict[str, Answer]:
        qr = self.questionnaire_response
        return answers_from_items((qr.content or {}).get("item")) if qr else {}


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    when: datetime
    who: str
    why: str | None
    activity: str
    changes: list[Change] = field(default_factory=list)


def conversation_record(uow: UnitOfWork, procedure_id: str) -> ConversationRecord:
    """The conversation's Procedure with its answers and note, as the clinician pages show it."""
    record = read_record(uow.session, procedure_id)
    uow.disclose(
        "read",
        [r for r in (record.procedure, record.questionnaire_response, record.composition) if r],
        resource_type="Procedure",
        resource_id=procedure_id,
    )
    return record


def read_record(session: Session, procedure_id: str) -> ConversationRecord:
    """The record without an audit note, for use cases that disclose through their own unit."""
    procedure = read(session, "Procedure", procedure_id)
    content = procedure.content or {}
    if not codes.is_conversation(content):
        raise NotFound(f"Procedure/{procedure_id} is not a serious illness conversation")
    return ConversationRecord(
        procedure,
        _linked(session, content, "QuestionnaireResponse", "-qr", procedure_id),
        _linked(session, content, "Composition", "-note", None),
    )


def _linked(
    session: Session, procedure: dict[str, Any], rtype: str, suffix: str, part_of: str | None
) -> Stored | None:
    for system, value in identifier_pairs(procedure):
        found = find_by_identifier(session, rtype, [(system, f"{value}{suffix}")])
        if found:
            return read(session, rtype, found)
    if part_of:  # a conversation posted with other identifiers still links its answers by partOf
        request = parse_search(rtype, [("part-of", f"Procedure/{part_of}"), ("_count", "1")])
        matches = search(session, request).matches
        return matches[0] if matches else None
    return None


def conversation_history(uow: UnitOfWork, procedure_id: str) -> list[HistoryEntry]:
    """Every version of the conversation, oldest first, with the answers that changed at each."""
    record = conversation_record(uow, procedure_id)
    session = uow.session
    provenances = _provenances(session, procedure_id)
    qr = record.questionnaire_response
    qr_versions = (
        {s.version_id: s for s in history(session, qr.resource_type, qr.id) if not s.deleted} if qr else {}
    )
    out: list[HistoryEntry] = []
    before: dict[str, Answer] = {}
    for version in sorted(history(session, "Procedure", procedure_id), key=lambda s: s.version_id):
        if version.deleted:
            continue
        prov = provenances.get(version.version_id, {})
        answers = before
        if qr_versions:
            wanted = _target_version(prov, "QuestionnaireResponse") or version.version_id
            key = wanted if wanted in qr_versions else max((v for v in qr_versions if v <= wanted), default=1)
            if key in qr_versions:
                answers = answers_from_items((qr_versions[key].content or {}).get("item"))
        activity = _activity(prov) or ("CREATE" if version.version_id == 1 else "UPDATE")
        out.append(
            HistoryEntry(
                version=version.version_id,
                when=instant(prov.get("recorded")) or version.last_updated,
                who=author_display(session, _agent(prov) or performer(version.content or {})),
                why=_why(prov),
                activity=activity,
                changes=diff_answers(before, answers) if version.version_id > 1 else [],
            )
        )
        before = answers
    return out


def signed_late(uow: UnitOfWork, procedure_id: str) -> tuple[datetime | None, str] | None:
    """When and why a late entry (signed after the patient's death) was written; None for other notes."""
    first = _provenances(uow.session, procedure_id).get(1, {})
    if not timing.is_late(first):
        return None
    reason = next((r.get("text") for r in first.get("reason") or () if r.get("text")), "")
    return instant(first.get("recorded")), reason


def _provenances(session: Session, procedure_id: str) -> dict[int, dict[str, Any]]:
    """Provenance by the Procedure version it names (an unversioned target counts as version 1)."""
    request = parse_search("Provenance", [("target", f"Procedure/{procedure_id}"), ("_count", "500")])
    out: dict[int, dict[str, Any]] = {}
    for match in search(session, request).matches:
        content = match.content or {}
        version = _target_version(content, "Procedure", procedure_id) or 1
        out.setdefault(version, content)
    return out


def _target_version(prov: dict[str, Any], rtype: str, rid: str | None = None) -> int | None:
    for target in prov.get("target") or ():
        parts = str(target.get("reference", "")).split("/")
        if parts[0] == rtype and (rid is None or parts[1:2] == [rid]):
            return int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None
    return None


def author_of(session: Session, procedure: dict[str, Any]) -> str:
    """Who documented a conversation, as the pages name them: "Ada Okafor, MD (Palliative care)"."""
    return author_display(session, performer(procedure))


def _agent(prov: dict[str, Any]) -> dict[str, Any] | None:
    for agent in prov.get("agent") or ():
        who = agent.get("who") or {}
        if who.get("display") or who.get("reference"):
            return who
    return None


def _activity(prov: dict[str, Any]) -> str | None:
    for coding in (prov.get("activity") or {}).get("coding") or ():
        if coding.get("code"):
            return coding["code"]
    return None


def _why(provenance: dict[str, Any]) -> str | None:
    text = next((r.get("text") for r in provenance.get("reason") or () if r.get("text")), None)
    return f"Late entry: {text}" if text and timing.is_late(provenance) else text
