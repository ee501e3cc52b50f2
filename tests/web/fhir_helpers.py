"""Small helpers for FHIR web tests."""

import json
from functools import cache

from sqlalchemy import func, select

from sicdoc.models import Base
from tests.conftest import AUDIT_TABLES

FHIR = "application/fhir+json"


def send(client, method, path, body=None, headers=None, content_type=FHIR):
    data = None if body is None else (body if isinstance(body, bytes | str) else json.dumps(body))
    all_headers = {"Content-Type": content_type, **(headers or {})}
    return client.open(path, method=method, data=data, headers=all_headers)


@cache
def _counting():
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in AUDIT_TABLES]
    query = select(
        *(
            select(func.count()).select_from(t).scalar_subquery()
            for t in Base.metadata.sorted_tables
            if t.name in tables
        )
    )
    return tables, query


def table_counts(app):
    """Row counts of every table but the audit log's, which record failed attempts too (one query)."""
    tables, query = _counting()
    with app.extensions["sicdoc.engine"].connect() as conn:
        row = conn.execute(query).one()
    return dict(zip(tables, row, strict=True))


def every_page(client, url: str) -> list[str]:
    """The ids of every page of a search, following its next links."""
    seen: list[str] = []
    while url:
        resp = send(client, "GET", url)
        assert resp.status_code == 200, (url, resp.get_json())
        page = resp.get_json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].split("http://localhost", 1)[-1] if nxt else ""
    return seen


def patient(mrn, family="Rivera", **extra):
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": mrn}],
        "name": [{"family": family, "given": ["Ana"]}],
        "gender": "female",
        "birthDate": "1950-01-02",
        **extra,
    }


def stroke(patient_id, onset="2025-01-10"):
    """An active stroke diagnosis (ICD-10-CM I63.9): enough to put a living patient in the stroke cohort."""
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I63.9"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "onsetDateTime": onset,
        "recordedDate": onset,
    }


def created(client, resource) -> str:
    """POST ``resource`` to the FHIR API (it must be created) and return its id."""
    resp = send(client, "POST", f"/fhir/{resource['resourceType']}", resource)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def icu_stay(client, patient_id, role_code, name, start, end, location_period) -> str:
    """An intensive care Location (v3-RoleCode ``role_code``) and an inpatient stay of the patient
    that names it for ``location_period``; returns the Location's id."""
    icu = created(
        client,
        {
            "resourceType": "Location",
            "name": name,
            "type": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": role_code}
                    ]
                }
            ],
        },
    )
    created(
        client,
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{patient_id}"},
            "period": {"start": start, "end": end},
            "location": [{"location": {"reference": f"Location/{icu}"}, "period": location_period}],
        },
    )
    return icu
