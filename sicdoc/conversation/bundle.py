"""One conversation as one FHIR R4 transaction Bundle (DESIGN.md section 4).

The web form, the sample generator and tests all build conversations here, so a conversation typed
into the form is the same resource set as one posted by an EHR.
"""

from __future__ import annotations

import uuid
from typing import Any

from sicdoc import codes, questionnaires
from sicdoc.conversation.answers import ConversationAnswers, InvalidAnswers, answered, validate_answers
from sicdoc.conversation.domains import qr_answers
from sicdoc.conversation.extract import ACP, Context, extract
from sicdoc.conversation.note import composition

PROCEDURE_STATUSES = frozenset(
    {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    }
)
SIC_CODING = {
    "system": codes.SIC_CODE_SYSTEM,
    "code": codes.SIC_LOCAL_CODE,
    "display": "Serious illness conversation",
}


def build_conversation_bundle(
    answers: ConversationAnswers,
    *,
    conversation_id: str,
    identifier_system: str,
    status: str = "completed",
) -> dict[str, Any]:
    """A transaction Bundle: Procedure, QuestionnaireResponse, Observations, Goal and Composition.

    ``conversation_id`` is the business identifier value of the Procedure; the other resources use
    it with a suffix (``-qr``, ``-note``, ``-goal``, ``-obs-<domain>``). Every entry is a conditional
    create on its identifier, so re-posting the bundle creates nothing new. The fullUrls are derived
    from the identifiers, so the same input always gives the same bundle.
    Raises ``InvalidAnswers`` (a ``ValueError``) when the answers break the Questionnaire.
    """
    errors = validate_answers(answers)
    if status not in PROCEDURE_STATUSES:
        errors["status"] = f"'{status}' is not a Procedure status."
    if not conversation_id or any(c.isspace() or c in "|,&" for c in conversation_id):
        errors["conversation_id"] = (
            "The conversation identifier must be non-empty, without spaces, '|', ',' or '&'."
        )
    if errors:
        raise InvalidAnswers(errors)
    values = answered(answers)

    def url(suffix: str) -> str:
        return "urn:uuid:" + str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{identifier_system}|{conversation_id}{suffix}")
        )

    ctx = Context(
        patient={"reference": answers.patient},
        encounter={"reference": answers.encounter} if answers.encounter else None,
        clinician=_ref(answers.clinician, answers.clinician_display),
        start=answers.performed_start.isoformat(timespec="seconds"),
        end=answers.performed_end.isoformat(timespec="seconds"),
        procedure_url=url(""),
        qr_url=url("-qr"),
        identifier_system=identifier_system,
        conversation_id=conversation_id,
    )
    site = _ref(answers.site, answers.site_display) if answers.site else None
    unit = _ref(answers.unit, answers.unit_display) if answers.unit else None
    entries = [
        _entry(ctx.procedure_url, _procedure(ctx, status, values, site, unit), ctx.identifier("")),
        _entry(ctx.qr_url, _questionnaire_response(ctx, values), ctx.identifier("-qr")),
    ]
    by_domain: dict[str, list[str]] = {}
    for item in extract(ctx, values):
        full_url = url(item.suffix)
        entries.append(_entry(full_url, item.resource, ctx.identifier(item.suffix)))
        for domain in item.domains:
            by_domain.setdefault(domain, []).append(full_url)
    note = composition(ctx, values, by_domain, site)
    entries.append(_entry(url("-note"), note, ctx.identifier("-note")))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _ref(reference: str, display: str | None) -> dict[str, str]:
    return {"reference": reference, "display": display} if display else {"reference": reference}


def conditional_entry(full_url: str, resource: dict[str, Any], system: str, value: str) -> dict[str, Any]:
    """A transaction entry that creates ``resource`` unless one with the identifier system|value exists."""
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": f"identifier={system}|{value}",
        },
    }


def _entry(full_url: str, resource: dict[str, Any], identifier: dict[str, str]) -> dict[str, Any]:
    return conditional_entry(full_url, resource, identifier["system"], identifier["value"])


def _procedure(
    ctx: Context,
    status: str,
    values: dict[str, Any],
    site: dict[str, str] | None,
    unit: dict[str, str] | None,
) -> dict[str, Any]:
    performer: dict[str, Any] = {"actor": ctx.clinician}
    if site:
        performer["onBehalfOf"] = site
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "identifier": [ctx.identifier("")],
        "status": status,
        "code": {"coding": [ACP, SIC_CODING], "text": "Serious illness conversation"},
        "subject": ctx.patient,
        "performedPeriod": {"start": ctx.start, "end": ctx.end},
        "performer": [performer],
    }
    if ctx.encounter:
        procedure["encounter"] = ctx.encounter
    if unit:
        procedure["location"] = unit
    if "follow-up" in values:
        procedure["followUp"] = [{"text": values["follow-up"]}]
    return procedure


def _questionnaire_response(ctx: Context, values: dict[str, Any]) -> dict[str, Any]:
    items = questionnaires.questions()
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "identifier": ctx.identifier("-qr"),
        "questionnaire": questionnaires.canonical(),
        "status": "completed",
        "subject": ctx.patient,
        "authored": ctx.end,
        "author": ctx.clinician,
        "partOf": [{"reference": ctx.procedure_url}],
        "item": [
            {"linkId": link_id, "text": items[link_id]["text"], "answer": qr_answers(link_id, value)}
            for link_id, value in values.items()
        ],
    }
    if ctx.encounter:
        qr["encounter"] = ctx.encounter
    return qr
