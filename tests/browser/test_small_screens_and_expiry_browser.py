"""A clinician's pages on a phone, and a session that expires while a note is being written."""

from __future__ import annotations

import pytest

from sicdoc.db import session_scope
from sicdoc.services import accounts
from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import ehr_conversation, scan
from tests.conftest import PASSWORD, bearer_client
from tests.web.fhir_helpers import patient, send, stroke

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def chart(live_app) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A patient with a long name and an EHR-posted conversation: (patient id, procedure id)."""
    body = patient("MRN-77001234", "Hernández-Vasconcelos", birthDate="1941-02-11")
    body["name"][0]["given"] = ["Maria-Guadalupe", "Esperanza"]
    http = bearer_client(live_app, "system/*.*")
    resp = send(http, "POST", "/fhir/Patient", body)
    assert resp.status_code == 201
    pid = resp.get_json()["id"]
    due = send(http, "POST", "/fhir/Patient", patient("MRN-77005678", "Okonkwo-Abernathy")).get_json()["id"]
    assert send(http, "POST", "/fhir/Condition", stroke(due)).status_code == 201  # fills the worklist
    return pid, ehr_conversation(live_app, pid)


@pytest.fixture
def phone(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _overflow(page) -> list[str]:  # type: ignore[no-untyped-def]
    """What sticks out to the right of the screen (empty when the page fits)."""
    return page.evaluate(
        """() => {
          const width = window.innerWidth;
          if (document.documentElement.scrollWidth <= width) return [];
          return [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 1)
            .slice(0, 8)
            .map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                       + ' ' + Math.round(el.getBoundingClientRect().right) + 'px');
        }"""
    )


def test_every_clinician_page_fits_a_360_pixel_screen(phone, base_url, chart, axe_source, artifacts):
    pid, procedure_id = chart
    phone.goto(f"{base_url}/login")
    assert _overflow(phone) == [], "login"
    log_in(phone, base_url)
    pages = {
        "home": "/",
        "search": "/patients?q=Hern",
        "patient": f"/patients/{pid}",
        "new-conversation": f"/patients/{pid}/conversations/new",
        "carried-forward": f"/patients/{pid}/conversations/new?from={procedure_id}",
        "note": f"/conversations/{procedure_id}",
        "history": f"/conversations/{procedure_id}/history",
        "amend": f"/conversations/{procedure_id}/amend",
        "entered-in-error": f"/conversations/{procedure_id}/entered-in-error",
        "worklist": "/worklist",
    }
    for name, path in pages.items():
        phone.goto(f"{base_url}{path}")
        assert phone.url.endswith(path), (name, phone.url)
        assert _overflow(phone) == [], name
        if name == "worklist":
            assert phone.locator("table.worklist tbody tr").count() >= 1, "the worklist shows a patient"
    phone.goto(f"{base_url}/patients/{pid}")
    logout = phone.locator(".site-header button:has-text('Log out')")
    box = logout.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], "Log out is off the screen"
    scan(phone, axe_source, artifacts, "20-patient-at-360px")


def test_an_expired_session_on_sign_comes_back_to_the_form_with_the_text(page, live_app, base_url, chart):
    pid, _ = chart
    log_in(page, base_url)
    form = f"{base_url}/patients/{pid}/conversations/new"
    page.goto(form)
    page.fill("#q-goals", "To walk my daughter down the aisle in June")
    page.wait_for_timeout(600)  # the copy is written shortly after typing stops
    [cookie] = [c for c in page.context.cookies() if c["name"] == "sicdoc_session"]
    with session_scope(live_app) as s:
        accounts.forget_session(s, cookie["value"])  # as the idle timeout would

    with page.expect_navigation():
        page.click("button[value=sign]")
    assert "/login" in page.url
    assert "Your session has ended" in page.inner_text("#login-reason")

    page.fill("input[name=username]", "clinician")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert page.url == form
    assert page.input_value("#q-goals") == "To walk my daughter down the aisle in June"
    assert "before you were logged out" in page.inner_text("main")
