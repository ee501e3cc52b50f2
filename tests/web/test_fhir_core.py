"""First FHIR endpoints: metadata, create, read, vread, and bad input that stores nothing."""

import json

import pytest
from sqlalchemy import func, select

from sicdoc.models import Resource

FHIR = "application/fhir+json"
PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-7"}],
    "name": [{"family": "Nguyen", "given": ["Lan"]}],
    "gender": "female",
    "birthDate": "1951-07-09",
}


def post(client, path, body, content_type=FHIR):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(path, data=data, headers={"Content-Type": content_type})


def stored_count(app):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return s.scalar(select(func.count()).select_from(Resource))


def test_metadata_is_an_r4_capability_statement(client):
    resp = client.get("/fhir/metadata")
    assert resp.status_code == 200
    assert resp.mimetype == FHIR
    body = resp.get_json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    assert {"application/fhir+json"} <= set(body["format"])
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Procedure", "QuestionnaireResponse"} <= types


def test_create_then_read_returns_the_same_resource(fhir_client, app):
    client = fhir_client
    resp = post(client, "/fhir/Patient", PATIENT)
    assert resp.status_code == 201
    created = resp.get_json()
    rid = created["id"]
    assert resp.headers["Location"].endswith(f"/fhir/Patient/{rid}/_history/1")
    assert resp.headers["ETag"] == 'W/"1"'
    assert created["meta"]["versionId"] == "1"
    got = client.get(f"/fhir/Patient/{rid}")
    assert got.status_code == 200
    assert got.get_json() == created
    assert got.headers["ETag"] == 'W/"1"'
    assert client.get(f"/fhir/Patient/{rid}/_history/1").get_json() == created
    assert client.get(f"/fhir/Patient/{rid}/_history/2").status_code == 404


def test_unknown_ids_and_types_are_outcomes(fhir_client):
    client = fhir_client
    missing = client.get("/fhir/Patient/nope")
    assert missing.status_code == 404
    assert missing.get_json()["resourceType"] == "OperationOutcome"
    unknown = client.get("/fhir/Spaceship/1")
    assert unknown.status_code == 400
    assert unknown.get_json()["issue"][0]["code"] == "not-supported"
    nowhere = client.get("/fhir/a/b/c/d/e")
    assert nowhere.status_code == 404
    assert nowhere.mimetype == FHIR


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "fragment"),
    [
        ("/fhir/Patient", b"{not json", FHIR, 400, "not valid JSON"),
        ("/fhir/Patient", b"just text", FHIR, 400, "not valid JSON"),
        ("/fhir/Patient", json.dumps(PATIENT), "text/plain", 415, "Content-Type"),
        ("/fhir/Patient", {**PATIENT, "favouriteColour": "blue"}, FHIR, 400, "Unknown element"),
        ("/fhir/Patient", {**PATIENT, "active": "yes"}, FHIR, 400, "Patient.active"),
        ("/fhir/Patient", {**PATIENT, "birthDate": "1951-02-30"}, FHIR, 400, "Patient.birthDate"),
        ("/fhir/Patient", {**PATIENT, "name": []}, FHIR, 400, "Empty array"),
        ("/fhir/Patient", {**PATIENT, "resourceType": "Encounter"}, FHIR, 400, "resourceType"),
        ("/fhir/Spaceship", {"resourceType": "Spaceship"}, FHIR, 400, "not an R4 resource type"),
        (
            "/fhir/Patient",
            b'{"resourceType": "Patient", "gender": "male", "gender": "female"}',
            FHIR,
            400,
            "Duplicate",
        ),
        ("/fhir/Patient", b'{"resourceType": "Patient", "multipleBirthDecimal": NaN}', FHIR, 400, "NaN"),
        ("/fhir/Patient", b"[" * 5000 + b"]" * 5000, FHIR, 400, "nesting"),
    ],
)
def test_bad_input_is_a_4xx_outcome_and_stores_nothing(
    fhir_client, app, path, body, content_type, status, fragment
):
    resp = post(fhir_client, path, body, content_type)
    assert resp.status_code == status
    assert resp.mimetype == FHIR
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert fragment in json.dumps(outcome)
    assert stored_count(app) == 0


def test_wrong_method_keeps_allow_header(client):
    resp = client.delete("/fhir/metadata")
    assert resp.status_code == 405
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert "GET" in resp.headers["Allow"]


def test_body_too_large_is_413_outcome(app, fhir_client):
    client = fhir_client
    app.config["MAX_CONTENT_LENGTH"] = 1000
    resp = post(client, "/fhir/Patient", {**PATIENT, "name": [{"family": "x" * 2000}]})
    assert resp.status_code == 413
    assert resp.get_json()["issue"][0]["code"] == "too-costly"
    assert stored_count(app) == 0
