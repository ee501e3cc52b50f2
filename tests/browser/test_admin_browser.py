"""An administrator records a clinician's name and registers a client in Chromium; axe-core scans the pages."""

from __future__ import annotations

import pytest

from tests.browser.conftest import log_in
from tests.browser.keyboard_and_axe import scan
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def admin_name(live_app) -> str:  # type: ignore[no-untyped-def]
    from sicdoc.services import accounts

    with live_app.extensions["sicdoc.sessionmaker"]() as session:
        accounts.create_user(session, "root", PASSWORD, "admin")
    return "root"


def test_admin_names_a_clinician_and_registers_a_client(page, base_url, admin_name, axe_source, artifacts):
    log_in(page, base_url, admin_name)
    page.goto(f"{base_url}/admin/users")
    with page.expect_navigation():
        page.click("a[href='/admin/users/clinician']")
    page.fill("#name", "Ada Okafor")
    page.fill("#credentials", "MD")
    page.fill("#npi", "1234567890")
    with page.expect_navigation():
        page.click("text=Save name")
    assert "last digit must check out" in page.inner_text("main")
    scan(page, axe_source, artifacts, "30-admin-person-errors")
    page.fill("#npi", "1234567893")
    page.fill("#service", "Palliative care")
    with page.expect_navigation():
        page.click("text=Save name")
    assert "Ada Okafor, MD (Palliative care)" in page.inner_text("main")

    page.goto(f"{base_url}/admin/clients")
    page.fill("#name", "lab feed")
    page.fill("#scopes", "system/*.read")
    page.check("#secret")
    with page.expect_navigation():
        page.click("form[action='/admin/clients'] button[type=submit]")
    assert "Client secret:" in page.inner_text("main")
    scan(page, axe_source, artifacts, "31-admin-client-registered")
