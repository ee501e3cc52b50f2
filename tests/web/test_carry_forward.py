"""Carry-forward, the structured health care agent and participants by name, through the forms."""

import html
import re
from datetime import UTC, datetime

import pytest

from sicdoc import codes
from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from sicdoc.services.conversations.carry import NOT_CARRIED
from tests.web.fhir_helpers import send, table_counts
from tests.web.forms_helpers import (
    answers,
    clinician_client,  # noqa: F401 - this module's ``client``
    new_patient,
    text,
)

AGENT = {
    "health-care-agent-name": "Rita Shah",
    "health-care-agent-relationship": "sister",
    "health-care-agent-phone": "617-555-0142",
}
MARK = "Carried forward from the 2026-10-02 note by clinician"  # then the author's words
REFUSED = "is not one of this patient&#39;s signed notes"  # as escaped in the page


def post(client, pid, **extra):
    return client.post(f"/patients/{pid}/conversations/new", data=answers(pid, **extra))


def sign(client, pid, when="2026-10-02T09:00", **extra):
    resp = post(client, pid, action="sign", performed_start=when, **extra)
    assert resp.status_code == 302, text(resp)[:2000]
    return resp.headers["Location"].rsplit("/", 1)[-1]


def marked(page, link_id):
    found = re.search(rf'<p class="carried" id="q-{link_id}-carried" data-carried>([^<]*)</p>', page)
    return html.unescape(found.group(1)) if found else None


def resources(client, query):
    return [e["resource"] for e in client.get(f"/fhir/{query}").get_json().get("entry", [])]


def test_the_new_form_offers_the_last_conversation_and_fills_it_in_marked(client):
    pid = new_patient(client)
    assert "Start from the last conversation" not in text(client.get(f"/patients/{pid}/conversations/new"))
    first = sign(client, pid, **{"code-status": "dnr-dni", "participant-names": "Dr Okoye"}, **AGENT)
    page = text(client.get(f"/patients/{pid}/conversations/new"))
    link = f"/patients/{pid}/conversations/new?from={first}"
    assert f'href="{link}"' in page and "Start from the last conversation (2026-10-02)" in page

    page = text(client.get(link))
    assert "Started from the note of 2026-10-02 by clinician" in page
    assert f'name="carried_from" value="{first}"' in page
    assert "To be at home with my grandchildren</textarea>" in page
    assert 'value="dnr-dni" checked' in page and 'value="Rita Shah"' in page
    for link_id in ("goals", "code-status", "health-care-agent-name", "illness-understanding"):
        assert marked(page, link_id).startswith(MARK), link_id
        assert f"q-{link_id}-carried" in page.split(f'id="q-{link_id}"')[1].split(">")[0]  # described by
    # This conversation's own facts start blank: date, who took part, permission, capacity, duration.
    assert {"participants", "participant-names", "permission"} <= NOT_CARRIED
    for link_id in NOT_CARRIED:
        assert marked(page, link_id) is None
    assert 'value="patient" checked' not in page and 'value="agreed" checked' not in page
    assert "Dr Okoye" not in page and 'value="40"' not in page
    assert 'value="2026-10-02T09:00"' not in page


def test_carried_answers_are_editable_and_signing_stores_the_edited_values(client):
    pid = new_patient(client)
    first = sign(client, pid, **AGENT)
    # What the browser sends back: the carried answers, two of them edited.
    edited = {**AGENT, "carried_from": first, "goals": "To see the spring"}
    edited["health-care-agent-phone"] = "617-555-0199"
    # A refused post keeps the marks on answers still as carried, not on the edited ones.
    page = text(post(client, pid, action="sign", permission=None, **edited))
    assert marked(page, "goals") is None and marked(page, "health-care-agent-phone") is None
    assert marked(page, "recommendation") and marked(page, "health-care-agent-name")
    assert "To see the spring</textarea>" in page

    second = sign(client, pid, when="2026-11-30T10:00", **edited)
    (qr,) = resources(client, f"QuestionnaireResponse?part-of=Procedure/{second}")
    stored = {i["linkId"]: i["answer"][0] for i in qr["item"]}
    assert stored["goals"] == {"valueString": "To see the spring"}
    assert stored["health-care-agent-phone"] == {"valueString": "617-555-0199"}
    (prov,) = resources(client, f"Provenance?target=Procedure/{second}")
    assert {"role": "source", "what": {"reference": f"Procedure/{first}"}} in prov["entity"]
    page = text(client.get(f"/patients/{pid}"))
    assert "To see the spring" in page and "Rita Shah (sister), 617-555-0199" in page


def test_a_draft_begun_from_an_earlier_note_keeps_its_marks(client):
    pid = new_patient(client)
    first = sign(client, pid)
    resp = post(client, pid, action="save", carried_from=first, goals="Home by Christmas")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"?from={first}")
    page = text(client.get(resp.headers["Location"]))
    assert marked(page, "recommendation").startswith(MARK)
    assert marked(page, "goals") is None and "Home by Christmas</textarea>" in page


@pytest.mark.parametrize("how", ["other-patient", "unknown"])
def test_a_carry_forward_from_another_patients_note_is_refused_and_stores_nothing(app, client, how):
    pid = new_patient(client)
    other = new_patient(client, "MRN-2", "Okafor")
    theirs = sign(client, other, goals="Another patient's private goal") if how == "other-patient" else "nope"
    page = text(client.get(f"/patients/{pid}/conversations/new?from={theirs}"))
    resp = client.get(f"/patients/{pid}/conversations/new?from={theirs}")
    assert resp.status_code == 422
    assert REFUSED in page and 'id="carry-forward-error"' in page and 'href="#carry-forward"' in page
    assert "Another patient's private goal" not in page and 'name="carried_from"' not in page

    before = table_counts(app)
    for action in ("sign", "save"):
        resp = post(client, pid, action=action, carried_from=theirs, goals="Typed by hand")
        page = text(resp)
        assert resp.status_code == 422 and REFUSED in page
        assert "Typed by hand</textarea>" in page  # the typed text is kept
        assert 'name="carried_from"' not in page  # so sending it again goes through
    assert table_counts(app) == before


def test_the_structured_agent_is_a_related_person_and_heads_the_chart(client):
    pid = new_patient(client)
    procedure = sign(client, pid, **AGENT)
    (person,) = resources(client, f"RelatedPerson?patient={pid}")
    assert person["patient"] == {"reference": f"Patient/{pid}"}
    assert person["name"] == [{"text": "Rita Shah"}]
    assert person["telecom"] == [{"system": "phone", "value": "617-555-0142"}]
    assert person["relationship"][0]["coding"][0]["code"] == "HPOWATT"
    assert person["relationship"][1] == {"text": "sister"}
    note = text(client.get(f"/conversations/{procedure}"))
    assert "Rita Shah" in note and "617-555-0142" in note
    header = text(client.get(f"/patients/{pid}")).split('id="latest-heading"')[1].split("</section>")[0]
    assert "Rita Shah (sister), 617-555-0142" in header
    assert "Maria Rivera (daughter)" not in header  # the structured agent wins over the free text

    sign(client, pid, when="2026-11-30T10:00")  # free text only, as notes before the fields were
    header = text(client.get(f"/patients/{pid}")).split('id="latest-heading"')[1].split("</section>")[0]
    assert "Maria Rivera (daughter)" in header
    assert len(resources(client, f"RelatedPerson?patient={pid}")) == 1


def test_a_bad_phone_or_details_without_a_name_are_refused_beside_the_field(app, client):
    pid = new_patient(client)
    before = table_counts(app)
    page = text(post(client, pid, action="sign", **{**AGENT, "health-care-agent-phone": "call me"}))
    assert 'id="q-health-care-agent-phone-error"' in page and "for example 617-555-0142" in page
    assert 'value="call me"' in page
    page = text(post(client, pid, action="sign", **{"health-care-agent-relationship": "son"}))
    assert 'id="q-health-care-agent-relationship-error"' in page and "name too" in page
    assert table_counts(app) == before


def test_participants_by_name_are_in_the_note(client):
    pid = new_patient(client)
    procedure = sign(client, pid, **{"participant-names": "Maria Rivera (daughter), Dr Chen (oncology)"})
    note = text(client.get(f"/conversations/{procedure}"))
    assert "Names of those present" in note
    assert "Maria Rivera (daughter), Dr Chen (oncology)" in note
    (composition,) = resources(client, f"Composition?subject=Patient/{pid}")
    section = next(s for s in composition["section"] if s["title"] == "Participants")
    assert "Dr Chen (oncology)" in section["text"]["div"] and "Family member" in section["text"]["div"]


def test_an_amendment_that_drops_the_agent_withdraws_the_related_person(client):
    pid = new_patient(client)
    procedure = sign(client, pid, **AGENT)
    data = answers(
        pid, action="amend", version="1", reason="Wrong person named", **{"prognosis-comment": None}
    )
    resp = client.post(f"/conversations/{procedure}/amend", data=data)
    assert resp.status_code == 302, text(resp)[:2000]
    (person,) = resources(client, f"RelatedPerson?patient={pid}")
    assert person["active"] is False and person["meta"]["versionId"] == "2"
    header = text(client.get(f"/patients/{pid}")).split('id="latest-heading"')[1].split("</section>")[0]
    assert "Rita Shah" not in header


def test_a_response_to_the_earlier_questionnaire_version_still_reads_and_carries_forward(client):
    """Version 1.1.0 only added items, so an EHR's response naming 1.0.0 is read as before."""
    pid = new_patient(client)
    earlier = ConversationAnswers(
        patient=f"Patient/{pid}",
        clinician="Practitioner/ehr-doctor",
        clinician_display="Dr EHR",
        performed_start=datetime(2026, 10, 2, 14, 0, tzinfo=UTC),
        answers={
            "participants": ["patient"],
            "permission": "agreed",
            "goals": "Walk the dog",
            "health-care-agent": "Ann Lee, niece",
            "duration-minutes": 20,
        },
    )
    bundle = build_conversation_bundle(earlier, conversation_id="v1", identifier_system="urn:ehr:sic")
    qr = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    qr["questionnaire"] = f"{codes.SIC_QUESTIONNAIRE_URL}|1.0.0"
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    procedure = next(
        e["response"]["location"].split("/")[1]
        for e in resp.get_json()["entry"]
        if e["response"]["location"].startswith("Procedure/")
    )
    assert "Ann Lee, niece" in text(client.get(f"/patients/{pid}"))
    page = text(client.get(f"/patients/{pid}/conversations/new?from={procedure}"))
    assert "Walk the dog</textarea>" in page and marked(page, "goals").startswith("Carried forward")
    assert 'value="Ann Lee, niece"' in page and marked(page, "health-care-agent")
