"""Documentation quality: which of the four codebook domains one conversation's record covers.

The Serious Illness Care Program's documentation codebook groups what a conversation should record
into four domains; sicdoc scores each completed conversation on them from the most faithful record
it has: the QuestionnaireResponse when there is one, else the Observations that are part of the
conversation and the sections of its note, else nothing (a score of 0 that still counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sicdoc import codes
from sicdoc.conversation.answers import Answer, is_answered

VALUES = "values"
PROGNOSIS = "prognosis"
PLANNING = "planning"
TREATMENT = "treatment"
# In the order every output lists them.
DOMAINS = (VALUES, PROGNOSIS, PLANNING, TREATMENT)
DOMAIN_LABELS = {
    VALUES: "Values and goals",
    PROGNOSIS: "Prognosis and illness understanding",
    PLANNING: "End-of-life care planning",
    TREATMENT: "Life-sustaining treatment preferences",
}
FROM_RESPONSE = "questionnaire-response"
FROM_OBSERVATIONS = "observations"
FROM_NOTE = "note"
FROM_OBSERVATIONS_AND_NOTE = "observations-and-note"
FROM_NOTHING = "none"

# Questionnaire linkIds, grouped by the domain an answer to any of them documents.
VALUES_ITEMS = ("goals", "fears-worries", "sources-of-strength", "critical-abilities", "trade-offs")
PLANNING_ITEMS = (
    "health-care-agent",
    "health-care-agent-name",
    "health-care-agent-relationship",
    "health-care-agent-phone",
    "family",
    "hopes",
)
TREATMENT_ITEMS = ("code-status", "care-focus")
# The same groups as guide-domain codes (Observation categories and note section codes).
_GROUP_OF_SIC_DOMAIN = {
    "goals": VALUES,
    "fears-worries": VALUES,
    "sources-of-strength": VALUES,
    "critical-abilities": VALUES,
    "trade-offs": VALUES,
    "health-care-agent": PLANNING,
    "family-awareness": PLANNING,
    "hopes": PLANNING,
    "code-status": TREATMENT,
    "care-focus": TREATMENT,
}
PROGNOSIS_LOINC = "75328-5"


@dataclass(frozen=True)
class Score:
    """The domains documented (in ``DOMAINS`` order) and the record they were read from."""

    domains: tuple[str, ...]
    source: str

    @property
    def stored(self) -> str:
        return ",".join(self.domains)


def score_answers(answers: Mapping[str, Answer], *, care_focus_observed: bool = False) -> Score:
    """Score a conversation from its QuestionnaireResponse answers (by linkId).

    Prognosis needs both halves: the illness understanding answered and the prognosis shared (a
    "no" records that it was not). A care focus Observation that is part of the conversation counts
    for treatment preferences even when the response does not carry the answer.
    """
    found = set()
    if any(is_answered(answers.get(link_id)) for link_id in VALUES_ITEMS):
        found.add(VALUES)
    if is_answered(answers.get("illness-understanding")) and answers.get("prognosis-shared") is True:
        found.add(PROGNOSIS)
    if any(is_answered(answers.get(link_id)) for link_id in PLANNING_ITEMS):
        found.add(PLANNING)
    if care_focus_observed or any(is_answered(answers.get(link_id)) for link_id in TREATMENT_ITEMS):
        found.add(TREATMENT)
    return Score(tuple(d for d in DOMAINS if d in found), FROM_RESPONSE)


def score_records(observations: Iterable[dict[str, Any]], notes: Iterable[dict[str, Any]] = ()) -> Score:
    """Score a conversation posted without a QuestionnaireResponse from its Observations (by their
    codes and guide-domain categories) and its note's sections (by their guide-domain codes)."""
    seen: set[str] = set()
    used_observations = used_note = False
    for obs in observations:
        if obs.get("status") in ("entered-in-error", "cancelled"):
            continue
        sic = _observation_domains(obs)
        if sic:
            used_observations = True
            seen |= sic
    for note in notes:
        if note.get("status") == "entered-in-error":
            continue
        for section in note.get("section") or ():
            for system, code in codes.codings(section.get("code")):
                if system == codes.SIC_DOMAIN_SYSTEM:
                    used_note = True
                    seen.add(code)
    found = {_GROUP_OF_SIC_DOMAIN[d] for d in seen if d in _GROUP_OF_SIC_DOMAIN}
    if {"illness-understanding", "prognosis"} <= seen:
        found.add(PROGNOSIS)
    source = (
        FROM_OBSERVATIONS_AND_NOTE
        if used_observations and used_note
        else FROM_OBSERVATIONS
        if used_observations
        else FROM_NOTE
        if used_note
        else FROM_NOTHING
    )
    return Score(tuple(d for d in DOMAINS if d in found), source)


def _observation_domains(obs: dict[str, Any]) -> set[str]:
    """Guide domains one Observation documents: its guide-domain category, else what its code means."""
    found = {code for system, code in codes.codings(obs.get("category")) if system == codes.SIC_DOMAIN_SYSTEM}
    for system, code in codes.codings(obs.get("code")):
        if system == codes.LOINC and code == PROGNOSIS_LOINC:
            found.add("prognosis")
        elif system == codes.SNOMED and code == codes.RESUSCITATION_STATUS:
            found.add("code-status")
        elif system == codes.LOINC and code == codes.TREATMENT_PREFERENCES:
            found.add("care-focus" if care_focus_of(obs) else "trade-offs")
    return found


def care_focus_of(obs: dict[str, Any]) -> str | None:
    """The care focus answer (LL6264-7 code) an Observation records, or None.

    Only a LOINC 75773-2 Observation whose coded value is one of the three answers is a care focus;
    the same code with free text is the trade-offs answer.
    """
    if not any(
        s == codes.LOINC and c == codes.TREATMENT_PREFERENCES for s, c in codes.codings(obs.get("code"))
    ):
        return None
    for system, code in codes.codings(obs.get("valueCodeableConcept")):
        if system == codes.LOINC and code in codes.CARE_FOCUS_ANSWERS:
            return code
    return None
