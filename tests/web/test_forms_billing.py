"""ACP billing support on a signed note and in its Composition, on both databases."""

import html

from sicdoc.conversation.billing import NEEDS_VOLUNTARY, SUGGESTION_URL, VOLUNTARY_STATEMENT, suggested_codes
from tests.web.forms_helpers import (
    clinician_client,  # noqa: F401 - this module's ``client``
    new_patient,
    sign,
    text,
)


def note_page(client, pid, **extra):
    procedure_id = sign(client, pid, **extra)
    return html.unescape(text(client.get(f"/conversations/{procedure_id}")))


def billing_section(client, pid):
    body = client.get(f"/fhir/Composition?patient={pid}").get_json()
    notes = [e["resource"] for e in body.get("entry") or ()]
    assert len(notes) == 1, body
    return next(s for s in notes[0]["section"] if s["title"] == "Advance care planning billing")


def test_a_signed_note_suggests_99497_and_99498_with_the_consent_statement(client):
    pid = new_patient(client)
    page = note_page(client, pid, **{"duration-minutes": "50"})
    assert "Advance care planning billing" in page
    assert "Time spent in advance care planning: 50 minutes." in page
    assert "CPT 99497 × 1 (first 30 minutes)" in page and "CPT 99498 × 1" in page
    assert VOLUNTARY_STATEMENT in page and NEEDS_VOLUNTARY not in page
    section = billing_section(client, pid)
    assert suggested_codes(section) == [("99497", 1), ("99498", 1)]
    assert section["extension"][0]["url"] == SUGGESTION_URL
    assert section["entry"][0]["reference"].startswith("QuestionnaireResponse/")
    assert "CPT 99498" in section["text"]["div"]


def test_under_16_minutes_the_note_says_the_minimum_is_not_met(client):
    pid = new_patient(client)
    page = note_page(client, pid, **{"duration-minutes": "15"})
    assert "15 minutes" in page and "does not meet the 16-minute minimum for CPT 99497" in page
    assert "CPT 99497 ×" not in page
    assert suggested_codes(billing_section(client, pid)) == []


def test_without_permission_no_consent_statement_and_a_visible_warning(client):
    pid = new_patient(client)
    page = note_page(client, pid, permission="declined", **{"duration-minutes": "40"})
    assert VOLUNTARY_STATEMENT not in page and NEEDS_VOLUNTARY in page
    assert "CPT 99497 ×" not in page
    section = billing_section(client, pid)
    assert suggested_codes(section) == [] and "extension" not in section
