"""Documentation quality by the four codebook domains (issue 17), with every answer worked out by hand.

Domains: values and goals (goals, fears-worries, sources-of-strength, critical-abilities or trade-offs
answered), prognosis and illness understanding (illness-understanding answered AND prognosis-shared
true), end-of-life care planning (health-care-agent, family or hopes answered), life-sustaining
treatment preferences (code-status answered, undecided included, or a care focus in the response or
an Observation partOf the conversation).
"""

from __future__ import annotations

from typing import Any

import pytest

from sicdoc import codes
from sicdoc.conversation.quality import (
    DOMAINS,
    FROM_NOTE,
    FROM_NOTHING,
    FROM_OBSERVATIONS,
    FROM_OBSERVATIONS_AND_NOTE,
    FROM_RESPONSE,
    Score,
    care_focus_of,
    score_answers,
    score_records,
)

ALL_FOUR = ("values", "prognosis", "planning", "treatment")


def test_domains_are_the_four_of_the_codebook_in_report_order():
    assert DOMAINS == ALL_FOUR


# ---- scored from the QuestionnaireResponse -----------------------------------------------------


def test_questionnaire_response_with_all_four_domains():
    answers = {
        "goals": "See my granddaughter graduate",  # values
        "illness-understanding": "Knows the cancer has spread",  # prognosis (half 1)
        "prognosis-shared": True,  # prognosis (half 2)
        "hopes": "Stay at home",  # planning
        "code-status": "dnr",  # treatment
    }
    score = score_answers(answers)
    # One item of each group answered, and both prognosis halves: all four.
    assert score == Score(ALL_FOUR, FROM_RESPONSE)
    assert score.stored == "values,prognosis,planning,treatment"


def test_prognosis_needs_illness_understanding_and_prognosis_shared_true():
    understood = {"illness-understanding": "Knows it is serious"}
    # Shared = false records that the prognosis was NOT shared: no prognosis domain.
    assert score_answers(understood | {"prognosis-shared": False}).domains == ()
    # Shared = true but no illness understanding answered: still no prognosis domain.
    assert score_answers({"prognosis-shared": True}).domains == ()
    # Illness understanding alone (prognosis-shared unanswered): no prognosis domain.
    assert score_answers(understood).domains == ()
    # Both halves: prognosis.
    assert score_answers(understood | {"prognosis-shared": True}).domains == ("prognosis",)


@pytest.mark.parametrize(
    "link_id", ["goals", "fears-worries", "sources-of-strength", "critical-abilities", "trade-offs"]
)
def test_each_values_item_documents_values_and_goals(link_id):
    # Any one of the five values items answered is enough for the values domain.
    assert score_answers({link_id: "Some answer"}) == Score(("values",), FROM_RESPONSE)


@pytest.mark.parametrize("link_id", ["health-care-agent", "family", "hopes"])
def test_each_planning_item_documents_end_of_life_care_planning(link_id):
    # Any one of health-care-agent, family or hopes answered is enough for the planning domain.
    assert score_answers({link_id: "Some answer"}) == Score(("planning",), FROM_RESPONSE)


@pytest.mark.parametrize("status", ["full", "dnr", "dnr-dni", "undecided"])
def test_any_code_status_answer_documents_treatment_preferences(status):
    # "undecided" is an answer too: the preference was discussed.
    assert score_answers({"code-status": status}) == Score(("treatment",), FROM_RESPONSE)


def test_care_focus_answer_documents_treatment_preferences():
    # A care focus in the QuestionnaireResponse, without a code status, is a treatment preference.
    assert score_answers({"care-focus": codes.COMFORT_FOCUSED}).domains == ("treatment",)


def test_care_focus_observation_part_of_the_conversation_documents_treatment_preferences():
    # The response has no code status nor care focus; an Observation partOf the conversation does.
    assert score_answers({"goals": "Home"}, care_focus_observed=True) == Score(
        ("values", "treatment"), FROM_RESPONSE
    )
    # Without that Observation: values only.
    assert score_answers({"goals": "Home"}).domains == ("values",)


def test_blank_answers_document_nothing():
    # An empty string / empty list is no answer (an untouched form field).
    blank: dict[str, Any] = {"goals": "   ", "family": "", "fears-worries": [], "illness-understanding": ""}
    assert score_answers(blank | {"prognosis-shared": True}) == Score((), FROM_RESPONSE)


def test_response_with_nothing_in_the_four_domains_scores_zero_from_the_response():
    # Participants and duration are not codebook domains; the source is still the response.
    score = score_answers({"participants": ["patient"], "duration-minutes": 20})
    assert (score.domains, score.source, score.stored) == ((), FROM_RESPONSE, "")


# ---- scored from Observations and note sections (no QuestionnaireResponse) -----------------------


def sic_category(domain: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": codes.SIC_DOMAIN_SYSTEM, "code": domain}]}]


def observation(
    *,
    category: str | None = None,
    code: tuple[str, str] | None = None,
    value: tuple[str, str] | None = None,
    status: str = "final",
    **extra: Any,
) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": status}
    if category:
        obs["category"] = sic_category(category)
    if code:
        obs["code"] = {"coding": [{"system": code[0], "code": code[1]}]}
    if value:
        obs["valueCodeableConcept"] = {"coding": [{"system": value[0], "code": value[1]}]}
    obs.update(extra)
    return obs


def test_ehr_conversation_without_response_scored_from_its_observations():
    observations = [
        observation(category="goals", code=(codes.LOINC, "95541-9"), valueString="Home"),  # values
        observation(category="illness-understanding", valueString="Understands"),  # prognosis half 1
        observation(code=(codes.LOINC, "75328-5"), valueString="Months"),  # prognosis half 2 (by its code)
        observation(category="hopes", valueString="Garden"),  # planning
        observation(
            code=(codes.SNOMED, codes.RESUSCITATION_STATUS), value=(codes.SNOMED, codes.NOT_FOR_RESUSCITATION)
        ),  # treatment (by its code)
    ]
    # Each domain documented by some Observation; the score says it came from the Observations.
    assert score_records(observations) == Score(ALL_FOUR, FROM_OBSERVATIONS)


def test_observations_by_code_alone():
    # A 75773-2 with a coded care focus answer is a treatment preference.
    focus = observation(code=(codes.LOINC, "75773-2"), value=(codes.LOINC, "LA33474-0"))
    assert score_records([focus]) == Score(("treatment",), FROM_OBSERVATIONS)
    # The same code with free text is the trade-offs answer: values and goals.
    trade_offs = observation(code=(codes.LOINC, "75773-2"), valueString="No ventilator")
    assert score_records([trade_offs]) == Score(("values",), FROM_OBSERVATIONS)
    # A resuscitation-status Observation: treatment preferences.
    status = observation(code=(codes.SNOMED, codes.RESUSCITATION_STATUS))
    assert score_records([status]) == Score(("treatment",), FROM_OBSERVATIONS)


def test_observations_planning_by_category():
    # health-care-agent and family-awareness categories document end-of-life care planning.
    assert score_records([observation(category="health-care-agent")]).domains == ("planning",)
    assert score_records([observation(category="family-awareness")]).domains == ("planning",)


def test_observations_prognosis_needs_both_halves():
    # A prognosis Observation without any illness-understanding record: no prognosis domain.
    only_prognosis = [observation(category="prognosis", code=(codes.LOINC, "75328-5"))]
    assert score_records(only_prognosis) == Score((), FROM_OBSERVATIONS)


def test_entered_in_error_observations_do_not_count():
    withdrawn = observation(category="goals", status="entered-in-error")
    # Nothing else documents anything: scores 0 from nothing.
    assert score_records([withdrawn]) == Score((), FROM_NOTHING)


def test_conversation_with_nothing_scores_zero_from_nothing():
    # No QuestionnaireResponse, no Observation, no note: 0 domains, source "none" (it still counts).
    assert score_records([]) == Score((), FROM_NOTHING)
    assert score_records([], []).stored == ""


def test_note_sections_and_observations():
    note = {
        "resourceType": "Composition",
        "status": "final",
        "section": [
            {"title": "Goals", "code": {"coding": [{"system": codes.SIC_DOMAIN_SYSTEM, "code": "goals"}]}},
            {"title": "Hopes", "code": {"coding": [{"system": codes.SIC_DOMAIN_SYSTEM, "code": "hopes"}]}},
        ],
    }
    # Sections coded goals and hopes: values and planning, from the note.
    assert score_records([], [note]) == Score(("values", "planning"), FROM_NOTE)
    # With a code-status Observation as well: three domains, from both.
    status = observation(code=(codes.SNOMED, codes.RESUSCITATION_STATUS))
    assert score_records([status], [note]) == Score(
        ("values", "planning", "treatment"), FROM_OBSERVATIONS_AND_NOTE
    )


# ---- care_focus_of -------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["LA33473-2", "LA33474-0", "LA33475-7"])
def test_care_focus_of_the_three_answers(answer):
    # LOINC 75773-2 with one of the three LL6264-7 answers: that answer.
    assert care_focus_of(observation(code=(codes.LOINC, "75773-2"), value=(codes.LOINC, answer))) == answer


def test_care_focus_of_is_none_otherwise():
    # Free text (the trade-offs answer) is not a care focus.
    assert care_focus_of(observation(code=(codes.LOINC, "75773-2"), valueString="Comfort")) is None
    # A code outside the answer list is not a care focus.
    assert care_focus_of(observation(code=(codes.LOINC, "75773-2"), value=(codes.LOINC, "LA6270-8"))) is None
    # An answer code under another system is not the LOINC answer.
    assert care_focus_of(observation(code=(codes.LOINC, "75773-2"), value=("urn:other", "LA33475-7"))) is None
    # The right answer on another Observation code is not a care focus.
    assert care_focus_of(observation(code=(codes.LOINC, "75328-5"), value=(codes.LOINC, "LA33475-7"))) is None
    # No code at all.
    assert care_focus_of({"resourceType": "Observation"}) is None
