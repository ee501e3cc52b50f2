"""The audit log as FHIR AuditEvent: only for tokens that name AuditEvent, never written through the API."""

import json

from sicdoc.fhir.validation import validate_resource
from tests.conftest import PATIENT_JSON, bearer_client, login

FHIR = {"Content-Type": "application/fhir+json"}


def test_auditors_search_the_log_as_audit_events(app, users, fhir_client):
    created = fhir_client.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR).get_json()
    fhir_client.get(f"/fhir/Patient/{created['id']}")
    login(app.test_client(), "clinician")
    auditor = bearer_client(app, "system/AuditEvent.read")
    resp = auditor.get(f"/fhir/AuditEvent?patient=Patient/{created['id']}")
    assert resp.status_code == 200, resp.get_json()
    bundle = resp.get_json()
    assert bundle["type"] == "searchset"
    events = [e["resource"] for e in bundle["entry"]]
    assert [e["action"] for e in events] == ["R", "C"]  # newest first
    for event in events:
        validate_resource(event)
        assert {"reference": f"Patient/{created['id']}"} in [x["what"] for x in event["entity"]]
    logins = auditor.get("/fhir/AuditEvent?subtype=login").get_json()["entry"]
    assert logins[0]["resource"]["agent"][0]["who"]["identifier"]["value"] == "clinician"
    assert logins[0]["resource"]["type"]["code"] == "110114"
    assert auditor.get("/fhir/AuditEvent?agent=clinician&date=2000-01-01").get_json()["total"] == 0
    assert auditor.get("/fhir/AuditEvent?name=x").status_code == 400
    assert auditor.get("/fhir/AuditEvent?date=yesterday").status_code == 400
    searches = auditor.get("/fhir/AuditEvent?subtype=audit-search").get_json()
    assert searches["total"] == 3  # each earlier successful search was audited too


def test_wildcard_scopes_do_not_reach_the_audit_log(app, fhir_client):
    resp = fhir_client.get("/fhir/AuditEvent")  # system/*.*
    assert resp.status_code == 403
    forged = {
        "resourceType": "AuditEvent",
        "type": {"code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "agent": [{"requestor": True}],
        "source": {"observer": {"display": "x"}},
    }
    resp = fhir_client.post("/fhir/AuditEvent", data=json.dumps(forged), headers=FHIR)
    assert resp.status_code == 403
    writer = bearer_client(app, "system/AuditEvent.write")
    resp = writer.post("/fhir/AuditEvent", data=json.dumps(forged), headers=FHIR)
    assert resp.status_code == 405
