"""The end-of-life case review in Chromium: a clinician opens it from the navigation, reads a case and
follows it to the patient's page."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sicdoc import codes
from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import activate, scan
from tests.conftest import bearer_client
from tests.web.fhir_helpers import created, icu_stay, patient, send

pytestmark = pytest.mark.browser

DEATH = date.today().replace(day=1) - timedelta(days=4)  # last month: inside the default period
TALK = DEATH - timedelta(days=25)
ICU_IN = DEATH - timedelta(days=8)


@pytest.fixture(scope="module")
def decedent(live_app) -> str:  # type: ignore[no-untyped-def]
    """A patient whose conversation recorded a comfort focus, then an ICU stay and ventilation."""
    http = bearer_client(live_app, "system/*.*")
    mrn = [{"system": codes.MRN_SYSTEM, "value": "MRN-7701"}]
    pid = created(http, patient("MRN-7701", "Castellanos", identifier=mrn, deceasedDateTime=str(DEATH)))
    doctor = created(
        http, {"resourceType": "Practitioner", "name": [{"family": "Farah", "given": ["Leila"]}]}
    )
    answers = ConversationAnswers(
        patient=f"Patient/{pid}",
        clinician=f"Practitioner/{doctor}",
        performed_start=datetime(TALK.year, TALK.month, TALK.day, 14, tzinfo=UTC),
        answers={
            "participants": ["patient"],
            "permission": "agreed",
            "goals": "Be at home, comfortable",
            "code-status": "dnr",
            "care-focus": codes.COMFORT_FOCUSED,
            "duration-minutes": 30,
        },
    )
    bundle = build_conversation_bundle(answers, conversation_id="review-1", identifier_system="urn:ehr:sic")
    assert send(http, "POST", "/fhir", bundle).status_code == 200
    icu_stay(http, pid, "CCU", "Cardiac ICU", str(ICU_IN), str(DEATH), {"start": str(ICU_IN)})
    created(
        http,
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": codes.SNOMED, "code": codes.MECHANICAL_VENTILATION}]},
            "subject": {"reference": f"Patient/{pid}"},
            "performedDateTime": str(ICU_IN),
        },
    )
    return pid


def test_open_the_review_read_a_case_and_follow_it_to_the_patient(
    page, base_url, decedent, axe_source, artifacts
):
    log_in(page, base_url)
    activate(page, "nav a[href='/reviews/end-of-life']")
    assert page.locator("h1").inner_text() == "End-of-life case review"
    row = page.locator(f"tr[data-patient='{decedent}']")
    text = row.inner_text()
    assert "Ana Castellanos" in text and "MRN MRN-7701" in text
    assert "Comfort-focused care, then ICU, CPR or mechanical ventilation in the last 30 days" in text
    assert (
        f"Care focus Comfort-focused treatments, documented {TALK.isoformat()} in a conversation by" in text
    )
    assert "Leila Farah" in text
    assert f"ICU stay {ICU_IN.isoformat()} to (no end recorded), Cardiac ICU" in text
    assert f"Mechanical ventilation {ICU_IN.isoformat()}" in text
    assert f"Death {DEATH.isoformat()}: In the ICU" in text
    scan(page, axe_source, artifacts, "60-case-review")

    activate(page, f"tr[data-patient='{decedent}'] a[href='/patients/{decedent}']")
    assert page.url.endswith(f"/patients/{decedent}")
    assert "Castellanos" in page.inner_text("main")
