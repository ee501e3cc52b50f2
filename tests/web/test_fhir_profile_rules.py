"""sicdoc's own rules on the FHIR API (sicdoc.fhir.profile), on both databases: a care focus outside
LOINC answer list LL6264-7 and a Location without a type are refused with 422, a hospice episode that
ends before it starts with 400, by REST create, update and bundle entries alike; nothing is written.
Also the EpisodeOfCare and Location search parameters those records are found by."""

import pytest

from sicdoc import codes
from tests.web.fhir_helpers import patient, send, table_counts

ICU = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
    "code": "ICU",
    "display": "Intensive care unit",
}
PREFERENCES = {"coding": [{"system": codes.LOINC, "code": codes.TREATMENT_PREFERENCES}]}


@pytest.fixture
def client(fhir_client):
    return fhir_client


@pytest.fixture
def pid(client):
    resp = send(client, "POST", "/fhir/Patient", patient("PR-1"))
    assert resp.status_code == 201
    return resp.get_json()["id"]


def care_focus(pid, code, system=codes.LOINC, **extra):
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": PREFERENCES,
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-02-01T10:00:00Z",
        "valueCodeableConcept": {"coding": [{"system": system, "code": code}]},
        **extra,
    }


def location(name="Medical ICU", **extra):
    return {"resourceType": "Location", "status": "active", "name": name, **extra}


def hospice(pid, start, end):
    return {
        "resourceType": "EpisodeOfCare",
        "identifier": [{"system": "urn:oid:1.2.9", "value": f"eoc-{start}"}],
        "status": "finished",
        "type": [
            {"coding": [{"system": codes.SNOMED, "code": codes.HOSPICE_CARE, "display": "Hospice care"}]}
        ],
        "patient": {"reference": f"Patient/{pid}"},
        "period": {"start": start, "end": end},
    }


def refused(resp, status, expression):
    """The OperationOutcome names the element; returns its words."""
    assert resp.status_code == status, resp.get_json()
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    found = [i for i in outcome["issue"] if expression in i.get("expression", ())]
    assert found, outcome
    return found[0]["diagnostics"]


def transaction(*resources, method="POST"):
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": method, "url": r["resourceType"]}} for r in resources
        ],
    }


@pytest.mark.parametrize("code", ["LA33476-5", "LA4489-6", "75773-2"])
def test_a_care_focus_outside_the_answer_list_is_422_and_stores_nothing(app, client, pid, code):
    before = table_counts(app)
    resp = send(client, "POST", "/fhir/Observation", care_focus(pid, code))
    words = refused(resp, 422, "Observation.valueCodeableConcept")
    assert "LL6264-7" in words and code in words and "LA33475-7" in words
    assert resp.get_json()["issue"][0]["code"] == "business-rule"
    bundle = send(client, "POST", "/fhir", transaction(care_focus(pid, code)))
    refused(bundle, 422, "Bundle.entry[0].resource.valueCodeableConcept")
    assert table_counts(app) == before


def test_a_care_focus_from_the_answer_list_free_text_or_another_system_is_stored(client, pid):
    for code in codes.CARE_FOCUS_ANSWERS:
        assert send(client, "POST", "/fhir/Observation", care_focus(pid, code)).status_code == 201
    trade_offs = {**care_focus(pid, "x"), "valueString": "Would accept a short ICU stay"}
    del trade_offs["valueCodeableConcept"]
    assert send(client, "POST", "/fhir/Observation", trade_offs).status_code == 201
    local = care_focus(pid, "comfort", system="urn:oid:1.2.3.4")  # an EHR's own code: not read as one
    assert send(client, "POST", "/fhir/Observation", local).status_code == 201
    # Another LOINC Observation with a LOINC answer is no care focus, so the rule leaves it alone.
    other = {**care_focus(pid, "LA6576-8"), "code": {"coding": [{"system": codes.LOINC, "code": "72166-2"}]}}
    assert send(client, "POST", "/fhir/Observation", other).status_code == 201


def test_updating_a_care_focus_to_a_code_outside_the_list_is_refused(app, client, pid):
    created = send(client, "POST", "/fhir/Observation", care_focus(pid, codes.COMFORT_FOCUSED)).get_json()
    before = table_counts(app)
    changed = {**created, "valueCodeableConcept": {"coding": [{"system": codes.LOINC, "code": "LA9999-9"}]}}
    resp = send(client, "PUT", f"/fhir/Observation/{created['id']}", changed)
    refused(resp, 422, "Observation.valueCodeableConcept")
    entry = {"resource": changed, "request": {"method": "PUT", "url": f"Observation/{created['id']}"}}
    batch = send(client, "POST", "/fhir", {"resourceType": "Bundle", "type": "batch", "entry": [entry]})
    assert batch.status_code == 200
    assert batch.get_json()["entry"][0]["response"]["status"] == "422"
    assert table_counts(app) == before
    stored = send(client, "GET", f"/fhir/Observation/{created['id']}").get_json()
    assert stored["meta"]["versionId"] == "1"


def test_a_location_without_a_type_is_422_naming_location_type(app, client):
    before = table_counts(app)
    for body in (location(), location(type=[{"text": "Intensive care"}])):
        words = refused(send(client, "POST", "/fhir/Location", body), 422, "Location.type")
        assert "intensive care" in words
    refused(send(client, "POST", "/fhir", transaction(location())), 422, "Bundle.entry[0].resource.type")
    refused(send(client, "PUT", "/fhir/Location/icu-1", {**location(), "id": "icu-1"}), 422, "Location.type")
    assert table_counts(app) == before
    typed = send(client, "POST", "/fhir/Location", location(type=[{"coding": [ICU]}]))
    assert typed.status_code == 201
    found = send(client, "GET", "/fhir/Location?type=http://terminology.hl7.org/CodeSystem/v3-RoleCode|ICU")
    assert [e["resource"]["id"] for e in found.get_json()["entry"]] == [typed.get_json()["id"]]


def test_a_transaction_with_one_bad_entry_writes_none_of_it(app, client, pid):
    before = table_counts(app)
    bundle = transaction(location(type=[{"coding": [ICU]}]), care_focus(pid, "LA00000-0"))
    resp = send(client, "POST", "/fhir", bundle)
    refused(resp, 422, "Bundle.entry[1].resource.valueCodeableConcept")
    assert table_counts(app) == before
    mixed = transaction(
        location(), {"resourceType": "Location", "status": "nonsense", "type": [{"coding": [ICU]}]}
    )
    assert send(client, "POST", "/fhir", mixed).status_code == 400  # an R4 error too: plain bad input
    assert table_counts(app) == before


def test_a_hospice_episode_ending_before_it_starts_is_refused(app, client, pid):
    before = table_counts(app)
    backwards = hospice(pid, "2026-03-10", "2026-03-01")
    resp = send(client, "POST", "/fhir/EpisodeOfCare", backwards)
    assert 400 <= resp.status_code < 500
    refused(resp, resp.status_code, "EpisodeOfCare.period")
    assert 400 <= send(client, "POST", "/fhir", transaction(backwards)).status_code < 500
    assert table_counts(app) == before


def test_episodes_of_care_are_searchable_and_in_the_patient_compartment(client, pid):
    made = send(client, "POST", "/fhir/EpisodeOfCare", hospice(pid, "2026-03-01", "2026-03-10"))
    assert made.status_code == 201, made.get_json()
    eid = made.get_json()["id"]
    other = send(client, "POST", "/fhir/Patient", patient("PR-2")).get_json()["id"]
    assert (
        send(client, "POST", "/fhir/EpisodeOfCare", hospice(other, "2025-01-01", "2025-01-05")).status_code
        == 201
    )
    for query in (
        f"patient={pid}",
        f"patient=Patient/{pid}",
        "identifier=urn:oid:1.2.9|eoc-2026-03-01",
        "status=finished&date=2026-03",
        f"type={codes.SNOMED}|{codes.HOSPICE_CARE}&date=ge2026-01-01",
    ):
        found = send(client, "GET", f"/fhir/EpisodeOfCare?{query}").get_json()
        assert [e["resource"]["id"] for e in found.get("entry", ())] == [eid], (query, found)
    everything = send(client, "GET", f"/fhir/Patient/{pid}/$everything").get_json()
    assert f"EpisodeOfCare/{eid}" in {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in everything.get("entry", ())
    }
    statement = send(client, "GET", "/fhir/metadata").get_json()
    declared = next(r for r in statement["rest"][0]["resource"] if r["type"] == "EpisodeOfCare")
    assert {p["name"] for p in declared["searchParam"]} >= {"identifier", "patient", "status", "type", "date"}
    location_params = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Location")
    assert "type" in {p["name"] for p in location_params["searchParam"]}
