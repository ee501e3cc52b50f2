"""Amending a signed conversation: new versions linked to the old, with the reason, never in place."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from sicdoc import codes, questionnaires
from sicdoc.conversation import Answer, ConversationAnswers, build_conversation_bundle
from sicdoc.conversation.answers import DEFAULT_MAX_LENGTH
from sicdoc.conversation.form import answers_from_items
from sicdoc.errors import Conflict, NotFound, Unprocessable
from sicdoc.fhir.dates import utc_now
from sicdoc.fhir.search import parse_search
from sicdoc.services import timing
from sicdoc.services.bundles import apply_transaction
from sicdoc.services.conversations import prognosis
from sicdoc.services.conversations.common import (
    FORMS_CLIENT,
    WHEN,
    AnswersRefused,
    Author,
    SignedConversation,
    check_answers,
    clinician_reference,
    locations,
    performer,
    provenance,
    require_version,
)
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, find_by_identifier, read
from sicdoc.store.identifiers import identifier_pairs
from sicdoc.store.search import search

PROGNOSIS_COMMENT = prognosis.PROGNOSIS_COMMENT
REASON = "reason"
REASON_MAX = 1000
# What an extracted resource becomes when an amendment no longer supports it.
WITHDRAWN: dict[str, tuple[str, str | bool]] = {
    "Observation": ("status", "entered-in-error"),
    "Goal": ("lifecycleStatus", "cancelled"),
    "RelatedPerson": ("active", False),  # the amended note no longer names this agent
}


def amend_conversation(
    uow: UnitOfWork,
    procedure_id: str,
    answers: Mapping[str, Answer],
    author: Author,
    reason: str,
    *,
    expected_version: int | None = None,
    performed_start: datetime | None = None,
    prognosis_addition: str | None = None,
    zone: tzinfo | None = None,
    now: datetime | None = None,
) -> SignedConversation:
    """New versions of the Procedure, QuestionnaireResponse, Composition (and extracted resources).

    Each is a PUT with If-Match on its current version, so history keeps every version; the
    Composition ``replaces`` its previous version and a Provenance records who, when and why.
    Earlier prognosis comments are append-only: ``prognosis_addition`` (the form's field) is added
    after them with the date (in ``zone``) and author; without it, the answer must start with them.
    """
    now = now or utc_now()

    def attempt() -> SignedConversation:
        with uow.transaction():
            return _amend(
                uow,
                procedure_id,
                answers,
                author,
                reason,
                expected_version,
                performed_start,
                now,
                (prognosis_addition, zone),
            )

    return uow.retrying(attempt)


def _amend(
    uow: UnitOfWork,
    procedure_id: str,
    answers: Mapping[str, Answer],
    author: Author,
    reason: str,
    expected_version: int | None,
    when: datetime | None,
    now: datetime,
    comment: tuple[str | None, tzinfo | None] = (None, None),
) -> SignedConversation:
    session, store = uow.session, uow.store
    procedure = read(session, "Procedure", procedure_id)
    content = procedure.content or {}
    if not codes.is_conversation(content):
        raise NotFound(f"Procedure/{procedure_id} is not a serious illness conversation")
    if content.get("status") == "entered-in-error":
        raise Conflict("This note was marked entered in error, so it can no longer be amended.")
    require_version(
        procedure.version_id, expected_version, "Your text is still in the form: compare, then amend again."
    )
    system, value = _identifier(content)
    qr = _find(session, "QuestionnaireResponse", system, f"{value}-qr")
    if qr is None:
        raise Unprocessable("This conversation has no form answers in sicdoc, so it cannot be amended here.")
    patient_id = content["subject"]["reference"].split("/")[-1]
    when = when or datetime.fromisoformat(content["performedPeriod"]["start"])
    before = answers_from_items((qr.content or {}).get("item"))
    answers, comment_errors = _with_comment(before, answers, author, now, *comment)
    errors = check_answers(session, patient_id, answers, when, now, complete=True)
    if WHEN not in errors:
        linked = (content.get("encounter") or {}).get("reference") or ""
        encounter_id = linked.split("/", 1)[1] if linked.startswith("Encounter/") else None
        # An amendment keeps the stay, so a date outside it is the date's fault.
        outside = timing.conversation_errors(uow, patient_id, when, encounter_id)
        if outside:
            errors[WHEN] = next(iter(outside.values()))
    errors.update(comment_errors)
    reason = (reason or "").strip()
    if not reason:
        errors[REASON] = "Give the reason for this amendment."
    elif len(reason) > REASON_MAX:
        errors[REASON] = f"Keep the reason to {REASON_MAX} characters or fewer (it has {len(reason)})."
    if errors:
        raise AnswersRefused(errors)
    actor = performer(content)
    conversation = ConversationAnswers(
        patient=f"Patient/{patient_id}",
        clinician=actor.get("reference", "Practitioner/unknown"),
        clinician_display=actor.get("display"),
        performed_start=when,
        answers=answers,
        **_setting(content),
    )
    bundle = build_conversation_bundle(conversation, conversation_id=value, identifier_system=system)
    previous: dict[str, int] = {}
    kept: set[tuple[str, str]] = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        rtype = resource["resourceType"]
        found = _find(session, rtype, *identifier_pairs(resource)[0])
        if found is None:
            continue  # a newly documented domain: a plain conditional create
        kept.add((rtype, found.id))
        previous[rtype] = found.version_id
        resource["id"] = found.id
        entry["request"] = {
            "method": "PUT",
            "url": f"{rtype}/{found.id}",
            "ifMatch": f'W/"{found.version_id}"',
        }
        if rtype == "Composition":
            resource["status"] = "amended"
            resource["relatesTo"] = [
                {
                    "code": "replaces",
                    "targetReference": {"reference": f"Composition/{found.id}/_history/{found.version_id}"},
                }
            ]
    bundle["entry"].extend(_withdrawn(session, procedure_id, system, value, kept))
    who_ref, extra = clinician_reference(author)
    bundle["entry"][:0] = extra
    written = locations(apply_transaction(uow, bundle, client_id=FORMS_CLIENT))
    who = {"reference": who_ref, "display": author.display}
    for rtype, rid, _ in written:
        if rtype == "Practitioner":
            who = {"reference": f"Practitioner/{rid}", "display": author.display}
    targets = [loc for loc in written if loc[0] != "Practitioner"]
    revision_of = f"Procedure/{procedure_id}/_history/{procedure.version_id}"
    record = store.create(
        session, provenance(targets, who, "UPDATE", now, reason=reason, revision_of=revision_of)
    )
    uow.audit_writes([("create", record)])
    return SignedConversation(procedure_id, None, procedure.version_id + 1)


def _setting(procedure: dict[str, Any]) -> dict[str, str | None]:
    """Where the conversation took place: an amendment changes the answers, never the setting."""
    unit = procedure.get("location") or {}
    site: dict[str, Any] = next(
        (p.get("onBehalfOf") for p in procedure.get("performer") or () if p.get("onBehalfOf")), {}
    )
    return {
        "encounter": (procedure.get("encounter") or {}).get("reference"),
        "unit": unit.get("reference"),
        "unit_display": unit.get("display"),
        "site": site.get("reference"),
        "site_display": site.get("display"),
    }


def _with_comment(
    before: Mapping[str, Answer],
    answers: Mapping[str, Answer],
    author: Author,
    now: datetime,
    added: str | None,
    zone: tzinfo | None,
) -> tuple[dict[str, Answer], dict[str, str]]:
    """The answers with the prognosis comments as stored: the earlier text, then the stamped addition."""
    old = str(before.get(PROGNOSIS_COMMENT) or "").strip()
    out = dict(answers)
    if added is None:  # the whole text was sent: it must keep the earlier comments as they were
        new = str(answers.get(PROGNOSIS_COMMENT) or "").strip()
        if old and not new.startswith(old):
            message = "Earlier prognosis comments cannot be changed or removed; add to the end instead."
            return out, {PROGNOSIS_COMMENT: message}
        added = prognosis.addition(old, new)
    combined = prognosis.appended(old, added, author.display, now, zone)
    if combined:
        out[PROGNOSIS_COMMENT] = combined
    else:
        out.pop(PROGNOSIS_COMMENT, None)
    limit = _comment_limit()
    if len(combined) > limit:
        room = max(limit - len(prognosis.appended(old, "x", author.display, now, zone)) + 1, 0)
        message = f"With the earlier comments this passes {limit} characters; add at most {room} characters."
        return out, {PROGNOSIS_COMMENT: message}
    return out, {}


def _comment_limit() -> int:
    return int(questionnaires.questions()[PROGNOSIS_COMMENT].get("maxLength", DEFAULT_MAX_LENGTH))


def _identifier(content: dict[str, Any]) -> tuple[str, str]:
    pairs = identifier_pairs(content)
    if not pairs:
        raise Unprocessable("This conversation has no business identifier, so it cannot be amended here.")
    return pairs[0]


def _find(session: Session, rtype: str, system: str, value: str) -> Stored | None:
    found = find_by_identifier(session, rtype, [(system, value)])
    return read(session, rtype, found) if found else None


def _withdrawn(
    session: Session, procedure_id: str, system: str, value: str, kept: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Extracted resources of the earlier version that the amended answers no longer support."""
    found = [read(session, "Observation", i) for i in _observations(session, procedure_id)]
    goal = _find(session, "Goal", system, f"{value}-goal")
    agent = _find(session, "RelatedPerson", system, f"{value}-agent")
    out = []
    for match in [*found, *(r for r in (goal, agent) if r)]:
        field, status = WITHDRAWN[match.resource_type]
        content = match.content or {}
        if (match.resource_type, match.id) in kept or content.get(field) == status:
            continue
        resource = {k: v for k, v in content.items() if k != "meta"}
        resource[field] = status
        out.append(
            {
                "resource": resource,
                "request": {
                    "method": "PUT",
                    "url": f"{match.resource_type}/{match.id}",
                    "ifMatch": f'W/"{match.version_id}"',
                },
            }
        )
    return out


def _observations(session: Session, procedure_id: str) -> list[str]:
    request = parse_search("Observation", [("part-of", f"Procedure/{procedure_id}"), ("_count", "100")])
    return [m.id for m in search(session, request).matches]
