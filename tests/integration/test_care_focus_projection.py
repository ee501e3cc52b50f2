"""The care focus in the projections, on both databases: a signed form conversation, a response naming
an earlier Questionnaire version posted as an EHR would, and EHR Observations coded 75773-2."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from sicdoc import codes
from sicdoc.models import CareEvent, Conversation
from sicdoc.services import conversations as svc
from sicdoc.services.bundles import process_transaction
from sicdoc.services.resources import create_resource
from tests.integration.conversation_answers import ANA, full_answers

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WHEN = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
OLD_QUESTIONNAIRE = f"{codes.SIC_QUESTIONNAIRE_URL}|1.1.0"


@pytest.fixture
def patient_id(uow):
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-CF"}],
        "name": [{"family": "Rivera", "given": ["Ana"]}],
        "birthDate": "1950-01-02",
    }
    return create_resource(uow, "Patient", body).stored.id


def care_events(session, patient_id):
    rows = session.scalars(
        select(CareEvent).where(CareEvent.patient_id == patient_id, CareEvent.kind == "care_focus")
    ).all()
    return sorted((r.value, r.start_date.isoformat() if r.start_date else None, r.procedure_id) for r in rows)


def test_a_form_conversation_with_comfort_focus_fills_the_conversation_and_a_care_event(
    session, patient_id, uow
):
    signed = svc.sign_draft(
        uow,
        patient_id,
        full_answers(**{"care-focus": codes.COMFORT_FOCUSED, "hopes": "One more summer at the lake"}),
        ANA,
        performed_start=WHEN,
        now=NOW,
    )
    row = session.get(Conversation, signed.procedure_id)
    assert row.care_focus == "LA33475-7"
    assert row.quality_source == "questionnaire-response"
    assert row.quality_domains == "values,prognosis,planning,treatment"
    assert care_events(session, patient_id) == [("LA33475-7", "2026-03-02", signed.procedure_id)]


def _ehr_conversation(patient_id: str, items: list[dict], questionnaire: str) -> dict:
    """A conversation as an EHR posts it: Procedure and a QuestionnaireResponse part of it."""
    procedure = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": codes.SNOMED, "code": codes.ADVANCE_CARE_PLANNING}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "performedPeriod": {"start": "2025-11-03T09:00:00Z", "end": "2025-11-03T09:40:00Z"},
    }
    qr = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2025-11-03T09:40:00Z",
        "partOf": [{"reference": "urn:uuid:6f1c4a52-1d0e-4f7a-9a57-5b7d1c2e3f40"}],
        "item": items,
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f1c4a52-1d0e-4f7a-9a57-5b7d1c2e3f40",
                "resource": procedure,
                "request": {"method": "POST", "url": "Procedure"},
            },
            {"resource": qr, "request": {"method": "POST", "url": "QuestionnaireResponse"}},
        ],
    }


def _procedure_id(result) -> str:
    return next(
        e["response"]["location"].split("/")[1]
        for e in result.response["entry"]
        if e["response"]["location"].startswith("Procedure/")
    )


def test_a_response_to_an_earlier_questionnaire_version_stays_valid_and_its_care_focus_is_read(
    session, patient_id, uow
):
    focus = {"system": codes.LOINC, "code": "LA33474-0", "display": "Selective treatments"}
    items = [
        {"linkId": "goals", "answer": [{"valueString": "See the grandchildren graduate"}]},
        {
            "linkId": "code-status",
            "answer": [{"valueCoding": {"system": codes.SIC_ANSWER_SYSTEM, "code": "dnr"}}],
        },
        {"linkId": "care-focus", "answer": [{"valueCoding": focus}]},
    ]
    result = process_transaction(uow, _ehr_conversation(patient_id, items, OLD_QUESTIONNAIRE))
    pid = _procedure_id(result)
    row = session.get(Conversation, pid)
    assert (row.code_status, row.care_focus) == ("dnr", "LA33474-0")
    assert row.quality_source == "questionnaire-response" and row.quality_domains == "values,treatment"
    # Without the answer (as a 1.1.0 response usually is), nothing is made up.
    other = process_transaction(uow, _ehr_conversation(patient_id, items[:2], OLD_QUESTIONNAIRE))
    assert session.get(Conversation, _procedure_id(other)).care_focus is None


def _observation(patient_id: str, **value) -> dict:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": codes.LOINC, "code": codes.TREATMENT_PREFERENCES}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-01-15T08:00:00Z",
        **value,
    }


@pytest.mark.parametrize("code", sorted(codes.CARE_FOCUS_ANSWERS))
def test_an_ehr_care_focus_observation_is_a_care_event_and_trade_offs_text_is_not(
    session, patient_id, uow, code
):
    coded = _observation(patient_id, valueCodeableConcept={"coding": [{"system": codes.LOINC, "code": code}]})
    create_resource(uow, "Observation", coded)
    create_resource(
        uow, "Observation", _observation(patient_id, valueString="Would go through a short ICU stay")
    )
    assert care_events(session, patient_id) == [(code, "2026-01-15", None)]
