"""Every way a search can read its matches gives the same matches.

A search takes one of several paths by how many index rows its criteria have (``sicdoc.store.search``):
an IN over the index, a window of resources in id order probed for each criterion, a wider window,
a walk along one code with the other criteria probed, or a sort. Here each search runs twice over the
same resources: with the real limits, where these few resources make every criterion narrow, and
with limits so small that every criterion counts as broad. Paged three at a time both ways, and in one
page, they must hold the same ids in the same order, each once, and count as many.
"""

import itertools
from urllib.parse import urlencode

import pytest

from sicdoc.store import search as store_search
from tests.web.fhir_helpers import every_page, patient, send

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


@pytest.fixture
def client(fhir_client):
    return fhir_client


def _create(client, resource) -> str:
    resp = send(client, "POST", f"/fhir/{resource['resourceType']}", resource)
    assert resp.status_code == 201, resp.get_json()
    return str(resp.get_json()["id"])


def _population(client) -> list[str]:
    """Patients, conditions and encounters whose values overlap in many ways, dates shared; a few deleted."""
    patients = [
        _create(
            client,
            patient(
                f"P-{i}",
                family=("Rivera", "Baker")[i % 2],
                gender=("male", "female", "female")[i % 3],
                birthDate=f"{1935 + 6 * (i % 5)}-06-15",  # three or so born on each day
            ),
        )
        for i in range(14)
    ]
    for i in range(30):
        _create(
            client,
            {
                "resourceType": "Condition",
                "code": {"coding": [{"system": ICD10, "code": ("I10", "I63.9", "E11.9")[i % 3]}]},
                "clinicalStatus": {
                    "coding": [{"system": CLINICAL, "code": ("active", "resolved")[i % 4 == 0]}]
                },
                "onsetDateTime": f"2024-0{1 + i % 6}-01",  # sorts with ties
                "subject": {"reference": f"Patient/{patients[i % 5]}"},
            },
        )
        _create(
            client,
            {
                "resourceType": "Encounter",
                "status": ("finished", "in-progress", "finished")[i % 3],
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": ("IMP", "AMB")[i % 5 == 0],
                },
                "period": {"start": f"2024-0{1 + i % 8}-10T08:00:00Z"},
                "subject": {"reference": f"Patient/{patients[i % 7]}"},
            },
        )
    for pid in patients[3::5]:
        assert send(client, "DELETE", f"/fhir/Patient/{pid}").status_code in (200, 204)
    return patients


# Criteria by type, each a (parameter, value); ``{p0}`` is the first patient's id.
CRITERIA = {
    "Patient": [
        ("gender", "female"),
        ("gender:not", "male"),
        ("birthdate", "ge1950-01-01"),
        ("birthdate", "lt1945"),
        ("family", "Riv"),
        ("identifier", "urn:oid:1.2.3|P-4"),
    ],
    "Condition": [
        ("code", "I10"),
        ("code", f"{ICD10}|I63.9,E11.9"),
        ("clinical-status", "active"),
        ("clinical-status:not", "active"),
        ("onset-date", "ge2024-04-01"),
        ("subject", "Patient/{p0}"),
    ],
    "Encounter": [
        ("status", "finished"),
        ("class", "IMP"),
        ("status:not", "in-progress"),
        ("date", "lt2024-07-01"),
        ("subject", "Patient/{p0}"),
    ],
}
SORTS = {"Patient": "-birthdate", "Condition": "onset-date", "Encounter": "-date"}


def _searches() -> list[tuple[str, list[tuple[str, str]]]]:
    """Each criterion alone, every pair of them and every third triple, with and without the type's sort."""
    found = []
    for rtype, criteria in CRITERIA.items():
        combos = [c for n in (1, 2) for c in itertools.combinations(criteria, n)]
        combos += list(itertools.combinations(criteria, 3))[::3]
        for combo in combos:
            found.append((rtype, list(combo)))
            found.append((rtype, [*combo, ("_sort", SORTS[rtype])]))
    return found


def _as_narrow(monkeypatch) -> None:
    for name in ("TOTAL_COUNTED_UP_TO", "WINDOW_PER_ROW", "WINDOW_WIDENED"):
        monkeypatch.setattr(store_search, name, getattr(store_search, name))


def _as_broad(monkeypatch) -> None:
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 2)
    monkeypatch.setattr(store_search, "WINDOW_PER_ROW", 2)
    monkeypatch.setattr(store_search, "WINDOW_WIDENED", 2)


def test_every_path_of_a_search_finds_the_same_matches(client, monkeypatch):
    patients = _population(client)
    differ = []
    for rtype, criteria in _searches():
        query = [(name, value.format(p0=patients[0])) for name, value in criteria]
        url = f"/fhir/{rtype}?{urlencode([*query, ('_count', '3')])}"
        counting = f"/fhir/{rtype}?{urlencode([*query, ('_total', 'accurate')])}"
        _as_narrow(monkeypatch)
        narrow = every_page(client, url)
        counted = send(client, "GET", counting).get_json()["total"]
        _as_broad(monkeypatch)
        broad = every_page(client, url)
        counted_broad = send(client, "GET", counting).get_json()["total"]
        whole = every_page(client, url.replace("_count=3", "_count=500"))  # one page, nothing to skip
        if not narrow == broad == whole or len(set(narrow)) != len(narrow):
            differ.append((url, narrow, broad, whole))
        assert counted == counted_broad == len(narrow), url
        if not any(name == "_sort" for name, _ in criteria):
            assert narrow == sorted(narrow), url  # in id order
    assert differ == []
    # The searches are not vacuous: most find something and some find nothing, both ways.
    sizes = [len(every_page(client, f"/fhir/{t}?{urlencode(c)}")) for t, c in _searches()[:12]]
    assert any(sizes) and min(sizes) < max(sizes)
