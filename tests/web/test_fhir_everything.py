"""``Patient/{id}/$everything``: exactly the patient's compartment as R4 defines it, paged like search."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bearer_client, synthea_bundles
from tests.web.fhir_helpers import send

DEFINITION = Path(__file__).resolve().parents[2] / "sicdoc" / "fhir" / "compartment_patient.json"


@pytest.fixture
def client(fhir_client):
    return fhir_client


def create(client, resource: dict[str, Any]) -> dict[str, Any]:
    resp = send(client, "POST", f"/fhir/{resource['resourceType']}", resource)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def new_patient(client, mrn: str) -> str:
    return create(
        client,
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:oid:1.2.3", "value": mrn}],
            "name": [{"family": "Okafor", "given": ["Ada"]}],
            "birthDate": "1944-02-03",
        },
    )["id"]


def observation(subject: str, text: str = "weight", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": subject},
        **extra,
    }


def pages(client, pid: str, query: str = "") -> list[dict[str, Any]]:
    """Every page of one $everything, following the next links."""
    out = []
    url: str | None = f"/fhir/Patient/{pid}/$everything" + (f"?{query}" if query else "")
    while url:
        resp = send(client, "GET", url)
        assert resp.status_code == 200, resp.get_json()
        page = resp.get_json()
        assert page["resourceType"] == "Bundle" and page["type"] == "searchset"
        out.append(page)
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].split("http://localhost", 1)[-1] if nxt else None
        assert len(out) < 100
    return out


def resources(client, pid: str, query: str = "") -> list[dict[str, Any]]:
    found = [e["resource"] for page in pages(client, pid, query) for e in page.get("entry", [])]
    keys = [(r["resourceType"], r["id"]) for r in found]
    assert len(keys) == len(set(keys)), "a resource came back twice"
    return found


def kinds(found: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["resourceType"] for r in found)


# ---- the done-when check: a Synthea patient's whole record ------------------------------------


def _walk(node: Any, path: list[str]) -> list[Any]:
    if isinstance(node, list):
        return [v for item in node for v in _walk(item, path)]
    if not path:
        return [] if node is None else [node]
    return _walk(node.get(path[0]), path[1:]) if isinstance(node, dict) else []


def _in_compartment(resource: dict[str, Any], full_url: str, definition: dict[str, Any]) -> bool:
    """Whether a posted resource references the patient (by its fullUrl) through a compartment param."""
    rtype = resource["resourceType"]
    for expression in definition.get(rtype, {}).values():
        for part in expression.split("|"):
            path = part.strip().removesuffix(".where(resolve() is Patient)").split(".")
            assert path[0] == rtype
            if any(
                isinstance(ref, dict) and ref.get("reference") == full_url
                for ref in _walk(resource, path[1:])
            ):
                return True
    return False


@pytest.mark.slow
def test_everything_of_a_synthea_patient_is_exactly_what_was_posted_for_them(client):
    definition = json.loads(DEFINITION.read_text(encoding="utf-8"))["resource"]
    expected: dict[str, Counter[str]] = {}
    for path in synthea_bundles():
        bundle = json.loads(path.read_text(encoding="utf-8"))
        resp = send(client, "POST", "/fhir", bundle)
        assert resp.status_code == 200, resp.get_json()
        (patient_entry,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        position = bundle["entry"].index(patient_entry)
        location = resp.get_json()["entry"][position]["response"]["location"]
        pid = location.split("Patient/", 1)[1].split("/", 1)[0]
        expected[pid] = Counter(
            e["resource"]["resourceType"]
            for e in bundle["entry"]
            if _in_compartment(e["resource"], patient_entry["fullUrl"], definition)
        )
        expected[pid]["Patient"] += 1
        # Synthea ties every clinical and financial resource to the patient; only the shared
        # Organization and Practitioner copies stay outside the compartment.
        assert expected[pid] == Counter(
            e["resource"]["resourceType"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] not in ("Organization", "Practitioner")
        )
    assert len(expected) == len(synthea_bundles())
    for pid, wanted in expected.items():
        found = resources(client, pid, "_count=500")
        assert kinds(found) == wanted
        assert send(client, "GET", f"/fhir/Patient/{pid}/$everything").get_json()["total"] == sum(
            wanted.values()
        )
        # The types the search index never covered are there too.
        assert {"Claim", "ExplanationOfBenefit", "Immunization", "DiagnosticReport"} <= set(wanted)


# ---- paging, _type, _since, _count ------------------------------------------------------------


def test_pages_follow_next_links_without_repeats_and_the_first_carries_the_total(client):
    pid = new_patient(client, "EV-PAGE")
    other = new_patient(client, "EV-OTHER")
    ids = {create(client, observation(f"Patient/{pid}", f"obs {i}"))["id"] for i in range(7)}
    create(client, observation(f"Patient/{other}"))
    got = pages(client, pid, "_count=3")
    assert [len(p.get("entry", [])) for p in got] == [3, 3, 2]
    assert got[0]["total"] == 8
    found = [e["resource"] for p in got for e in p.get("entry", [])]
    assert {r["id"] for r in found if r["resourceType"] == "Observation"} == ids
    assert [r["id"] for r in found if r["resourceType"] == "Patient"] == [pid]
    assert all(link["url"].startswith("http://localhost/fhir/Patient/") for p in got for link in p["link"])


def test_a_resource_added_between_pages_never_makes_one_repeat(client):
    pid = new_patient(client, "EV-KEYSET")
    for i in range(4):
        create(client, observation(f"Patient/{pid}", f"obs {i}"))
    first = send(client, "GET", f"/fhir/Patient/{pid}/$everything?_count=2").get_json()
    create(client, observation(f"Patient/{pid}", "late"))
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    seen = [e["resource"]["id"] for e in first["entry"]]
    while url:
        page = send(client, "GET", url.split("http://localhost", 1)[-1]).get_json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    assert len(seen) == len(set(seen))
    assert len(seen) >= 5


def test_count_is_capped_and_zero_gives_only_the_total(client):
    pid = new_patient(client, "EV-COUNT")
    create(client, observation(f"Patient/{pid}"))
    zero = send(client, "GET", f"/fhir/Patient/{pid}/$everything?_count=0").get_json()
    assert zero["total"] == 2 and "entry" not in zero
    assert not [link for link in zero["link"] if link["relation"] == "next"]
    big = send(client, "GET", f"/fhir/Patient/{pid}/$everything?_count=100000").get_json()
    assert len(big["entry"]) == 2


def test_type_limits_the_types(client):
    pid = new_patient(client, "EV-TYPE")
    create(client, observation(f"Patient/{pid}"))
    condition = {
        "resourceType": "Condition",
        "code": {"text": "COPD"},
        "subject": {"reference": f"Patient/{pid}"},
    }
    create(client, condition)
    assert kinds(resources(client, pid, "_type=Observation,Patient")) == Counter(Observation=1, Patient=1)
    assert kinds(resources(client, pid, "_type=Condition")) == Counter(Condition=1)
    assert kinds(resources(client, pid, "_type=Condition&_type=Observation")) == Counter(
        Condition=1, Observation=1
    )
    assert resources(client, pid, "_type=Immunization") == []
    bad = send(client, "GET", f"/fhir/Patient/{pid}/$everything?_type=Spaceship")
    assert bad.status_code == 400
    assert bad.get_json()["resourceType"] == "OperationOutcome"


def test_since_keeps_what_changed_at_or_after_it(client):
    pid = new_patient(client, "EV-SINCE")
    old = create(client, observation(f"Patient/{pid}", "old"))
    changed = create(client, observation(f"Patient/{pid}", "changed"))
    time.sleep(0.01)
    resp = send(
        client, "PUT", f"/fhir/Observation/{changed['id']}", {**changed, "code": {"text": "changed again"}}
    )
    assert resp.status_code == 200
    since = resp.get_json()["meta"]["lastUpdated"]
    found = resources(client, pid, f"_since={since}")
    assert [(r["resourceType"], r["id"]) for r in found] == [("Observation", changed["id"])]
    assert old["id"] not in {r["id"] for r in found}
    assert send(client, "GET", f"/fhir/Patient/{pid}/$everything?_since=soon").status_code == 400


def test_unknown_parameters_and_bad_cursors_are_refused(client):
    pid = new_patient(client, "EV-BAD")
    raw = ('{"type":"Observation\\u0000","id":"x"}', '{"type":"\\ud800","id":"x"}', '{"type":1,"id":"x"}')
    cursors = [base64.urlsafe_b64encode(c.encode()).decode().rstrip("=") for c in raw]
    queries = ["start=2020-01-01", "_cursor=bm90LWpzb24", "_count=x", *(f"_cursor={c}" for c in cursors)]
    for query in queries:
        resp = send(client, "GET", f"/fhir/Patient/{pid}/$everything?{query}")
        assert resp.status_code == 400, query
        assert resp.get_json()["resourceType"] == "OperationOutcome"


# ---- what belongs: every compartment param, references of this server, updates and deletes ----


def test_every_param_of_the_definition_counts_not_only_the_subject(client):
    pid = new_patient(client, "EV-PARAMS")
    other = new_patient(client, "EV-PARAMS-2")
    # Observation.performer is a compartment param too: the patient reported it about someone else.
    reported = create(
        client, observation(f"Patient/{other}", "reported", performer=[{"reference": f"Patient/{pid}"}])
    )
    found = resources(client, pid)
    assert ("Observation", reported["id"]) in {(r["resourceType"], r["id"]) for r in found}
    assert ("Observation", reported["id"]) in {(r["resourceType"], r["id"]) for r in resources(client, other)}


def test_versioned_and_absolute_references_of_this_server_count_others_do_not(client):
    pid = new_patient(client, "EV-REFS")
    versioned = create(client, observation(f"Patient/{pid}/_history/1", "versioned"))
    absolute = create(client, observation(f"http://localhost/fhir/Patient/{pid}", "absolute"))
    elsewhere = create(client, observation(f"https://other.example.org/fhir/Patient/{pid}", "elsewhere"))
    ids = {r["id"] for r in resources(client, pid)}
    assert {versioned["id"], absolute["id"]} <= ids
    assert elsewhere["id"] not in ids


def test_an_update_moves_a_resource_between_compartments(client):
    first = new_patient(client, "EV-MOVE-1")
    second = new_patient(client, "EV-MOVE-2")
    obs = create(client, observation(f"Patient/{first}"))
    assert obs["id"] in {r["id"] for r in resources(client, first)}
    moved = {**obs, "subject": {"reference": f"Patient/{second}"}}
    assert send(client, "PUT", f"/fhir/Observation/{obs['id']}", moved).status_code == 200
    assert obs["id"] not in {r["id"] for r in resources(client, first)}
    assert obs["id"] in {r["id"] for r in resources(client, second)}
    assert kinds(resources(client, first)) == Counter(Patient=1)


def test_a_delete_removes_the_resource_and_a_deleted_patient_is_gone(client):
    pid = new_patient(client, "EV-DELETE")
    obs = create(client, observation(f"Patient/{pid}"))
    assert send(client, "DELETE", f"/fhir/Observation/{obs['id']}").status_code == 204
    assert kinds(resources(client, pid)) == Counter(Patient=1)
    again = {k: v for k, v in obs.items() if k != "meta"}
    assert send(client, "PUT", f"/fhir/Observation/{obs['id']}", again).status_code in (200, 201)
    assert kinds(resources(client, pid)) == Counter(Patient=1, Observation=1)
    assert send(client, "DELETE", f"/fhir/Patient/{pid}").status_code == 204
    gone = send(client, "GET", f"/fhir/Patient/{pid}/$everything")
    assert gone.status_code == 410
    assert gone.get_json()["resourceType"] == "OperationOutcome"
    assert send(client, "GET", "/fhir/Patient/no-such-patient/$everything").status_code == 404


def test_only_tokens_that_may_read_every_type_may_ask(app, client):
    pid = new_patient(client, "EV-SCOPE")
    create(client, observation(f"Patient/{pid}"))
    narrow = send(bearer_client(app, "system/Observation.read"), "GET", f"/fhir/Patient/{pid}/$everything")
    assert narrow.status_code == 403
    assert narrow.get_json()["resourceType"] == "OperationOutcome"
    wide = send(bearer_client(app, "system/*.read"), "GET", f"/fhir/Patient/{pid}/$everything").get_json()
    assert wide["total"] == 2


def test_the_unit_limits_the_query_to_readable_types_so_pages_and_totals_hold_only_them(session, store):
    from sicdoc.security.audit import Actor
    from sicdoc.services.unit import Access, UnitOfWork, system_unit

    writer = system_unit(session, store)
    with writer.transaction():
        pid = store.create(session, {"resourceType": "Patient", "birthDate": "1940-01-01"}).id
        for _ in range(3):
            store.create(session, {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}})
        store.create(session, observation(f"Patient/{pid}"))
    reader = UnitOfWork(
        session, store, Actor("feed", "client"), Access(frozenset({"system/Observation.read"}))
    )
    page = reader.compartment(pid, count=1)
    assert page.total == 1
    assert [s.resource_type for s in page.items] == ["Observation"]
    assert page.next_cursor is None
    both = reader.compartment(pid, types={"Observation", "Condition"})
    assert [s.resource_type for s in both.items] == ["Observation"]
    assert reader.disclosed_patients == {pid}
