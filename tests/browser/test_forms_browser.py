"""A clinician's path through the forms in Chromium, with the keyboard only, and axe-core scans."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import activate, choose, ehr_conversation, scan, tab_to
from tests.conftest import bearer_client
from tests.web.fhir_helpers import patient, send

pytestmark = pytest.mark.browser
SCRIPT = "<script>alert('typed')</script>"


@pytest.fixture(scope="module")
def patient_id(live_app) -> str:  # type: ignore[no-untyped-def]
    body = patient("MRN-4242", "Nakamura", birthDate="1948-05-17")
    resp = send(bearer_client(live_app, "system/*.*"), "POST", "/fhir/Patient", body)
    assert resp.status_code == 201
    return resp.get_json()["id"]


def kept_copies(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.evaluate("() => Object.keys(localStorage).filter(k => k.startsWith('sicdoc:/'))")


def test_find_document_sign_and_amend_with_the_keyboard_only(
    page, base_url, patient_id, axe_source, artifacts
):
    log_in(page, base_url)
    page.goto(f"{base_url}/patients")
    scan(page, axe_source, artifacts, "01-search")
    tab_to(page, "#q")
    page.keyboard.type("Nakamura")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "MRN 4242" in page.inner_text("main") or "MRN-4242" in page.inner_text("main")
    activate(page, f"main a[href='/patients/{patient_id}']")
    assert "No serious illness conversation is recorded yet" in page.inner_text(".chart-header")
    scan(page, axe_source, artifacts, "02-patient-empty")

    activate(page, f"a[href='/patients/{patient_id}/conversations/new']")
    scan(page, axe_source, artifacts, "03-form")
    # Sign too early: the refusal keeps what was typed and points at what is missing.
    tab_to(page, "#q-goals")
    page.keyboard.type("Stay at home. " + SCRIPT)
    activate(page, "button[value=sign]")
    assert page.evaluate("() => document.activeElement.id") == "error-summary"
    assert "Participants: Please answer this question." in page.inner_text("#error-summary")
    assert page.input_value("#q-goals") == "Stay at home. " + SCRIPT
    assert page.locator("button.restore").count() == 0  # the page already shows what was typed
    assert kept_copies(page), "a refused post keeps the browser's copy of the typed text"
    scan(page, axe_source, artifacts, "04-form-errors")

    tab_to(page, "#q-participants-patient")
    page.keyboard.press("Space")
    choose(page, "permission", "agreed")
    choose(page, "prognosis-shared", "yes")
    tab_to(page, "#q-prognosis-comment")
    page.keyboard.type("Probably months.")
    tab_to(page, "#q-recommendation")
    page.keyboard.type("Hospice at home")
    choose(page, "code-status", "dnr")
    tab_to(page, "#q-duration-minutes")
    page.keyboard.type("25")
    activate(page, "button[value=sign]")
    assert "/conversations/" in page.url
    note = page.inner_text("article.note")
    assert SCRIPT in note and "Hospice at home" in note  # shown as text ...
    assert page.dialogs == []  # ... and never run
    scan(page, axe_source, artifacts, "05-note")
    procedure_id = page.url.rsplit("/", 1)[-1]

    activate(page, f"p.actions a[href='/patients/{patient_id}']")
    header = page.inner_text(".chart-header")
    assert "Do not resuscitate" in header and "clinician" in header and "Hospice at home" not in header
    tab_to(page, ".header-details summary")  # the nuanced facts are one key press away
    page.keyboard.press("Enter")
    header = page.inner_text(".chart-header")
    assert "Hospice at home" in header
    assert SCRIPT in header and page.dialogs == []
    assert page.locator(".chart-header").bounding_box()["y"] < 900  # above the fold
    scan(page, axe_source, artifacts, "06-patient")

    activate(page, f".chart-header a[href='/conversations/{procedure_id}']")
    activate(page, f"a[href='/conversations/{procedure_id}/amend']")
    choose(page, "code-status", "full")
    tab_to(page, "#q-prognosis-comment")
    assert page.input_value("#q-prognosis-comment") == ""  # the earlier text is shown above, read-only
    assert "Probably months." in page.inner_text(".earlier-comments")
    scan(page, axe_source, artifacts, "06-amend")
    page.keyboard.type("Family now aware.")
    tab_to(page, "#q-reason")
    page.keyboard.type("Patient changed her mind after talking with family")
    activate(page, "button[value=amend]")
    assert "Amendment saved as version 2" in page.inner_text("main")
    activate(page, f"a[href='/conversations/{procedure_id}/history']")
    history = page.inner_text("main")
    assert "Version 2: amended" in history and "Patient changed her mind" in history
    # The earlier comment is kept as written; the addition follows it with its date and author.
    assert "Probably months." in history and re.search(
        r"\[Added [^\]]+ by clinician\] Family now aware\.", history
    )
    assert kept_copies(page) == []  # confirmed writes leave no patient text in the browser
    scan(page, axe_source, artifacts, "07-history")


def test_text_typed_but_not_sent_is_offered_back_after_a_reload(page, base_url, patient_id):
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{patient_id}/conversations/new")
    tab_to(page, "#q-hopes")
    page.keyboard.type("To see the spring")
    page.wait_for_timeout(800)  # the copy is written shortly after typing stops
    page.reload()
    assert page.input_value("#q-hopes") == ""
    tab_to(page, "button.restore")
    page.keyboard.press("Enter")
    assert page.input_value("#q-hopes") == "To see the spring"
    tab_to(page, "button[value=save]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/drafts/" in page.url and page.input_value("#q-hopes") == "To see the spring"
    assert page.locator("text=Restore unsaved text").count() == 0
    assert kept_copies(page) == []


def test_referral_with_the_keyboard_and_the_note_on_paper(
    page, live_app, base_url, patient_id, axe_source, artifacts
):
    procedure_id = ehr_conversation(live_app, patient_id)
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{patient_id}")
    tab_to(page, "#referral-reason")
    page.keyboard.type("Breathlessness at rest")
    choose(page, "urgency", "asap")
    tab_to(page, "#referral-date")
    page.keyboard.press("Control+a")
    page.keyboard.type("01012999")  # a date in the future, typed into the date control
    activate(page, "form[action$='/referrals'] button[type=submit]")
    assert "cannot be in the future" in page.inner_text("#error-summary")
    assert page.input_value("#referral-reason") == "Breathlessness at rest"
    scan(page, axe_source, artifacts, "08-patient-referral-errors")
    tab_to(page, "#referral-date")
    page.keyboard.press("Control+a")
    page.keyboard.type("01022026")
    activate(page, "form[action$='/referrals'] button[type=submit]")
    assert "Palliative care referral recorded" in page.inner_text("main")
    timeline = page.inner_text("#timeline")
    assert "Palliative care referral" in timeline and "asap" in timeline and "2026-01-02" in timeline

    activate(page, f"#timeline a[href='/conversations/{procedure_id}']")
    assert "Posted by the interface engine" in page.inner_text("article.note")
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible() and not page.locator("p.actions").is_visible()
    assert page.locator("article.note").is_visible()
    page.screenshot(path=str(artifacts / "09-note-print.png"), full_page=True)


def test_a_minimal_later_note_leaves_dnr_dni_in_the_header_with_its_date(
    page, live_app, base_url, axe_source, artifacts
):
    body = patient("MRN-5151", "Achterberg", birthDate="1939-03-08")
    resp = send(bearer_client(live_app, "system/*.*"), "POST", "/fhir/Patient", body)
    pid = resp.get_json()["id"]
    ehr_conversation(
        live_app,
        pid,
        {"code-status": "dnr-dni", "goals": "Stay out of hospital", "health-care-agent": "Son, Pieter"},
        conversation_id="ehr-dni",
    )
    log_in(page, base_url)
    page.goto(f"{base_url}/patients/{pid}/conversations/new")
    tab_to(page, "#q-participants-patient")
    page.keyboard.press("Space")
    choose(page, "permission", "agreed")
    tab_to(page, "#q-duration-minutes")
    page.keyboard.type("10")
    activate(page, "button[value=sign]")
    assert "/conversations/" in page.url
    page.goto(f"{base_url}/patients/{pid}")
    status = page.locator(".code-status-box")
    assert status.locator(".code-status").inner_text() == "Do not resuscitate, do not intubate"
    assert status.bounding_box()["y"] < 500  # read at a glance, above everything else on the chart
    assert "Documented 2025-06-01 by Dr EHR" in status.inner_text()
    gap = status.locator(".gap").inner_text()
    assert gap.startswith("Not recorded in the ") and gap.endswith(
        "note; last documented 2025-06-01 by Dr EHR"
    )
    assert "Son, Pieter" in page.inner_text(".chart-header")
    assert "Stay out of hospital" not in page.inner_text(".chart-header")
    tab_to(page, ".header-details summary")
    page.keyboard.press("Enter")
    assert "Stay out of hospital" in page.inner_text(".header-details")
    scan(page, axe_source, artifacts, "10-patient-header-after-minimal-note")
