"""Resources that break an R4 invariant are refused on every write path, naming the invariant and
the element, and nothing is stored: create, update, batch and transaction."""

import pytest

from tests.web.fhir_helpers import patient, send, table_counts


@pytest.fixture
def client(fhir_client):
    return fhir_client


def data_counts(app):
    """Row counts of every table but the audit trail's, which records refused requests too."""
    return {name: n for name, n in table_counts(app).items() if not name.startswith("audit_")}


def organization(oid, name="Clinic"):
    return {"resourceType": "Organization", "id": oid, "name": name}


def risk(pid, probability):
    return {
        "resourceType": "RiskAssessment",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "prediction": [{"outcome": {"text": "Death within a year"}, "probabilityDecimal": probability}],
    }


def collection(*full_urls):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": url, "resource": patient(f"B-{i}", family="Collected")}
            for i, url in enumerate(full_urls)
        ],
    }


# (name, resource given a stored patient's id, invariant, element below the resource, a valid twin)
CASES = [
    (
        "two contained resources with one id",
        lambda pid: patient(
            "I-1",
            contained=[organization("o1"), organization("o1", "Other clinic")],
            managingOrganization={"reference": "#o1"},
        ),
        "dom-3",
        "contained[1].id",
        lambda pid: patient("I-1", contained=[organization("o1")], managingOrganization={"reference": "#o1"}),
    ),
    (
        "a contained resource nothing refers to",
        lambda pid: patient("I-2", contained=[organization("o2")]),
        "dom-3",
        "contained[0]",
        lambda pid: patient("I-2"),
    ),
    (
        "a local reference with no contained match",
        lambda pid: patient("I-3", managingOrganization={"reference": "#nowhere"}),
        "ref-1",
        "managingOrganization.reference",
        lambda pid: patient("I-3", managingOrganization={"display": "Somewhere"}),
    ),
    (
        "a probability of 150 percent",
        lambda pid: risk(pid, 150),
        "ras-2",
        "prediction[0]",
        lambda pid: risk(pid, 15),
    ),
    (
        "a string over 1 MB",
        lambda pid: patient("I-5", family="x" * (1024 * 1024 + 1)),
        "1 MB",
        "name[0].family",
        lambda pid: patient("I-5", family="x" * 1024),
    ),
    (
        "a collection bundle with relative fullUrls",
        lambda pid: collection("Patient/1", "Patient/2"),
        "Bundle.entry.fullUrl",
        "entry[0].fullUrl",
        lambda pid: collection(
            "https://ehr.example.org/fhir/Patient/1", f"urn:uuid:{'0' * 8}-0000-4000-8000-{'0' * 12}"
        ),
    ),
    (
        "a collection bundle with a version-specific fullUrl",
        lambda pid: collection("https://ehr.example.org/fhir/Patient/1/_history/2"),
        "bdl-8",
        "entry[0]",
        lambda pid: collection("https://ehr.example.org/fhir/Patient/1"),
    ),
]
IDS = [case[0] for case in CASES]


def only_issue(resp):
    return only_issue_of(resp.get_json())


def assert_names(found, key, where):
    assert found["expression"] == [where], found
    assert key in found["diagnostics"], found
    assert found["code"] in ("invariant", "too-long"), found


@pytest.fixture
def pid(client):
    resp = send(client, "POST", "/fhir/Patient", patient("I-0"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@pytest.mark.parametrize(("name", "make", "key", "below", "valid"), CASES, ids=IDS)
def test_create_refuses_and_stores_nothing(app, client, pid, name, make, key, below, valid):
    resource = make(pid)
    rtype = resource["resourceType"]
    before = data_counts(app)
    resp = send(client, "POST", f"/fhir/{rtype}", resource)
    assert resp.status_code in (400, 422), resp.get_json()
    assert_names(only_issue(resp), key, f"{rtype}.{below}")
    assert data_counts(app) == before
    ok = send(client, "POST", f"/fhir/{rtype}", valid(pid))
    assert ok.status_code == 201, ok.get_json()


@pytest.mark.parametrize(("name", "make", "key", "below", "valid"), CASES, ids=IDS)
def test_update_refuses_and_keeps_the_stored_version(app, client, pid, name, make, key, below, valid):
    rtype = make(pid)["resourceType"]
    first = send(client, "PUT", f"/fhir/{rtype}/inv-1", {**valid(pid), "id": "inv-1"})
    assert first.status_code == 201, first.get_json()
    before = data_counts(app)
    resp = send(client, "PUT", f"/fhir/{rtype}/inv-1", {**make(pid), "id": "inv-1"})
    assert resp.status_code in (400, 422), resp.get_json()
    assert_names(only_issue(resp), key, f"{rtype}.{below}")
    assert data_counts(app) == before
    assert send(client, "GET", f"/fhir/{rtype}/inv-1").get_json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(("name", "make", "key", "below", "valid"), CASES, ids=IDS)
def test_transaction_refuses_whole(app, client, pid, name, make, key, below, valid):
    resource = make(pid)
    rtype = resource["resourceType"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient("I-9"), "request": {"method": "POST", "url": "Patient"}},
            {"resource": resource, "request": {"method": "POST", "url": rtype}},
        ],
    }
    before = data_counts(app)
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code in (400, 422), resp.get_json()
    assert_names(only_issue(resp), key, f"Bundle.entry[1].resource.{below}")
    assert data_counts(app) == before


@pytest.mark.parametrize(("name", "make", "key", "below", "valid"), CASES, ids=IDS)
def test_batch_refuses_the_entry(app, client, pid, name, make, key, below, valid):
    resource = make(pid)
    rtype = resource["resourceType"]
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": resource, "request": {"method": "POST", "url": rtype}},
            {"resource": valid(pid), "request": {"method": "POST", "url": rtype}},
        ],
    }
    before = table_counts(app)["resource"]
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    bad, good = resp.get_json()["entry"]
    assert bad["response"]["status"] in ("400", "422"), bad
    assert_names(only_issue_of(bad["response"]["outcome"]), key, f"Bundle.entry[0].resource.{below}")
    assert good["response"]["status"] == "201 Created", good
    assert table_counts(app)["resource"] == before + 1


def only_issue_of(outcome):
    """The first issue; every issue names the same invariant (two relative fullUrls make two)."""
    assert outcome["resourceType"] == "OperationOutcome", outcome
    first = outcome["issue"][0]
    assert all(i["diagnostics"].split(":")[0] == first["diagnostics"].split(":")[0] for i in outcome["issue"])
    return first


def test_synthea_style_contained_medication_is_accepted(app, client, pid):
    request = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "contained": [{"resourceType": "Medication", "id": "m1", "code": {"text": "Morphine"}}],
        "medicationReference": {"reference": "#m1"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    resp = send(client, "POST", "/fhir/MedicationRequest", request)
    assert resp.status_code == 201, resp.get_json()
