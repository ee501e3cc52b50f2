"""Dates that make sense: nothing after the patient's death, a conversation within its linked stay.

The forms refuse such dates with a message beside the field; the FHIR API stores them and warns.
"""

import re

import pytest

from sicdoc.services.timing import LATE_ENTRY
from tests.conftest import bearer_client
from tests.web.fhir_helpers import send, table_counts
from tests.web.forms_helpers import (
    answers,
    clinician_client,  # noqa: F401 - this module's ``client``
    new_patient,
)

DIED = "2025-06-01"
OUTCOME = {"Prefer": "return=OperationOutcome"}


def text(resp):
    return resp.get_data(as_text=True)


def field_error(page, control):
    """The message shown beside one control (its error paragraph), or None."""
    found = re.search(rf'<p class="error-text" id="{control}-error">(.*?)</p>', page, re.S)
    return found.group(1) if found else None


def dead_patient(client, mrn="MRN-D1"):
    return new_patient(client, mrn, "Okafor", deceasedDateTime=DIED)


def encounter(client, pid, start, end=None):
    period = {"start": start, **({"end": end} if end else {})}
    body = {
        "resourceType": "Encounter",
        "status": "finished" if end else "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{pid}"},
        "period": period,
    }
    resp = send(client, "POST", "/fhir/Encounter", body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def conversation_procedure(pid, start, encounter_id=None):
    """A serious illness conversation as an EHR would post it."""
    body = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedPeriod": {"start": start},
    }
    if encounter_id:
        body["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return body


def referral(pid, authored_on):
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "306237005"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": authored_on,
    }


def warnings_of(outcome):
    return [i for i in (outcome or {}).get("issue", ()) if i["severity"] == "warning"]


# ---- the conversation form ---------------------------------------------------------------------


@pytest.mark.parametrize("action", ["sign", "save"])
def test_a_conversation_after_death_is_refused_beside_the_date_and_keeps_the_text(app, client, action):
    pid = dead_patient(client)
    before = table_counts(app)
    data = answers(pid, action=action, performed_start="2025-06-02T09:00", goals="See the sea once more")
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    page = text(resp)
    assert resp.status_code == 422
    message = field_error(page, "q-performed_start")
    assert message and "after the patient&#39;s death (2025-06-01)" in message
    assert 'href="#q-performed_start"' in page
    assert "See the sea once more" in page and 'value="2025-06-02T09:00"' in page
    assert table_counts(app) == before


def test_a_late_entry_needs_a_reason_and_is_marked_late(app, client):
    pid = dead_patient(client)
    before = table_counts(app)
    page = text(client.get(f"/patients/{pid}/conversations/new"))
    assert 'id="q-late_reason"' in page and "died on 2025-06-01" in page
    # The day of death itself is before the end of life, so the conversation stands.
    data = answers(pid, action="sign", performed_start="2025-06-01T08:00", goals="Home")
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    assert resp.status_code == 422
    message = field_error(text(resp), "q-late_reason")
    assert message and "late entry" in message and "Home</textarea>" in text(resp)
    assert table_counts(app) == before
    data["late_reason"] = "Notes were on paper during the outage"
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    assert resp.status_code == 302, text(resp)[:2000]
    procedure_id = resp.headers["Location"].rsplit("/", 1)[-1]
    found = client.get(f"/fhir/Provenance?target=Procedure/{procedure_id}").get_json()
    provenance = next(
        e["resource"] for e in found.get("entry", ()) if e["resource"]["resourceType"] == "Provenance"
    )
    assert provenance["reason"] == [{"coding": [LATE_ENTRY], "text": "Notes were on paper during the outage"}]
    assert provenance["occurredDateTime"].startswith("2025-06-01")
    history = text(client.get(f"/conversations/{procedure_id}/history"))
    assert "Late entry: Notes were on paper during the outage" in history
    note = text(client.get(f"/conversations/{procedure_id}"))
    assert "<dt>Late entry</dt>" in note and "Notes were on paper during the outage" in note


def test_a_living_patients_note_needs_no_late_reason(client):
    pid = new_patient(client)
    page = text(client.get(f"/patients/{pid}/conversations/new"))
    assert 'id="q-late_reason"' not in page
    resp = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign"))
    assert resp.status_code == 302
    procedure_id = resp.headers["Location"].rsplit("/", 1)[-1]
    found = client.get(f"/fhir/Provenance?target=Procedure/{procedure_id}").get_json()
    provenance = next(e["resource"] for e in found["entry"])
    assert "reason" not in provenance and "occurredDateTime" not in provenance
    assert "Late entry" not in text(client.get(f"/conversations/{procedure_id}"))


def test_a_conversation_outside_its_linked_stay_is_refused_beside_the_stay(app, client):
    pid = new_patient(client)
    ended = encounter(client, pid, "2025-03-01T10:00:00Z", "2025-03-09T12:00:00Z")
    before = table_counts(app)
    data = answers(pid, action="sign", encounter_id=ended, goals="Walk the dog")
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    page = text(resp)
    assert resp.status_code == 422
    message = field_error(page, "q-encounter")
    assert message and "outside this stay (2025-03-01 to 2025-03-09)" in message
    assert 'href="#q-encounter"' in page and re.search(r'id="q-encounter"[^>]*aria-invalid="true"', page)
    assert f'value="{ended}" selected' in page and "Walk the dog" in page
    assert table_counts(app) == before
    for day in ("2025-03-01T08:00", "2025-03-09T18:00"):  # the days of admission and discharge count
        resp = client.post(
            f"/patients/{pid}/conversations/new",
            data=answers(pid, action="sign", encounter_id=ended, performed_start=day),
        )
        assert resp.status_code == 302


def test_an_ongoing_stay_has_no_end_but_still_a_start(app, client):
    pid = new_patient(client)
    ongoing = encounter(client, pid, "2026-01-02")
    resp = client.post(
        f"/patients/{pid}/conversations/new",
        data=answers(pid, action="save", encounter_id=ongoing, performed_start="2026-01-01T10:00"),
    )
    assert resp.status_code == 422 and "2026-01-02, still ongoing" in field_error(text(resp), "q-encounter")
    resp = client.post(
        f"/patients/{pid}/conversations/new", data=answers(pid, action="sign", encounter_id=ongoing)
    )
    assert resp.status_code == 302


def test_an_amendment_cannot_move_the_conversation_after_death(app, client):
    pid = dead_patient(client)
    data = answers(pid, action="sign", performed_start="2025-05-20T10:00", late_reason="Dictated late")
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    procedure_id = resp.headers["Location"].rsplit("/", 1)[-1]
    before = table_counts(app)
    moved = answers(pid, action="amend", version="1", reason="Wrong day", performed_start="2025-07-01T10:00")
    resp = client.post(f"/conversations/{procedure_id}/amend", data=moved)
    assert resp.status_code == 422
    assert "after the patient&#39;s death" in field_error(text(resp), "q-performed_start")
    assert table_counts(app) == before


# ---- the referral form ------------------------------------------------------------------------


def test_a_referral_after_death_is_refused_and_keeps_the_text(app, client):
    pid = dead_patient(client)
    before = table_counts(app)
    form = {"patient_id": pid, "reason": "Pain at home", "urgency": "urgent", "authored_on": "2025-06-02"}
    resp = client.post(f"/patients/{pid}/referrals", data=form)
    page = text(resp)
    assert resp.status_code == 422
    assert "The referral cannot be after the patient&#39;s death (2025-06-01)." in page
    assert "Pain at home" in page and 'value="2025-06-02"' in page
    assert table_counts(app) == before
    resp = client.post(f"/patients/{pid}/referrals", data={**form, "authored_on": DIED})
    assert resp.status_code == 302


# ---- the FHIR API: stored, with a warning -------------------------------------------------------


def test_a_conversation_posted_after_death_is_stored_with_a_warning(client):
    pid = dead_patient(client)
    resp = send(
        client, "POST", "/fhir/Procedure", conversation_procedure(pid, "2025-06-02T10:00:00Z"), OUTCOME
    )
    assert resp.status_code == 201
    [warning] = warnings_of(resp.get_json())
    assert warning["code"] == "business-rule"
    assert warning["expression"] == ["Procedure.performedPeriod.start"]
    assert "after the patient's death (2025-06-01)" in warning["diagnostics"]
    assert client.get(resp.headers["Location"]).status_code == 200
    plain = send(client, "POST", "/fhir/Procedure", conversation_procedure(pid, "2025-06-03"))
    assert plain.status_code == 201 and plain.get_json()["resourceType"] == "Procedure"
    updated = {**plain.get_json(), "status": "completed"}
    resp = send(client, "PUT", f"/fhir/Procedure/{updated['id']}", updated, OUTCOME)
    assert resp.status_code == 200 and len(warnings_of(resp.get_json())) == 1


def test_a_referral_or_note_posted_after_death_warns_at_its_date(client):
    pid = dead_patient(client)
    resp = send(client, "POST", "/fhir/ServiceRequest", referral(pid, "2025-07-01"), OUTCOME)
    assert resp.status_code == 201
    assert [w["expression"] for w in warnings_of(resp.get_json())] == [["ServiceRequest.authoredOn"]]
    note = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "date": "2025-08-01T10:00:00Z",  # written after the death, about a conversation before it
        "author": [{"display": "Dr Ade"}],
        "title": "Note",
        "event": [{"period": {"start": "2025-05-30T10:00:00Z"}}],
    }
    resp = send(client, "POST", "/fhir/Composition", note, OUTCOME)
    assert resp.status_code == 201 and warnings_of(resp.get_json()) == []
    note["event"][0]["period"]["start"] = "2025-06-05"
    resp = send(client, "POST", "/fhir/Composition", note, OUTCOME)
    assert [w["expression"] for w in warnings_of(resp.get_json())] == [["Composition.event[0].period.start"]]


def test_a_conversation_posted_outside_its_stay_is_stored_with_a_warning(client):
    pid = new_patient(client)
    stay = encounter(client, pid, "2025-03-01", "2025-03-09")
    body = conversation_procedure(pid, "2025-04-01T10:00:00Z", stay)
    resp = send(client, "POST", "/fhir/Procedure", body, OUTCOME)
    assert resp.status_code == 201
    [warning] = warnings_of(resp.get_json())
    assert f"outside Encounter/{stay} (2025-03-01 to 2025-03-09)" in warning["diagnostics"]


def test_a_transaction_entry_after_death_carries_the_warning_in_its_outcome(client):
    pid = dead_patient(client)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": conversation_procedure(pid, "2025-05-01T10:00:00Z"),
                "request": {"method": "POST", "url": "Procedure"},
            },
            {
                "resource": conversation_procedure(pid, "2025-09-01T10:00:00Z"),
                "request": {"method": "POST", "url": "Procedure"},
            },
            {"resource": referral(pid, "2025-09-02"), "request": {"method": "POST", "url": "ServiceRequest"}},
        ],
    }
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert all(e["response"]["status"] == "201 Created" for e in entries)
    assert "outcome" not in entries[0]["response"]
    outcome = entries[1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert [w["expression"] for w in warnings_of(outcome)] == [["Procedure.performedPeriod.start"]]
    assert [w["expression"] for w in warnings_of(entries[2]["response"]["outcome"])] == [
        ["ServiceRequest.authoredOn"]
    ]
    assert send(client, "POST", "/fhir", bundle).get_json()["entry"] == entries  # a re-post answers alike


def test_a_patient_and_a_late_conversation_in_one_transaction_and_in_a_batch(client):
    pid = dead_patient(client)
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-T"}],
        "deceasedDateTime": "2024-04-17",
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5f0a3c4e-0000-4000-8000-000000000001",
                "resource": patient,
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    **conversation_procedure("x", "2026-12-02"),
                    "subject": {"reference": "urn:uuid:5f0a3c4e-0000-4000-8000-000000000001"},
                },
                "request": {"method": "POST", "url": "Procedure"},
            },
        ],
    }
    entries = send(client, "POST", "/fhir", bundle).get_json()["entry"]
    assert "2024-04-17" in warnings_of(entries[1]["response"]["outcome"])[0]["diagnostics"]
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": conversation_procedure(pid, "2025-06-10"),
                "request": {"method": "POST", "url": "Procedure"},
            },
            {
                "resource": conversation_procedure(pid, "2025-05-10"),
                "request": {"method": "POST", "url": "Procedure"},
            },
        ],
    }
    entries = send(client, "POST", "/fhir", batch).get_json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "201 Created"]
    assert len(warnings_of(entries[0]["response"]["outcome"])) == 1
    assert "outcome" not in entries[1]["response"]


def test_a_normal_conversation_gets_no_warning(client):
    pid = new_patient(client)
    resp = send(
        client, "POST", "/fhir/Procedure", conversation_procedure(pid, "2026-01-05T10:00:00Z"), OUTCOME
    )
    assert resp.status_code == 201
    assert [i["severity"] for i in resp.get_json()["issue"]] == ["information"]
    resp = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign"))
    assert resp.status_code == 302


def test_a_client_that_cannot_read_the_patient_is_not_told_of_the_death(app, client):
    pid = dead_patient(client)
    writer = bearer_client(app, "system/Procedure.write")
    resp = send(writer, "POST", "/fhir/Procedure", conversation_procedure(pid, "2025-06-02"), OUTCOME)
    assert resp.status_code == 201
    assert warnings_of(resp.get_json()) == [] and "2025-06-01" not in text(resp)
