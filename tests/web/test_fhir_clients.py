"""Real FHIR clients from PyPI (fhirpy and fhirclient) against a live server process."""

import pytest
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient

from tests.live_server import bearer_token, live_server
from tests.web.fhir_helpers import patient


@pytest.fixture
def server(database_url):
    """(FHIR base URL, bearer token) of a live server."""
    with live_server(database_url) as base:
        yield f"{base}/fhir", bearer_token(base, database_url)


def test_fhirpy_creates_reads_updates_searches_and_pages(server):
    base, token = server
    fhir = SyncFHIRClient(base, authorization=f"Bearer {token}")
    created = []
    for i in range(7):
        res = fhir.resource("Patient", **patient(f"FP-{i}", family="Pager"))
        res.save()
        assert res.id
        created.append(res.id)
    one = fhir.reference("Patient", created[0]).to_resource()
    assert one["name"][0]["family"] == "Pager"
    one["gender"] = "male"
    one.save()
    assert fhir.reference("Patient", created[0]).to_resource()["meta"]["versionId"] == "2"
    search = fhir.resources("Patient").search(family="pager").limit(3)
    assert search.count() == 7
    seen = [p.id for p in search]  # iterating follows the next links page by page
    assert sorted(seen) == sorted(created)
    found = fhir.resources("Patient").search(identifier="urn:oid:1.2.3|FP-4").first()
    assert found.id == created[4]


def test_fhirclient_reads_capabilities_and_resources(server):
    base, token = server
    fhir = SyncFHIRClient(base, authorization=f"Bearer {token}")
    res = fhir.resource("Patient", **patient("FC-1", family="Smart"))
    res.save()
    smart = smart_client.FHIRClient(settings={"app_id": "sicdoc-tests", "api_base": base + "/"})
    # fhirclient signs requests through its requests session; a backend token goes in its headers.
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    statement = smart.server.capabilityStatement
    assert statement.fhirVersion == "4.0.1"
    read = SmartPatient.read(res.id, smart.server)
    assert read.name[0].family == "Smart"
    found = list(SmartPatient.where(struct={"family": "smart"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [res.id]
    new = SmartPatient.with_json(patient("FC-2", family="Created"))
    answer = new.create(smart.server)
    assert answer["resourceType"] == "Patient"
    assert answer["id"]
