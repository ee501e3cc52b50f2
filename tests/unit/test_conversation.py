"""The SIC Questionnaire, answer validation and the conversation transaction bundle."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sicdoc import codes, questionnaires
from sicdoc.conversation import (
    ConversationAnswers,
    InvalidAnswers,
    build_conversation_bundle,
    documented_domains,
    validate_answers,
)
from sicdoc.conversation.extract import code_status_of
from sicdoc.fhir.validation import validate_resource

LINK_IDS = [
    "participants",
    "participant-names",
    "permission",
    "illness-understanding",
    "information-preferences",
    "prognosis-shared",
    "prognosis-framing",
    "prognosis-comment",
    "goals",
    "fears-worries",
    "sources-of-strength",
    "critical-abilities",
    "trade-offs",
    "family",
    "hopes",
    "recommendation",
    "code-status",
    "care-focus",
    "health-care-agent-name",
    "health-care-agent-relationship",
    "health-care-agent-phone",
    "health-care-agent",
    "decision-capacity",
    "duration-minutes",
    "follow-up",
]
LABELS = {
    "participants": "Participants",
    "permission": "Permission to talk",
    "illness-understanding": "Illness understanding",
    "information-preferences": "Information preferences",
    "prognosis-shared": "Prognosis shared",
    "prognosis-framing": "Prognosis framing",
    "goals": "Goals",
    "fears-worries": "Fears and worries",
    "sources-of-strength": "Sources of strength",
    "critical-abilities": "Critical abilities",
    "trade-offs": "Trade-offs",
    "family": "Family",
    "hopes": "Hopes",
    "recommendation": "Recommendation",
    "code-status": "Code status",
    "care-focus": "Care focus",
    "health-care-agent-name": "Health care agent: name",
    "health-care-agent": "Other notes about the health care agent",
    "duration-minutes": "Duration (minutes)",
}
SYSTEM = "https://sicdoc.org/fhir/sid/conversation"
EST = timezone(timedelta(hours=-5))


def make(**answers: object) -> ConversationAnswers:
    base: dict = {"participants": ["patient", "family"], "permission": "agreed", "duration-minutes": 30}
    base.update(answers)
    return ConversationAnswers(
        patient="urn:uuid:0f4b2d8e-6c1a-4e55-9a3b-2f7d9c1e8a60",
        clinician="Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893",
        clinician_display="Dr. Ada Quinn",
        performed_start=datetime(2025, 3, 4, 14, 5, tzinfo=EST),
        answers={k: v for k, v in base.items() if v is not None},
        encounter="Encounter/enc-1",
        unit="Location?identifier=https://sicdoc.org/fhir/sid/location|hcmc-onc",
        unit_display="Oncology",
        site="Organization?identifier=https://sicdoc.org/fhir/sid/organization|hcmc",
        site_display="Harrow Creek Medical Center",
    )


FULL = make(
    **{
        "illness-understanding": ["knows-serious", "Thinks the tumour has shrunk"],
        "information-preferences": "big-picture",
        "prognosis-shared": True,
        "prognosis-framing": "time",
        "prognosis-comment": "Likely months",
        "goals": "Be home for the summer",
        "fears-worries": "Pain",
        "sources-of-strength": "Her sister",
        "critical-abilities": "Talking with family",
        "trade-offs": "No ventilator",
        "family": "Sister knows",
        "hopes": "One more trip to the coast",
        "recommendation": "Home hospice",
        "code-status": "dnr",
        "care-focus": "LA33474-0",
        "health-care-agent": "Rita Shah, sister",
        "decision-capacity": "has-capacity",
        "follow-up": "Family meeting Friday",
    }
)


def bundle_of(answers: ConversationAnswers, conversation_id: str = "c-1") -> dict:
    return build_conversation_bundle(answers, conversation_id=conversation_id, identifier_system=SYSTEM)


def by_type(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def test_questionnaire_is_valid_r4_with_stable_link_ids_labels_and_domains():
    q = questionnaires.load_questionnaire()
    validate_resource(q)
    assert (q["url"], q["version"], q["id"], q["status"]) == (
        codes.SIC_QUESTIONNAIRE_URL,
        "1.2.0",
        "serious-illness-conversation",
        "active",
    )
    assert list(questionnaires.questions()) == LINK_IDS
    for link_id, label in LABELS.items():
        assert questionnaires.questions()[link_id]["text"] == label
    assert set(questionnaires.domain_of()) == set(LINK_IDS)
    assert set(questionnaires.help_texts()) == set(LINK_IDS)
    assert questionnaires.domain_of()["family"] == "family-awareness"
    assert list(questionnaires.domains())[:2] == ["participants", "setup-permission"]


def test_complete_answers_are_valid():
    assert validate_answers(FULL) == {}


@pytest.mark.parametrize(
    ("answers", "key", "fragment"),
    [
        ({"permission": None}, "permission", "answer this question"),
        ({"permission": "  "}, "permission", "answer this question"),
        ({"duration-minutes": 0}, "duration-minutes", "from 1 to 600"),
        ({"duration-minutes": -5}, "duration-minutes", "from 1 to 600"),
        ({"duration-minutes": 601}, "duration-minutes", "from 1 to 600"),
        ({"duration-minutes": True}, "duration-minutes", "whole number"),
        ({"code-status": "maybe"}, "code-status", "'maybe' is not one of the choices"),
        ({"participants": ["patient", "neighbour"]}, "participants", "'neighbour' is not one of the choices"),
        ({"code-status": ["dnr", "full"]}, "code-status", "only one"),
        ({"prognosis-shared": "yes"}, "prognosis-shared", "yes or no"),
        ({"goals": "x" * 4001}, "goals", "4000 characters"),
        ({"goals": "bell\x07"}, "goals", "control characters"),
        ({"prognosis-shared": False, "prognosis-framing": "time"}, "prognosis-framing", "only when"),
        ({"favourite-colour": "blue"}, "favourite-colour", "not a question"),
    ],
)
def test_validation_messages_point_at_the_question(answers, key, fragment):
    errors = validate_answers(make(**answers))
    assert key in errors
    assert fragment in errors[key]
    assert len(errors) == 1


def test_start_time_needs_a_time_zone_and_references_are_checked():
    errors = validate_answers(replace(make(), performed_start=datetime(2025, 3, 4, 14, 5), patient=""))
    assert set(errors) == {"performed_start", "patient"}


def test_open_choice_accepts_free_text_and_max_length_counts_trimmed_text():
    assert (
        validate_answers(make(**{"illness-understanding": ["Anything at all"], "goals": " " + "y" * 4000}))
        == {}
    )


def test_bundle_resources_all_validate_and_references_resolve():
    bundle = bundle_of(FULL)
    validate_resource(bundle)
    for entry in bundle["entry"]:
        validate_resource(entry["resource"])
        assert entry["request"]["method"] == "POST"
        assert entry["request"]["url"] == entry["resource"]["resourceType"]
    urls = {e["fullUrl"] for e in bundle["entry"]}
    refs = re.findall(r'"(urn:uuid:[^"]+)"', json.dumps(bundle))
    assert set(refs) - {FULL.patient} <= urls
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[:2] == ["Procedure", "QuestionnaireResponse"] and kinds[-1] == "Composition"
    assert kinds.count("Observation") == 9 and kinds.count("Goal") == 1


def test_conditional_creates_use_identifiers_derived_from_the_conversation_id():
    bundle = bundle_of(FULL, "sic-42")
    conditions = {e["resource"]["resourceType"]: e["request"]["ifNoneExist"] for e in bundle["entry"]}
    assert conditions["Procedure"] == f"identifier={SYSTEM}|sic-42"
    assert conditions["QuestionnaireResponse"] == f"identifier={SYSTEM}|sic-42-qr"
    assert conditions["Composition"] == f"identifier={SYSTEM}|sic-42-note"
    assert all("ifNoneExist" in e["request"] for e in bundle["entry"])
    assert bundle_of(FULL, "sic-42") == bundle  # the same conversation gives the same bundle
    assert bundle_of(FULL, "sic-43")["entry"][0]["fullUrl"] != bundle["entry"][0]["fullUrl"]


def test_procedure_and_questionnaire_response_content():
    bundle = bundle_of(FULL)
    procedure = by_type(bundle, "Procedure")[0]
    assert codes.is_conversation(procedure)
    assert procedure["performedPeriod"] == {
        "start": "2025-03-04T14:05:00-05:00",
        "end": "2025-03-04T14:35:00-05:00",
    }
    assert procedure["performer"][0]["actor"]["display"] == "Dr. Ada Quinn"
    qr = by_type(bundle, "QuestionnaireResponse")[0]
    assert qr["questionnaire"] == f"{codes.SIC_QUESTIONNAIRE_URL}|1.2.0"
    assert qr["partOf"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
    answers = {item["linkId"]: item["answer"] for item in qr["item"]}
    assert answers["duration-minutes"] == [{"valueInteger": 30}]
    assert answers["illness-understanding"][1] == {"valueString": "Thinks the tumour has shrunk"}
    assert answers["code-status"][0]["valueCoding"]["code"] == "dnr"


@pytest.mark.parametrize(
    ("status", "snomed", "text"),
    [
        ("full", codes.FOR_RESUSCITATION, "Full code: attempt resuscitation"),
        ("dnr", codes.NOT_FOR_RESUSCITATION, "Do not resuscitate"),
        ("dnr-dni", codes.NOT_FOR_RESUSCITATION, "Do not resuscitate, do not intubate"),
        ("undecided", None, "Not yet decided"),
    ],
)
def test_code_status_observation_keeps_the_answer_apart_from_snomed(status, snomed, text):
    obs = [
        o
        for o in by_type(bundle_of(make(**{"code-status": status})), "Observation")
        if o["code"]["coding"][0]["code"] == codes.RESUSCITATION_STATUS
    ]
    assert len(obs) == 1
    value = obs[0]["valueCodeableConcept"]
    found = [(c["system"], c["code"]) for c in value["coding"]]
    own = (codes.SIC_ANSWER_SYSTEM, status)
    assert found == ([(codes.SNOMED, snomed), own] if snomed else [own])
    assert value["text"] == text
    assert code_status_of(value) == status


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"coding": [{"system": codes.SNOMED, "code": codes.NOT_FOR_RESUSCITATION}]}, "dnr"),
        ({"coding": [{"system": codes.SNOMED, "code": codes.FOR_RESUSCITATION}]}, "full"),
        (
            {
                "coding": [
                    {"system": codes.SNOMED, "code": codes.NOT_FOR_RESUSCITATION},
                    {"system": codes.SIC_ANSWER_SYSTEM, "code": "dnr-dni"},
                ]
            },
            "dnr-dni",
        ),
        ({"coding": [{"system": "urn:other", "code": "X1"}]}, "X1"),
        ({"coding": [{"system": codes.SIC_ANSWER_SYSTEM, "code": "maybe"}]}, "maybe"),
        ({"text": "DNR"}, None),
    ],
)
def test_code_status_of_reads_our_coding_then_snomed(concept, expected):
    assert code_status_of(concept) == expected


def test_only_documented_domains_are_extracted():
    bundle = bundle_of(make(**{"trade-offs": "Would accept a short ICU stay"}))
    observations = by_type(bundle, "Observation")
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["75773-2"]
    assert observations[0]["partOf"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
    assert by_type(bundle, "Goal") == []
    titles = [s["title"] for s in by_type(bundle, "Composition")[0]["section"]]
    assert titles == [
        "Participants",
        "Set-up and permission",
        "Trade-offs",
        "Duration",
        "Advance care planning billing",
    ]


def test_prognosis_and_goal_extraction():
    bundle = bundle_of(FULL)
    prognosis = next(o for o in by_type(bundle, "Observation") if o["code"]["coding"][0]["code"] == "75328-5")
    assert prognosis["valueString"] == "Likely months"
    assert prognosis["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "time"
    goal = by_type(bundle, "Goal")[0]
    assert goal["description"]["text"] == "Be home for the summer"
    assert goal["expressedBy"] == {"reference": FULL.patient}
    assert goal["lifecycleStatus"] == "active"


def test_markup_in_free_text_is_escaped_in_the_note():
    bundle = bundle_of(make(goals='<script>alert("x")</script> & <b>home</b>\nsecond line'))
    note = by_type(bundle, "Composition")[0]
    validate_resource(note)
    div = next(s for s in note["section"] if s["code"]["coding"][0]["code"] == "goals")["text"]["div"]
    assert div.startswith('<div xmlns="http://www.w3.org/1999/xhtml">')
    assert "<script>" not in div and "<b>home" not in div
    assert "&lt;script&gt;" in div and "&amp;" in div and "<br/>second line" in div
    assert note["type"]["coding"][0]["code"] == "11506-3" and note["status"] == "final"


def test_invalid_answers_are_refused_by_the_builder():
    with pytest.raises(InvalidAnswers) as caught:
        bundle_of(make(**{"duration-minutes": 0}))
    assert set(caught.value.errors) == {"duration-minutes"}
    with pytest.raises(InvalidAnswers):
        build_conversation_bundle(FULL, conversation_id="has space", identifier_system=SYSTEM)


def test_documented_domains():
    qr = by_type(bundle_of(FULL), "QuestionnaireResponse")[0]
    domains = documented_domains(qr["item"])
    assert domains == [d for d in questionnaires.domains() if d in domains]  # conversation order
    assert {"prognosis", "prognosis-framing", "goals", "code-status", "family-awareness"} <= set(domains)
    items = [
        {"linkId": "goals", "answer": [{"valueString": "home"}]},
        {"linkId": "prognosis-shared", "answer": [{"valueBoolean": False}]},
        {"linkId": "hopes"},
        {
            "linkId": "group",
            "item": [{"linkId": "code-status", "answer": [{"valueCoding": {"code": "dnr"}}]}],
        },
        {"linkId": "unknown", "answer": [{"valueString": "x"}]},
    ]
    assert documented_domains(items) == ["goals", "code-status"]
    assert documented_domains(None) == []


def test_care_focus_is_extracted_as_a_coded_treatment_preference_apart_from_trade_offs():
    bundle = bundle_of(
        make(**{"trade-offs": "No ventilator", "care-focus": "LA33475-7", "code-status": "dnr"})
    )
    procedure_url, qr_url = bundle["entry"][0]["fullUrl"], bundle["entry"][1]["fullUrl"]
    preferences = [
        o
        for o in by_type(bundle, "Observation")
        if o["code"]["coding"][0]["code"] == codes.TREATMENT_PREFERENCES
    ]
    assert len(preferences) == 2
    focus = next(o for o in preferences if "valueCodeableConcept" in o)
    trade_offs = next(o for o in preferences if "valueString" in o)
    validate_resource(focus)
    assert focus["code"]["coding"] == [
        {
            "system": codes.LOINC,
            "code": "75773-2",
            "display": "Goals, preferences, and priorities for medical treatment [Reported]",
        }
    ]
    assert focus["category"] == [
        {"coding": [{"system": codes.SIC_DOMAIN_SYSTEM, "code": "care-focus", "display": "Care focus"}]}
    ]
    assert focus["valueCodeableConcept"] == {
        "coding": [{"system": codes.LOINC, "code": "LA33475-7", "display": "Comfort-focused treatments"}],
        "text": "Comfort-focused treatments",
    }
    assert focus["partOf"] == [{"reference": procedure_url}]
    assert focus["derivedFrom"] == [{"reference": qr_url}]
    assert focus["effectiveDateTime"] == "2025-03-04T14:05:00-05:00"
    assert focus["identifier"] == [{"system": SYSTEM, "value": "c-1-obs-care-focus"}]
    assert trade_offs["category"][0]["coding"][0]["code"] == "trade-offs"
    qr = by_type(bundle, "QuestionnaireResponse")[0]
    answer = next(i["answer"] for i in qr["item"] if i["linkId"] == "care-focus")
    assert answer == [{"valueCoding": focus["valueCodeableConcept"]["coding"][0]}]
    note = by_type(bundle, "Composition")[0]
    titles = [s["title"] for s in note["section"]]
    assert titles.index("Code status") + 1 == titles.index("Care focus")
    section = note["section"][titles.index("Care focus")]
    assert section["text"]["div"].endswith("<p>Comfort-focused treatments</p></div>")
    entry_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is focus)
    assert section["entry"] == [{"reference": entry_url}]


def test_a_care_focus_outside_the_answer_list_is_refused():
    for bad in ("comfort", "LA33476-5", "full"):
        errors = validate_answers(make(**{"care-focus": bad}))
        assert list(errors) == ["care-focus"] and "is not one of the choices" in errors["care-focus"]
    assert list(questionnaires.questions()).index("care-focus") == LINK_IDS.index("code-status") + 1
