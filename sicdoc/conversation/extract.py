"""Observations and a Goal extracted from the answers (the SDC "extraction" pattern).

The QuestionnaireResponse keeps every answer; these resources make the facts QI and clinicians
search for (prognosis, preferences, code status, care focus, goals) queryable by standard codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sicdoc import codes, questionnaires
from sicdoc.conversation.answers import Answer
from sicdoc.conversation.domains import option_coding

PROGNOSIS = {"system": codes.LOINC, "code": "75328-5", "display": "Prognosis"}
CARE_EXPERIENCE = {"system": codes.LOINC, "code": "95541-9", "display": "Care experience preference"}
TREATMENT_PREFERENCE = {
    "system": codes.LOINC,
    "code": codes.TREATMENT_PREFERENCES,
    "display": "Goals, preferences, and priorities for medical treatment [Reported]",
}
RESUSCITATION_STATUS = {
    "system": codes.SNOMED,
    "code": codes.RESUSCITATION_STATUS,
    "display": "Resuscitation status",
}
ACP = {"system": codes.SNOMED, "code": codes.ADVANCE_CARE_PLANNING, "display": "Advance care planning"}
# Form answer -> SNOMED value. SNOMED has one concept for DNR with or without DNI, and none for
# "undecided", so the value also carries the answer's own coding, which keeps every answer apart.
CODE_STATUS_SNOMED = {
    "full": (codes.FOR_RESUSCITATION, "For resuscitation"),
    "dnr": (codes.NOT_FOR_RESUSCITATION, "Not for resuscitation"),
    "dnr-dni": (codes.NOT_FOR_RESUSCITATION, "Not for resuscitation"),
}
AGENT_NAME = "health-care-agent-name"
# The role that makes a related person the patient's health care agent (v3 RoleCode).
HEALTH_CARE_AGENT = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
    "code": "HPOWATT",
    "display": "healthcare power of attorney",
}
# What an Observation coded with SNOMED only (as an EHR may post it) means as a form answer.
SNOMED_CODE_STATUS = {codes.FOR_RESUSCITATION: "full", codes.NOT_FOR_RESUSCITATION: "dnr"}
# linkIds whose text is a care-experience preference (LOINC 95541-9), one Observation each.
CARE_EXPERIENCE_ITEMS = ("goals", "fears-worries", "sources-of-strength", "critical-abilities", "family")


@dataclass(frozen=True)
class Context:
    """What every resource of one conversation shares."""

    patient: dict[str, str]
    encounter: dict[str, str] | None
    clinician: dict[str, str]
    start: str
    end: str
    procedure_url: str
    qr_url: str
    identifier_system: str
    conversation_id: str

    def identifier(self, suffix: str) -> dict[str, str]:
        return {"system": self.identifier_system, "value": f"{self.conversation_id}{suffix}"}


@dataclass(frozen=True)
class Extracted:
    """One extracted resource with the identifier suffix it is keyed by and the domains it serves."""

    resource: dict[str, Any]
    suffix: str
    domains: tuple[str, ...]


def extract(ctx: Context, values: dict[str, Answer]) -> list[Extracted]:
    """Observations (and a Goal) for the documented domains only."""
    out: list[Extracted] = []
    if values.get("prognosis-shared") is True:
        obs = _observation(ctx, "prognosis", PROGNOSIS)
        obs["valueString"] = values.get("prognosis-comment") or "Prognosis shared with the patient"
        framing = values.get("prognosis-framing")
        if isinstance(framing, str):
            obs["component"] = [
                {
                    "code": {"coding": [_domain_coding("prognosis-framing")]},
                    "valueCodeableConcept": {"coding": [option_coding("prognosis-framing", framing)]},
                }
            ]
        out.append(Extracted(obs, "-obs-prognosis", ("prognosis", "prognosis-framing")))
    domain_of = questionnaires.domain_of()
    for link_id in CARE_EXPERIENCE_ITEMS:
        if link_id in values:
            domain = domain_of[link_id]
            obs = _observation(ctx, domain, CARE_EXPERIENCE)
            obs["valueString"] = values[link_id]
            out.append(Extracted(obs, f"-obs-{domain}", (domain,)))
    if "trade-offs" in values:
        obs = _observation(ctx, "trade-offs", TREATMENT_PREFERENCE)
        obs["valueString"] = values["trade-offs"]
        out.append(Extracted(obs, "-obs-trade-offs", ("trade-offs",)))
    status = values.get("code-status")
    if isinstance(status, str):
        obs = _observation(ctx, "code-status", RESUSCITATION_STATUS)
        obs["valueCodeableConcept"] = code_status_concept(status)
        out.append(Extracted(obs, "-obs-code-status", ("code-status",)))
    focus = values.get("care-focus")
    if isinstance(focus, str) and (coding := option_coding("care-focus", focus)) is not None:
        # The same LOINC code as the trade-offs answer, told apart by its coded value (LL6264-7)
        # and its guide-domain category.
        obs = _observation(ctx, "care-focus", TREATMENT_PREFERENCE)
        obs["valueCodeableConcept"] = {"coding": [coding], "text": coding["display"]}
        out.append(Extracted(obs, "-obs-care-focus", ("care-focus",)))
    if "goals" in values:
        out.append(Extracted(_goal(ctx, str(values["goals"])), "-goal", ("goals",)))
    if isinstance(values.get(AGENT_NAME), str):
        out.append(Extracted(_agent(ctx, values), "-agent", ("health-care-agent",)))
    return out


def code_status_concept(status: str) -> dict[str, Any]:
    """The Observation value of a code-status answer: SNOMED where it has a concept, the answer's
    own coding, and the answer's words as text (so DNR and DNR/DNI read apart everywhere)."""
    coding: list[dict[str, str]] = []
    if status in CODE_STATUS_SNOMED:
        code, display = CODE_STATUS_SNOMED[status]
        coding.append({"system": codes.SNOMED, "code": code, "display": display})
    own = option_coding("code-status", status)
    if own is not None:
        coding.append(own)
    concept: dict[str, Any] = {"text": questionnaires.option_display("code-status", status) or status}
    if coding:
        concept["coding"] = coding
    return concept


def code_status_of(concept: Any) -> str | None:
    """The form answer a code-status value stands for: sicdoc's own coding when present, else the
    SNOMED meaning (DNR with or without DNI reads as "dnr"), else the first code as given."""
    found = codes.codings(concept)
    for system, code in found:
        if system == codes.SIC_ANSWER_SYSTEM and questionnaires.option_display("code-status", code):
            return code
    for system, code in found:
        if system == codes.SNOMED and code in SNOMED_CODE_STATUS:
            return SNOMED_CODE_STATUS[code]
    return found[0][1] if found else None


def _domain_coding(domain: str) -> dict[str, str]:
    return {"system": codes.SIC_DOMAIN_SYSTEM, "code": domain, "display": questionnaires.domains()[domain]}


def _observation(ctx: Context, domain: str, code: dict[str, str]) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [ctx.identifier(f"-obs-{domain}")],
        "status": "final",
        # The SIC domain tells apart the several care-experience Observations of one conversation.
        "category": [{"coding": [_domain_coding(domain)]}],
        "code": {"coding": [code]},
        "subject": ctx.patient,
        "effectiveDateTime": ctx.start,
        "performer": [ctx.clinician],
        "partOf": [{"reference": ctx.procedure_url}],
        "derivedFrom": [{"reference": ctx.qr_url}],
    }
    if ctx.encounter:
        obs["encounter"] = ctx.encounter
    return obs


def _agent(ctx: Context, values: dict[str, Answer]) -> dict[str, Any]:
    """The health care agent as a RelatedPerson of the patient, one per conversation that names one,
    so each record says who was named when and by whom."""
    relationship: list[dict[str, Any]] = [{"coding": [HEALTH_CARE_AGENT], "text": "Health care agent"}]
    person: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "identifier": [ctx.identifier("-agent")],
        "active": True,
        "patient": ctx.patient,
        "relationship": relationship,
        "name": [{"text": values[AGENT_NAME]}],
    }
    kin = values.get("health-care-agent-relationship")
    if isinstance(kin, str):
        relationship.append({"text": kin})
    phone = values.get("health-care-agent-phone")
    if isinstance(phone, str):
        person["telecom"] = [{"system": "phone", "value": phone}]
    return person


def _goal(ctx: Context, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "identifier": [ctx.identifier("-goal")],
        "lifecycleStatus": "active",
        "category": [{"coding": [ACP]}],
        "description": {"text": text},
        "subject": ctx.patient,
        "startDate": ctx.start[:10],
        "expressedBy": ctx.patient,
    }
