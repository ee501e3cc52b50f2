"""ACP billing support: CPT 99497/99498 from the documented minutes and the permission answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from sicdoc.conversation.billing import (
    CPT,
    NEEDS_VOLUNTARY,
    SUGGESTION_URL,
    VOLUNTARY_STATEMENT,
    acp_billing,
    billing_section,
    suggested_codes,
)
from sicdoc.fhir.validation import validate_resource


def codes_of(minutes: int | None, permission: str | None = "agreed") -> list[tuple[str, int]]:
    return [(line.code, line.units) for line in acp_billing(minutes, permission).lines]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (0, []),
        (15, []),
        (16, [("99497", 1)]),
        (30, [("99497", 1)]),
        (45, [("99497", 1)]),
        (46, [("99497", 1), ("99498", 1)]),
        (75, [("99497", 1), ("99498", 1)]),
        (76, [("99497", 1), ("99498", 2)]),
        (105, [("99497", 1), ("99498", 2)]),
        (106, [("99497", 1), ("99498", 3)]),
    ],
)
def test_codes_follow_the_midpoint_rule(minutes, expected):
    assert codes_of(minutes) == expected


def test_time_is_stated_and_under_16_minutes_says_the_minimum_is_not_met():
    text = " ".join(acp_billing(15, "agreed").sentences)
    assert "15 minutes" in text and "does not meet the 16-minute minimum for CPT 99497" in text
    assert VOLUNTARY_STATEMENT in text
    suggested = " ".join(acp_billing(76, "agreed").sentences)
    assert "76 minutes" in suggested and "CPT 99497 × 1" in suggested and "CPT 99498 × 2" in suggested


def test_no_duration_suggests_nothing_and_says_why():
    billing = acp_billing(None, "agreed")
    assert billing.lines == () and billing.minutes is None
    assert "not recorded" in billing.sentences[0]


@pytest.mark.parametrize("permission", ["declined", "later", None])
def test_without_permission_there_is_no_consent_statement_and_no_code(permission):
    billing = acp_billing(40, permission)
    assert billing.lines == () and not billing.voluntary
    assert VOLUNTARY_STATEMENT not in billing.sentences
    assert NEEDS_VOLUNTARY in billing.sentences and "40 minutes" in billing.sentences[0]


def test_the_section_carries_the_narrative_and_the_coded_suggestion():
    section = billing_section(acp_billing(50, "agreed"), "urn:uuid:qr")
    assert section["title"] == "Advance care planning billing"
    assert section["entry"] == [{"reference": "urn:uuid:qr"}]
    assert "CPT 99498 × 1" in section["text"]["div"]
    assert suggested_codes(section) == [("99497", 1), ("99498", 1)]
    assert all(ext["url"] == SUGGESTION_URL for ext in section["extension"])
    assert section["extension"][0]["extension"][0]["valueCoding"] == {"system": CPT, "code": "99497"}
    assert "extension" not in billing_section(acp_billing(10, "agreed"), "urn:uuid:qr")


def test_every_built_note_ends_with_a_valid_billing_section():
    answers = ConversationAnswers(
        patient="Patient/p-1",
        clinician="Practitioner/pr-1",
        performed_start=datetime(2026, 1, 5, 10, tzinfo=UTC),
        answers={"participants": ["patient"], "permission": "declined", "duration-minutes": 20},
    )
    bundle = build_conversation_bundle(answers, conversation_id="b-1", identifier_system="urn:test")
    note = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition")
    qr_url = next(
        e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    validate_resource(note)
    section = note["section"][-1]
    assert section["code"]["coding"][0]["code"] == "acp-billing"
    assert section["entry"] == [{"reference": qr_url}]
    assert suggested_codes(section) == [] and "voluntary participation" in section["text"]["div"]
