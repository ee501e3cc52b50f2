"""For tokens holding a single scope, no path returns a resource of a type the token cannot read.

Every way a resource can leave the FHIR API is tried: read, vread, search with ``_include`` and
``_revinclude``, ``$everything``, history (instance, type, system), GET entries of batches and
transactions, conditional create (plain and in a transaction), conditional update and conditional
references.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sicdoc.security import scopes as smart
from tests.conftest import bearer_client
from tests.web.fhir_helpers import send

SCOPES = (
    "system/Patient.read",
    "system/Procedure.read",
    "system/Composition.read",
    "system/Condition.rs",
    "system/Patient.write",
    "system/Condition.write",
    "system/Observation.cud",
)
REPRESENTATION = {"Prefer": "return=representation"}


def _resources(node: Any) -> Iterator[str]:
    """Types of the resources a response carries, searching nested bundles (not contained ones)."""
    if isinstance(node, list):
        for item in node:
            yield from _resources(item)
        return
    if not isinstance(node, dict):
        return
    rtype = node.get("resourceType")
    if rtype == "Bundle":
        for entry in node.get("entry") or ():
            yield from _resources(entry.get("resource"))
        return
    if rtype and rtype != "OperationOutcome":
        yield rtype


@pytest.fixture
def chart(app) -> dict[str, str]:
    """One patient with a diagnosis, a conversation Procedure and its note."""
    admin = bearer_client(app, "system/*.*")
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-SCOPE"}],
        "name": [{"family": "Haddad", "given": ["Rana"]}],
        "birthDate": "1948-03-09",
    }
    pid = send(admin, "POST", "/fhir/Patient", patient).get_json()["id"]
    subject = {"reference": f"Patient/{pid}"}
    condition = send(
        admin,
        "POST",
        "/fhir/Condition",
        {"resourceType": "Condition", "code": {"text": "Heart failure"}, "subject": subject},
    ).get_json()["id"]
    procedure = send(
        admin,
        "POST",
        "/fhir/Procedure",
        {"resourceType": "Procedure", "status": "completed", "code": {"text": "Talk"}, "subject": subject},
    ).get_json()["id"]
    note = {
        "resourceType": "Composition",
        "status": "final",
        "type": {"text": "Note"},
        "subject": subject,
        "date": "2026-01-05",
        "author": [{"display": "Dr A"}],
        "title": "Conversation",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Goals: home</div>'},
    }
    composition = send(admin, "POST", "/fhir/Composition", note).get_json()["id"]
    return {"Patient": pid, "Condition": condition, "Procedure": procedure, "Composition": composition}


def _paths(chart: dict[str, str]) -> Iterator[tuple[str, str, str, Any, dict[str, str]]]:
    """(label, method, url, body, headers) of every way a resource can come back."""
    pid = chart["Patient"]
    for rtype, rid in chart.items():
        yield f"read {rtype}", "GET", f"/fhir/{rtype}/{rid}", None, {}
        yield f"vread {rtype}", "GET", f"/fhir/{rtype}/{rid}/_history/1", None, {}
        yield f"history {rtype}", "GET", f"/fhir/{rtype}/{rid}/_history", None, {}
        yield f"type history {rtype}", "GET", f"/fhir/{rtype}/_history", None, {}
        yield f"search {rtype}", "GET", f"/fhir/{rtype}?_id={rid}", None, {}
    yield "system history", "GET", "/fhir/_history", None, {}
    yield "everything", "GET", f"/fhir/Patient/{pid}/$everything", None, {}
    includes = (
        f"Procedure?_include=Procedure:patient&_id={chart['Procedure']}",
        f"Procedure?_include=Procedure:subject&_id={chart['Procedure']}",
        f"Condition?_include=Condition:subject&_id={chart['Condition']}",
        f"Patient?_id={pid}&_revinclude=Composition:subject",
        f"Patient?_id={pid}&_revinclude=Procedure:patient&_revinclude=Condition:subject",
    )
    for query in includes:
        yield f"search {query}", "GET", f"/fhir/{query}", None, {}
    reads = [f"{t}/{i}" for t, i in chart.items()] + [f"{t}/{i}/_history/1" for t, i in chart.items()]
    reads += list(includes)
    for kind in ("batch", "transaction"):
        entries = [{"request": {"method": "GET", "url": url}} for url in reads]
        yield (
            f"{kind} GET entries",
            "POST",
            "/fhir",
            {"resourceType": "Bundle", "type": kind, "entry": entries},
            {},
        )
    patient = {"resourceType": "Patient", "name": [{"family": "Haddad"}], "birthDate": "1948-03-09"}
    for criteria in (
        f"_id={pid}",
        "family=Haddad&birthdate=1948-03-09",
        "identifier=urn:oid:1.2.3|MRN-SCOPE",
    ):
        yield (
            f"conditional create {criteria}",
            "POST",
            "/fhir/Patient",
            patient,
            {
                "If-None-Exist": criteria,
                **REPRESENTATION,
            },
        )
        entry = {
            "fullUrl": "urn:uuid:7d1c6b52-5d0b-4b63-a0a4-0d3d9a3f0c11",
            "resource": patient,
            "request": {"method": "POST", "url": "Patient", "ifNoneExist": criteria},
        }
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        yield f"transaction conditional create {criteria}", "POST", "/fhir", bundle, REPRESENTATION
    yield (
        "conditional update",
        "PUT",
        f"/fhir/Patient?_id={pid}",
        {**patient, "id": pid},
        REPRESENTATION,
    )
    condition = {
        "resourceType": "Condition",
        "code": {"text": "Stroke"},
        "subject": {"reference": "Patient?family=Haddad&birthdate=1948-03-09"},
    }
    entry = {"resource": condition, "request": {"method": "POST", "url": "Condition"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    yield "conditional reference", "POST", "/fhir", bundle, REPRESENTATION


@pytest.mark.parametrize("scope", SCOPES)
def test_no_path_returns_a_type_the_token_cannot_read(app, chart, scope):
    http = bearer_client(app, scope)
    leaks = []
    for label, method, url, body, headers in _paths(chart):
        resp = send(http, method, url, body, headers)
        assert resp.status_code < 500, f"{label}: {resp.status_code}"
        payload = resp.get_json(silent=True)
        for rtype in _resources(payload):
            if not smart.allows([scope], rtype, "read"):
                leaks.append(f"{label} -> {rtype} ({resp.status_code})")
    assert not leaks, f"{scope} received types it cannot read: {leaks}"


def test_a_write_only_client_learns_only_that_a_match_exists(app, chart):
    writer = bearer_client(app, "system/Patient.write")
    patient = {"resourceType": "Patient", "name": [{"family": "Haddad"}], "birthDate": "1948-03-09"}
    resp = send(writer, "POST", "/fhir/Patient", patient, {"If-None-Exist": f"_id={chart['Patient']}"})
    assert resp.status_code == 200
    assert chart["Patient"] not in resp.get_data(as_text=True) and "Location" not in resp.headers
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    entry = {
        "resource": patient,
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": "family=Haddad&birthdate=1948-03-09"},
    }
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    resp = send(writer, "POST", "/fhir", bundle, REPRESENTATION)
    assert resp.status_code == 200
    [answer] = resp.get_json()["entry"]
    assert answer == {"response": {"status": "200 OK"}}


def test_conditional_references_need_read_access_to_the_target(app, chart):
    writer = bearer_client(app, "system/Condition.write")
    condition = {
        "resourceType": "Condition",
        "code": {"text": "Stroke"},
        "subject": {"reference": "Patient?family=Haddad&birthdate=1948-03-09"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": condition, "request": {"method": "POST", "url": "Condition"}}],
    }
    resp = send(writer, "POST", "/fhir", bundle, REPRESENTATION)
    assert resp.status_code == 403 and chart["Patient"] not in resp.get_data(as_text=True)
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    reader = bearer_client(app, "system/Condition.write system/Condition.read system/Patient.read")
    resp = send(reader, "POST", "/fhir", bundle, REPRESENTATION)
    assert resp.status_code == 200
    assert resp.get_json()["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{chart['Patient']}"


def test_a_plain_create_refuses_a_conditional_reference(app, chart):
    writer = bearer_client(app, "system/*.*")
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient?family=Haddad"}}
    before = writer.get("/fhir/Condition").get_json()["total"]
    resp = send(writer, "POST", "/fhir/Condition", condition)
    assert resp.status_code == 400 and "transaction" in resp.get_json()["issue"][0]["diagnostics"]
    assert writer.get("/fhir/Condition").get_json()["total"] == before
    resp = send(
        writer, "PUT", f"/fhir/Condition/{chart['Condition']}", {**condition, "id": chart["Condition"]}
    )
    assert resp.status_code == 400


def test_an_include_of_an_unreadable_type_is_refused(app, chart):
    http = bearer_client(app, "system/Procedure.read")
    resp = http.get(f"/fhir/Procedure?_id={chart['Procedure']}&_include=Procedure:patient")
    assert resp.status_code == 403 and "Patient" in resp.get_json()["issue"][0]["diagnostics"]
    http = bearer_client(app, "system/Patient.read")
    resp = http.get(f"/fhir/Patient?_id={chart['Patient']}&_revinclude=Composition:subject")
    assert resp.status_code == 403
    # An include whose target type is not named is filtered instead: the Patient never leaves.
    resp = bearer_client(app, "system/Procedure.read").get(
        f"/fhir/Procedure?_id={chart['Procedure']}&_include=Procedure:subject"
    )
    assert resp.status_code == 200
    assert [e["resource"]["resourceType"] for e in resp.get_json()["entry"]] == ["Procedure"]
