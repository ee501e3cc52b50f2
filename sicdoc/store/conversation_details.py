"""What a conversation's row holds beyond its Procedure: the domains documented, the code status,
the care focus and the documentation-quality score, read from the resources that are part of it
(its QuestionnaireResponse and Observations) and, for one posted without a response, its note."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.conversation import documented_domains
from sicdoc.conversation.extract import code_status_of
from sicdoc.conversation.form import answers_from_items
from sicdoc.conversation.quality import Score, care_focus_of, score_answers, score_records
from sicdoc.models import ReferenceIndex, Resource
from sicdoc.store.resource_fields import has_code, ref_id


class Details(NamedTuple):
    domains: str | None
    code_status: str | None
    care_focus: str | None
    quality: Score


def noted_procedures(r: dict) -> list[str]:
    """The conversations a note (Composition) records, from its events' details."""
    return [
        pid
        for event in r.get("event") or ()
        for ref in event.get("detail") or ()
        if (pid := ref_id(ref, "Procedure"))
    ]


def notes_of(session: Session, procedure_id: str, patient_id: str) -> list[dict]:
    """The patient's notes that record this conversation (only read when it has no response)."""
    same = and_(
        ReferenceIndex.resource_type == Resource.resource_type, ReferenceIndex.resource_id == Resource.id
    )
    notes = session.scalars(
        select(Resource.content)
        .join(ReferenceIndex, same)
        .where(
            ReferenceIndex.resource_type == "Composition",
            ReferenceIndex.param == "patient",
            ReferenceIndex.target_type == "Patient",
            ReferenceIndex.target_id == patient_id,
            Resource.deleted.is_(False),
        )
    ).all()
    return [n for n in notes if procedure_id in noted_procedures(n)]


def linked_records(session: Session, procedure_ids: list[str]) -> dict[str, list[tuple[str, dict]]]:
    """(type, content) of the live resources that are part of each conversation, in one query."""
    same = and_(
        ReferenceIndex.resource_type == Resource.resource_type, ReferenceIndex.resource_id == Resource.id
    )
    found: dict[str, list[tuple[str, dict]]] = {pid: [] for pid in procedure_ids}
    for start in range(0, len(procedure_ids), 500):
        rows = session.execute(
            select(ReferenceIndex.target_id, Resource.resource_type, Resource.content)
            .join(ReferenceIndex, same)
            .where(
                ReferenceIndex.param == "part-of",
                ReferenceIndex.target_type == "Procedure",
                ReferenceIndex.target_id.in_(procedure_ids[start : start + 500]),
                Resource.deleted.is_(False),
            )
        )
        for target, resource_type, content in rows:
            found[target].append((resource_type, content))
    return found


def conversation_details(
    session: Session, procedure_id: str, patient_id: str, linked: list[tuple[str, dict]] | None = None
) -> Details:
    """Documented domains, code status and care focus (from the QuestionnaireResponse, else its
    Observations) and the documentation-quality score of one conversation; ``linked`` is what
    ``linked_records`` found for it, when the caller read many at once."""
    if linked is None:
        linked = linked_records(session, [procedure_id])[procedure_id]
    domains: list[str] = []
    answered = observed = None
    answers: dict[str, Any] | None = None
    focus_answered = focus_observed = None
    observations: list[dict] = []
    for resource_type, content in linked:
        if resource_type == "QuestionnaireResponse":
            domains.extend(d for d in documented_domains(content.get("item")) if d not in domains)
            answers = answers_from_items(content.get("item"))
            status = answers.get("code-status")
            answered = status if isinstance(status, str) else answered
            focus = answers.get("care-focus")
            focus_answered = focus if isinstance(focus, str) and focus in codes.CARE_FOCUS_ANSWERS else None
        elif resource_type == "Observation" and content.get("status") != "entered-in-error":
            # (an entered-in-error Observation was withdrawn by an amendment)
            observations.append(content)
            if has_code(content.get("code"), {codes.RESUSCITATION_STATUS}):
                observed = code_status_of(content.get("valueCodeableConcept")) or observed
            focus_observed = care_focus_of(content) or focus_observed
    # The answer is the source of truth; the Observations speak for conversations posted without one.
    code_status = answered or observed
    if answers is not None:
        quality = score_answers(answers, care_focus_observed=focus_observed is not None)
    else:
        quality = score_records(observations, notes_of(session, procedure_id, patient_id))
    return Details(
        domains=",".join(domains)[:512] or None,
        code_status=code_status[:32] if code_status else None,
        care_focus=focus_answered or focus_observed,
        quality=quality,
    )
