"""The worklist in Chromium: who is in hospital now, the filters, and a snooze, with the keyboard only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import activate, scan, tab_to
from tests.conftest import bearer_client
from tests.web.fhir_helpers import patient, send, stroke

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ward(live_app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Two patients due a conversation after a stroke; one of them is on Ward 7B now."""
    http = bearer_client(live_app, "system/*.*")
    ids = {}
    for key, mrn, family in (
        ("inpatient", "MRN-55001", "Ferreira"),
        ("outpatient", "MRN-55002", "Nakashima"),
    ):
        ids[key] = send(http, "POST", "/fhir/Patient", patient(mrn, family)).get_json()["id"]
        assert send(http, "POST", "/fhir/Condition", stroke(ids[key])).status_code == 201
    stay = {
        "resourceType": "Encounter",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{ids['inpatient']}"},
        "period": {"start": f"{date.today() - timedelta(days=1)}T08:00:00Z"},
        "location": [{"location": {"display": "Ward 7B"}}],
    }
    assert send(http, "POST", "/fhir/Encounter", stay).status_code == 201
    return ids


def _rows(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("table.worklist tbody tr td:first-child a").all_inner_texts()


def test_in_hospital_first_then_the_filter_then_a_snooze(page, base_url, ward, axe_source, artifacts):
    log_in(page, base_url)
    page.goto(f"{base_url}/worklist")
    assert _rows(page) == ["Ana Ferreira", "Ana Nakashima"]
    assert "In hospital: Ward 7B" in page.locator("table.worklist tbody tr").first.inner_text()
    scan(page, axe_source, artifacts, "30-worklist")

    tab_to(page, "input[name=in_hospital]")
    page.keyboard.press("Space")
    activate(page, ".filters button[type=submit]")
    assert "in_hospital=1" in page.url and _rows(page) == ["Ana Ferreira"]

    page.goto(f"{base_url}/worklist")
    tab_to(page, "table.worklist tbody tr:nth-child(2) summary")
    page.keyboard.press("Enter")  # opens the snooze form
    tab_to(page, "table.worklist tbody tr:nth-child(2) input[name=until]")
    page.fill("table.worklist tbody tr:nth-child(2) input[name=until]", date.today().isoformat())
    tab_to(page, "table.worklist tbody tr:nth-child(2) input[name=reason]")
    page.keyboard.type("Family meeting on Friday")
    activate(page, "table.worklist tbody tr:nth-child(2) form.snooze button")
    assert "The date must be after today." in page.inner_text("table.worklist")
    row = page.locator("table.worklist tbody tr:nth-child(2)")
    assert row.locator("input[name=reason]").input_value() == "Family meeting on Friday"
    scan(page, axe_source, artifacts, "31-worklist-snooze-error")

    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    page.fill("table.worklist tbody tr:nth-child(2) input[name=until]", tomorrow)
    activate(page, "table.worklist tbody tr:nth-child(2) form.snooze button")
    assert _rows(page) == ["Ana Ferreira"] and "Snoozed patients (1)" in page.inner_text("main")
    activate(page, "#snoozed-link")
    assert _rows(page) == ["Ana Nakashima"]
    assert f"Until {tomorrow}: Family meeting on Friday" in page.inner_text("table.worklist")
