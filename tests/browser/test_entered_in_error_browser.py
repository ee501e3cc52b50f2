"""A note on the wrong patient marked entered in error in Chromium, with the keyboard only, and axe scans."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import activate, ehr_conversation, scan, tab_to
from tests.conftest import bearer_client
from tests.web.fhir_helpers import patient, send

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chart(live_app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A patient with one conversation documenting DNR: (patient id, procedure id)."""
    body = patient("MRN-5150", "Abernathy", birthDate="1939-03-02")
    resp = send(bearer_client(live_app, "system/*.*"), "POST", "/fhir/Patient", body)
    assert resp.status_code == 201
    pid = resp.get_json()["id"]
    extra = {"code-status": "dnr", "goals": "Meant for another patient"}
    return pid, ehr_conversation(live_app, pid, extra, conversation_id="wrong-patient-1")


def test_a_note_marked_entered_in_error_leaves_the_header_and_stays_in_history(
    page, base_url, chart, axe_source, artifacts
):
    pid, procedure_id = chart
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{pid}")
    assert "Do not resuscitate" in page.inner_text(".chart-header")

    activate(page, f"a[href$='/conversations/{procedure_id}']")
    activate(page, f"a[href$='/conversations/{procedure_id}/entered-in-error']")
    assert page.inner_text("h1") == "Mark this note entered in error"
    scan(page, axe_source, artifacts, "30-entered-in-error-confirm")

    activate(page, "main form button[type=submit]")  # no reason yet: refused beside the field
    assert "Say why this note is entered in error" in page.inner_text("#eie-reason-error")
    assert page.get_attribute("#eie-reason", "aria-invalid") == "true"
    scan(page, axe_source, artifacts, "31-entered-in-error-refused")

    tab_to(page, "#eie-reason")
    page.keyboard.type("Wrong patient: written in the chart of the next bed")
    activate(page, "main form button[type=submit]")
    banner = page.inner_text("#entered-in-error")
    assert "Entered in error" in banner and "written in the chart of the next bed" in banner
    assert "clinician" in banner and page.locator("a", has_text="Amend").count() == 0
    scan(page, axe_source, artifacts, "32-entered-in-error-note")

    activate(page, f"a[href$='/patients/{pid}']")
    assert "No serious illness conversation is recorded yet" in page.inner_text(".chart-header")
    assert "Do not resuscitate" not in page.inner_text(".chart-header")
    timeline = page.inner_text("#timeline")
    assert "Serious illness conversation (entered in error)" in timeline
    assert "written in the chart of the next bed" in timeline

    page.goto(f"{base_url}/conversations/{procedure_id}/history")
    history = page.inner_text("main")
    assert "marked entered in error" in history and "written in the chart of the next bed" in history
    scan(page, axe_source, artifacts, "33-entered-in-error-history")
