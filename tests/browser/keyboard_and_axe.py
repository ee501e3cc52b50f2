"""What the browser tests do as a keyboard user and as an accessibility checker, and a conversation
posted as an EHR would, for the pages to show."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from tests.conftest import bearer_client
from tests.web.fhir_helpers import send

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def tab_to(page, selector: str, limit: int = 300) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the focused element matches ``selector``: proves it is reachable by keyboard."""
    for _ in range(limit):
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def choose(page, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    """Pick a radio button the keyboard way: Tab into the group, then arrow keys."""
    tab_to(page, f"input[type=radio][name='{name}']")
    for _ in range(12):
        if page.evaluate("() => document.activeElement.value") == value:
            page.keyboard.press("Space")
            return
        page.keyboard.press("ArrowRight")
    raise AssertionError(f"no option {value} in {name}")


def activate(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    tab_to(page, selector)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def scan(page, axe_source: str, artifacts, name: str) -> None:  # type: ignore[no-untyped-def]
    """No serious or critical WCAG 2.1 A/AA violations; a screenshot for people to look at."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    page.evaluate(axe_source)  # evaluated by the test driver, so the page's CSP stays untouched
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_AA)
    bad = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {json.dumps(bad, indent=1)}"


def ehr_conversation(  # type: ignore[no-untyped-def]
    live_app, patient_id: str, extra: dict | None = None, conversation_id: str = "ehr-1"
) -> str:
    """A conversation posted as an EHR would, built by the same code the form uses."""
    answers = ConversationAnswers(
        patient=f"Patient/{patient_id}",
        clinician="Practitioner/ehr-doctor",
        clinician_display="Dr EHR",
        performed_start=datetime(2025, 6, 1, 9, 0, tzinfo=UTC),
        answers={
            "participants": ["patient"],
            "permission": "agreed",
            "recommendation": "Posted by the interface engine",
            "duration-minutes": 15,
            **(extra or {}),
        },
    )
    bundle = build_conversation_bundle(
        answers, conversation_id=conversation_id, identifier_system="urn:ehr:sic"
    )
    resp = send(bearer_client(live_app, "system/*.*"), "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    locations = [e["response"]["location"] for e in resp.get_json()["entry"]]
    return next(loc.split("/")[1] for loc in locations if loc.startswith("Procedure/"))
