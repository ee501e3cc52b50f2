"""Transaction and batch bundles: atomicity, placeholder rewriting, idempotency, concurrency."""

import threading
import uuid

import pytest

from tests.conftest import client_token
from tests.web.fhir_helpers import patient, send, table_counts


@pytest.fixture
def client(fhir_client):
    """Every request in this module carries a bearer token with every FHIR scope."""
    return fhir_client


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def conversation_bundle(mrn="T-1", identifier=None):
    p, enc, proc = urn(), urn(), urn()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": p,
                "resource": patient(mrn),
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier=urn:oid:1.2.3|{mrn}",
                },
            },
            {
                "fullUrl": enc,
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                    "subject": {"reference": p},
                    "identifier": [{"system": "urn:enc", "value": f"{mrn}-E"}],
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
            {
                "fullUrl": proc,
                "resource": {
                    "resourceType": "Procedure",
                    "status": "completed",
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
                    "subject": {"reference": p},
                    "encounter": {"reference": enc},
                    "performedDateTime": "2025-03-04T10:00:00Z",
                    "identifier": [{"system": "urn:sic", "value": f"{mrn}-SIC"}],
                },
                "request": {"method": "POST", "url": "Procedure"},
            },
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "subject": {"reference": p},
                    "content": [{"attachment": {"url": proc, "contentType": "text/plain"}}],
                    "text": {
                        "status": "generated",
                        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{proc}">the conversation</a></div>',
                    },
                },
                "request": {"method": "POST", "url": "DocumentReference"},
            },
        ],
    }
    if identifier:
        bundle["identifier"] = {"system": "urn:bundles", "value": identifier}
    return bundle


def post_bundle(client, bundle, headers=None):
    return send(client, "POST", "/fhir", bundle, headers)


def test_transaction_rewrites_every_placeholder(client):
    resp = post_bundle(client, conversation_bundle())
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["type"] == "transaction-response"
    locations = [e["response"]["location"] for e in body["entry"]]
    assert [loc.split("/")[0] for loc in locations] == [
        "Patient",
        "Encounter",
        "Procedure",
        "DocumentReference",
    ]
    patient_ref = "/".join(locations[0].split("/")[:2])
    procedure_ref = "/".join(locations[2].split("/")[:2])
    proc = send(client, "GET", "/fhir/" + procedure_ref).get_json()
    assert proc["subject"]["reference"] == patient_ref
    assert proc["encounter"]["reference"] == "/".join(locations[1].split("/")[:2])
    doc = send(client, "GET", "/fhir/" + "/".join(locations[3].split("/")[:2])).get_json()
    assert doc["content"][0]["attachment"]["url"] == procedure_ref  # uri elements too, not only references
    assert f'href="{procedure_ref}"' in doc["text"]["div"]  # and links in the narrative


def test_a_bad_entry_in_the_middle_leaves_every_table_as_it_was(client, app):
    post_bundle(client, conversation_bundle("A-0"))
    before = table_counts(app)
    bundle = conversation_bundle("A-1")
    bundle["entry"][2]["resource"]["status"] = "finishedx"
    resp = post_bundle(client, bundle)
    assert resp.status_code == 400
    outcome = resp.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"][0].startswith("Bundle.entry[2]")
    assert table_counts(app) == before


def test_a_failure_at_write_time_rolls_everything_back(client, app):
    existing = send(client, "POST", "/fhir/Patient", patient("W-1")).get_json()
    before = table_counts(app)
    bundle = conversation_bundle("W-2")
    bundle["entry"].insert(0, {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}})
    # The Encounter's identifier is taken by nobody, but a PUT with a stale If-Match fails late.
    bundle["entry"].append(
        {
            "resource": {**existing, "gender": "male"},
            "request": {"method": "PUT", "url": f"Patient/{existing['id']}X", "ifMatch": 'W/"4"'},
        }
    )
    resp = post_bundle(client, bundle)
    assert resp.status_code in (400, 412)
    assert table_counts(app) == before
    assert send(client, "GET", f"/fhir/Patient/{existing['id']}").status_code == 200


def test_unresolved_placeholder_is_an_error(client, app):
    bundle = conversation_bundle("U-1")
    bundle["entry"][2]["resource"]["encounter"]["reference"] = urn()
    resp = post_bundle(client, bundle)
    assert resp.status_code == 400
    assert "not the fullUrl" in resp.get_json()["issue"][0]["diagnostics"]
    assert table_counts(app)["resource"] == 0


def test_conditional_reference_is_resolved_inside_the_transaction(client):
    pid = send(client, "POST", "/fhir/Patient", patient("CR-1")).get_json()["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {
                    "resourceType": "ServiceRequest",
                    "status": "active",
                    "intent": "order",
                    "subject": {"reference": "Patient?identifier=urn:oid:1.2.3|CR-1"},
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "306237005"}]},
                    "authoredOn": "2025-05-01",
                },
                "request": {"method": "POST", "url": "ServiceRequest"},
            }
        ],
    }
    resp = post_bundle(client, bundle)
    assert resp.status_code == 200
    loc = resp.get_json()["entry"][0]["response"]["location"]
    sr = send(client, "GET", "/fhir/" + "/".join(loc.split("/")[:2])).get_json()
    assert sr["subject"]["reference"] == f"Patient/{pid}"
    bundle["entry"][0]["resource"]["subject"]["reference"] = "Patient?identifier=urn:oid:1.2.3|NOPE"
    assert post_bundle(client, bundle).status_code == 400


def test_a_conditional_create_that_matches_is_answered_with_what_it_found_whatever_it_holds(client, app):
    """A matched conditional create's resource is ignored (FHIR's conditional create): a reference in
    it that resolves to nothing does not fail the bundle, and its placeholder names the match."""
    org = {
        "resourceType": "Organization",
        "identifier": [{"system": "urn:oid:1.2.9", "value": "ORG-1"}],
        "name": "Plainfield",
    }
    existing = send(client, "POST", "/fhir/Organization", org).get_json()["id"]
    org_urn = urn()
    sent = {**org, "partOf": {"reference": "Organization?identifier=urn:oid:1.2.9|NOWHERE"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": org_urn,
                "resource": sent,
                "request": {
                    "method": "POST",
                    "url": "Organization",
                    "ifNoneExist": "identifier=urn:oid:1.2.9|ORG-1",
                },
            },
            {
                "resource": {**patient("CM-1"), "managingOrganization": {"reference": org_urn}},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    resp = post_bundle(client, bundle)
    assert resp.status_code == 200, resp.get_json()
    statuses = [e["response"]["status"] for e in resp.get_json()["entry"]]
    assert statuses == ["200 OK", "201 Created"]
    stored = send(client, "GET", f"/fhir/Organization/{existing}").get_json()
    assert "partOf" not in stored and stored["meta"]["versionId"] == "1"
    location = resp.get_json()["entry"][1]["response"]["location"]
    made = send(client, "GET", "/fhir/" + "/".join(location.split("/")[:2])).get_json()
    assert made["managingOrganization"]["reference"] == f"Organization/{existing}"
    assert table_counts(app)["resource"] == 2


def test_reposting_the_same_bundle_stores_nothing_and_answers_the_same(client, app):
    bundle = conversation_bundle("I-1")
    first = post_bundle(client, bundle)
    after_first = table_counts(app)
    second = post_bundle(client, bundle)
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert table_counts(app) == after_first


def test_same_identifier_different_content_is_409(client, app):
    post_bundle(client, conversation_bundle("B-1", identifier="batch-77"))
    before = table_counts(app)
    resp = post_bundle(client, conversation_bundle("B-2", identifier="batch-77"))
    assert resp.status_code == 409
    assert table_counts(app) == before


def test_overlapping_identities_fail_the_transaction(client, app):
    pid = send(client, "POST", "/fhir/Patient", patient("OV-1")).get_json()
    entry = {"resource": pid, "request": {"method": "PUT", "url": f"Patient/{pid['id']}"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    resp = post_bundle(client, bundle)
    assert resp.status_code == 400
    assert "both write" in resp.get_json()["issue"][0]["diagnostics"]


def test_batch_entries_succeed_or_fail_on_their_own(client, app):
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": patient("BA-1"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": {**patient("BA-2"), "gender": "F"}, "request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "GET", "url": "Patient?identifier=urn:oid:1.2.3|BA-1"}},
        ],
    }
    resp = post_bundle(client, bundle)
    assert resp.status_code == 200
    entries = resp.get_json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "400"
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["resource"]["total"] == 1
    assert table_counts(app)["resource"] == 1


def authorized(app, token):
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return http


def test_ten_concurrent_identical_posts_leave_one_copy(app):
    bundle = conversation_bundle("CC-1")
    statuses, bodies = [], []
    token = client_token(app, "system/*.*")

    def worker():
        resp = send(authorized(app, token), "POST", "/fhir", bundle)
        statuses.append(resp.status_code)
        bodies.append(resp.get_json())

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 10, bodies
    assert all(b == bodies[0] for b in bodies)
    counts = table_counts(app)
    assert counts["resource"] == 4
    assert counts["bundle_receipt"] == 1


def test_ten_concurrent_conditional_creates_leave_one_patient(app):
    statuses = []
    token = client_token(app, "system/*.*")

    def worker():
        resp = send(
            authorized(app, token),
            "POST",
            "/fhir/Patient",
            patient("RACE-1"),
            {"If-None-Exist": "identifier=urn:oid:1.2.3|RACE-1"},
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 9 + [201]
    assert table_counts(app)["resource"] == 1


def test_twenty_concurrent_updates_with_one_etag_give_one_winner(app, client):
    created = send(client, "POST", "/fhir/Patient", patient("L-1")).get_json()
    statuses = []
    token = client_token(app, "system/*.*")

    def worker(n):
        resp = send(
            authorized(app, token),
            "PUT",
            f"/fhir/Patient/{created['id']}",
            {**created, "name": [{"family": f"N{n}"}]},
            {"If-Match": 'W/"1"'},
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [412] * 19
    assert table_counts(app)["resource_version"] == 2
