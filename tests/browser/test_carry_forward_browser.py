"""Carry-forward in Chromium: start from the last note, see each carried answer marked, edit, sign."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import activate, choose, scan, tab_to
from tests.conftest import bearer_client
from tests.web.fhir_helpers import patient, send

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def earlier(live_app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A patient with one signed conversation naming a DNR/DNI, goals and a health care agent."""
    http = bearer_client(live_app, "system/*.*")
    resp = send(http, "POST", "/fhir/Patient", patient("MRN-5151", "Haddad", birthDate="1941-02-03"))
    assert resp.status_code == 201
    patient_id = resp.get_json()["id"]
    answers = ConversationAnswers(
        patient=f"Patient/{patient_id}",
        clinician="Practitioner/ehr-doctor",
        clinician_display="Dr Farah",
        performed_start=datetime(2026, 10, 2, 14, 0, tzinfo=UTC),
        answers={
            "participants": ["patient", "family"],
            "participant-names": "Samir Haddad (son)",
            "permission": "agreed",
            "goals": "Stay in the garden as long as possible",
            "recommendation": "Hospice at home when walking gets hard",
            "code-status": "dnr-dni",
            "health-care-agent-name": "Samir Haddad",
            "health-care-agent-relationship": "son",
            "health-care-agent-phone": "617-555-0101",
            "duration-minutes": 30,
        },
    )
    bundle = build_conversation_bundle(answers, conversation_id="carry-1", identifier_system="urn:ehr:sic")
    resp = send(http, "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    locations = [e["response"]["location"] for e in resp.get_json()["entry"]]
    return patient_id, next(loc.split("/")[1] for loc in locations if loc.startswith("Procedure/"))


def test_start_from_the_last_conversation_confirm_edit_and_sign(
    page, base_url, earlier, axe_source, artifacts
):
    patient_id, procedure_id = earlier
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{patient_id}/conversations/new")
    assert page.input_value("#q-goals") == ""
    activate(page, f"a[href='/patients/{patient_id}/conversations/new?from={procedure_id}']")

    assert "Started from the note of 2026-10-02 by Dr Farah" in page.inner_text("#carry-forward")
    assert page.input_value("#q-goals") == "Stay in the garden as long as possible"
    assert page.is_checked("#q-code-status-dnr-dni")
    assert page.input_value("#q-health-care-agent-name") == "Samir Haddad"
    marks = page.locator("[data-carried]")
    assert marks.count() == 6  # goals, recommendation, code status, agent's name, relationship, phone
    assert page.is_visible("#q-goals-carried")
    # This conversation's own facts are left to the clinician.
    assert not page.is_checked("#q-participants-patient") and not page.is_checked("#q-permission-agreed")
    assert page.input_value("#q-participant-names") == "" and page.input_value("#q-duration-minutes") == ""
    scan(page, axe_source, artifacts, "carry-01-form")

    # Editing a carried answer takes its mark away; the others keep theirs.
    tab_to(page, "#q-goals")
    page.keyboard.press("End")
    page.keyboard.type(", and see the grandchildren")
    assert "Edited" in page.inner_text("#q-goals-carried")
    assert page.locator("[data-carried]").count() == 5
    tab_to(page, "#q-participants-patient")
    page.keyboard.press("Space")
    choose(page, "permission", "agreed")
    tab_to(page, "#q-duration-minutes")
    page.keyboard.type("20")
    activate(page, "button[value=sign]")

    assert "/conversations/" in page.url
    note = page.inner_text("article.note")
    assert "Stay in the garden as long as possible, and see the grandchildren" in note
    assert "Hospice at home when walking gets hard" in note and "Samir Haddad" in note
    page.goto(f"{base_url}/patients/{patient_id}")
    header = page.inner_text(".chart-header")
    assert "Do not resuscitate, do not intubate" in header
    assert "Samir Haddad (son), 617-555-0101" in header


def test_a_tampered_note_id_is_refused_beside_the_form(
    page, base_url, earlier, live_app, axe_source, artifacts
):
    patient_id, _ = earlier
    http = bearer_client(live_app, "system/*.*")
    resp = send(http, "POST", "/fhir/Patient", patient("MRN-5152", "Other"))
    other = resp.get_json()["id"]
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{other}/conversations/new?from={earlier[1]}")
    assert "not one of this patient's signed notes" in page.inner_text("#carry-forward")
    assert page.input_value("#q-goals") == ""
    assert "Earlier note to start from" in page.inner_text("#error-summary")
    scan(page, axe_source, artifacts, "carry-02-refused")
    assert patient_id != other
