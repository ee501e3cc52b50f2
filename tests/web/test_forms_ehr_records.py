"""The clinician forms over records an EHR posted: referrals, encounters, conversations without form answers."""

import re

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from sicdoc.conversation.form import parse_form
from sicdoc.models import Conversation, PalliativeReferral
from tests.web.fhir_helpers import send, table_counts
from tests.web.forms_helpers import (
    XSS,
    answers,
    clinician_client,  # noqa: F401 - this module's ``client``
    ehr_patient,
    new_patient,
    save,
    text,
)


def test_referral_form_stores_a_palliative_service_request(app, client):
    ehr_pid, _ = ehr_patient(client)
    conditions = client.get(f"/fhir/Condition?patient={ehr_pid}").get_json()["entry"]
    condition_id = conditions[0]["resource"]["id"]
    page = text(client.get(f"/patients/{ehr_pid}"))
    assert f'value="{condition_id}"' in page and "Refer to palliative care" in page
    data = {
        "patient_id": ehr_pid,
        "authored_on": "2024-04-02",  # the patient died on 2024-04-22
        "reason": "Symptoms " + XSS,
        "urgency": "urgent",
        "condition_id": condition_id,
    }
    resp = client.post(f"/patients/{ehr_pid}/referrals", data=data)
    assert resp.status_code == 302
    found = client.get(
        f"/fhir/ServiceRequest?patient={ehr_pid}&code=http://snomed.info/sct|306237005&priority=urgent"
    ).get_json()
    ours = [e["resource"] for e in found["entry"] if e["resource"].get("priority") == "urgent"]
    assert len(ours) == 1
    request = ours[0]
    assert (
        request["intent"] == "order"
        and request["status"] == "active"
        and request["authoredOn"] == "2024-04-02"
    )
    assert request["reasonReference"] == [{"reference": f"Condition/{condition_id}"}]
    with app.extensions["sicdoc.sessionmaker"]() as s:
        row = s.scalar(
            select(PalliativeReferral).where(PalliativeReferral.service_request_id == request["id"])
        )
    assert row is not None and row.patient_id == ehr_pid and str(row.authored_date) == "2024-04-02"
    page = text(client.get(f"/patients/{ehr_pid}"))
    assert "Symptoms &lt;script&gt;" in page and XSS not in page
    other = new_patient(client, "MRN-9", "Else")
    before = table_counts(app)
    bad = {**data, "authored_on": "2999-01-01", "reason": "Kept text", "urgency": "whenever"}
    resp = client.post(f"/patients/{ehr_pid}/referrals", data=bad)
    page = text(resp)
    assert resp.status_code == 422 and "cannot be in the future" in page and "Kept text" in page
    assert "Choose routine, urgent" in page and 'aria-invalid="true"' in page
    resp = client.post(f"/patients/{other}/referrals", data={**data, "patient_id": other})
    assert resp.status_code == 400  # a diagnosis of another patient
    assert table_counts(app) == before


def test_a_conversation_posted_without_form_answers_is_shown_but_not_amendable(client):
    pid = new_patient(client)
    procedure = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": "2025-03-04T10:00:00Z",
    }
    procedure_id = send(client, "POST", "/fhir/Procedure", procedure).get_json()["id"]
    page = text(client.get(f"/conversations/{procedure_id}"))
    assert "no note text" in page and "/amend" not in page
    assert client.get(f"/conversations/{procedure_id}/amend").status_code == 422
    assert "Version 1: signed" in text(client.get(f"/conversations/{procedure_id}/history"))
    assert "2025-03-04" in text(client.get(f"/patients/{pid}")).split('id="latest-heading"')[1]


def test_amending_an_ehr_posted_conversation_keeps_where_it_took_place(app, client):
    ehr_pid, _ = ehr_patient(client)
    procedure = client.get(f"/fhir/Procedure?patient={ehr_pid}").get_json()["entry"][0]["resource"]
    assert procedure.get("encounter") and procedure.get("location")
    form = text(client.get(f"/conversations/{procedure['id']}/amend"))
    assert 'name="version" value="1"' in form
    raw = MultiDict(re.findall(r'<input type="checkbox"[^>]*name="([^"]+)" value="([^"]+)" checked', form))
    for name, value in re.findall(r'<input type="radio"[^>]*name="([^"]+)" value="([^"]*)" checked', form):
        raw.add(name, value)
    for name, value in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form):
        raw.add(name, value.replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"'))
    for name, value in re.findall(
        r'<input type="(?:text|datetime-local)"[^>]*name="([^"]+)" value="([^"]*)"', form
    ):
        raw.add(name, value)
    assert parse_form(raw.getlist)[1] == {}
    data = {
        **raw.to_dict(flat=False),
        "patient_id": ehr_pid,
        "version": "1",
        "reason": "Add hopes",
        "hopes": "A summer",
    }
    resp = client.post(f"/conversations/{procedure['id']}/amend", data=data)
    assert resp.status_code == 302, text(resp)[:3000]
    amended = client.get(f"/fhir/Procedure/{procedure['id']}").get_json()
    assert amended["meta"]["versionId"] == "2"
    assert amended["encounter"] == procedure["encounter"] and amended["location"] == procedure["location"]
    assert amended["performer"] == procedure["performer"]
    with app.extensions["sicdoc.sessionmaker"]() as s:
        row = s.get(Conversation, procedure["id"])
    assert row.encounter_id == procedure["encounter"]["reference"].split("/")[1]


def test_a_conversation_is_linked_to_the_stay_it_happened_in_and_only_the_patients_own(app, client):
    ehr_pid, _ = ehr_patient(client)
    encounters = client.get(f"/fhir/Encounter?patient={ehr_pid}").get_json()["entry"]
    stay = next(e["resource"] for e in encounters if e["resource"].get("location"))
    page = text(client.get(f"/patients/{ehr_pid}/conversations/new"))
    assert (
        f'<option value="{stay["id"]}"' in page
        and '<label for="q-encounter">Admission or visit</label>' in page
    )
    other = new_patient(client, "MRN-5", "Stranger")
    before = table_counts(app)
    resp = client.post(
        f"/patients/{other}/conversations/new", data=answers(other, action="sign", encounter_id=stay["id"])
    )
    assert resp.status_code == 400
    resp = client.post(
        f"/patients/{other}/conversations/new", data=answers(other, action="save", encounter_id="nope")
    )
    assert resp.status_code == 400
    assert table_counts(app) == before
    # Within the stay, which was before the patient's death: signed now, it is a late entry.
    during = stay["period"]["start"][:10] + "T23:00"
    draft_id = save(client, ehr_pid, encounter_id=stay["id"], performed_start=during)
    assert f'<option value="{stay["id"]}" selected' in text(client.get(f"/drafts/{draft_id}"))
    late = {"performed_start": during, "late_reason": "Written up from the ward notes"}
    resp = client.post(
        f"/drafts/{draft_id}",
        data=answers(ehr_pid, action="sign", version="1", encounter_id=stay["id"], **late),
    )
    procedure_id = resp.headers["Location"].rsplit("/", 1)[-1]
    procedure = client.get(f"/fhir/Procedure/{procedure_id}").get_json()
    assert procedure["encounter"] == {"reference": f"Encounter/{stay['id']}"}
    assert procedure["location"]["reference"] == stay["location"][0]["location"]["reference"]
    with app.extensions["sicdoc.sessionmaker"]() as s:
        row = s.get(Conversation, procedure_id)
    assert row.encounter_id == stay["id"] and row.unit == stay["location"][-1]["location"].get("display")
