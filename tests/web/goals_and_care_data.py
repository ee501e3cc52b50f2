"""End-of-life records for the "Goals and care" tests, posted as an EHR feed would post them.

Twenty-four cancer patients die on 2026-03-02 to 2026-03-25, each after a completed conversation
sixty days earlier: the first twelve held by a clinician whose PractitionerRole names the
department "Thoracic oncology", the others by one without a role. The first twelve are in an ICU
(a Location typed v3-RoleCode ICU) from five to two days before death, and patients 6 to 17 are
enrolled in hospice (an EpisodeOfCare typed hospice care) ten days before death.
"""

from __future__ import annotations

from datetime import date, timedelta

from tests.web.analytics_population import post_resources

SYSTEM = "urn:example:goals-and-care"
DEPARTMENT = "Thoracic oncology"
FAMILY = "Quarrington"  # the family name every one of these patients has: never on a QI view
MRN_PREFIX = "GC-MRN-"
DECEDENTS = 24
FIRST_DEATH = date(2026, 3, 2)
ICU_CODE = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "ICU"}
HOSPICE = {"system": "http://snomed.info/sct", "code": "385763009"}


def _ref(kind: str, value: str) -> dict:
    return {"reference": f"{kind}?identifier={SYSTEM}|{value}"}


def add_end_of_life_records(app) -> None:  # type: ignore[no-untyped-def]
    post_resources(
        app,
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": SYSTEM, "value": "onc"}],
            "name": [{"family": "Okafor", "given": ["Ada"]}],
        },
        {"resourceType": "Practitioner", "identifier": [{"system": SYSTEM, "value": "other"}]},
        {
            "resourceType": "Location",
            "identifier": [{"system": SYSTEM, "value": "icu"}],
            "name": "Medical ICU",
            "type": [{"coding": [ICU_CODE]}],
        },
        *(
            {
                "resourceType": "Patient",
                "identifier": [
                    {"system": SYSTEM, "value": f"p{i}"},
                    {
                        "system": "urn:example:mrn",
                        "type": {"coding": [{"code": "MR"}]},
                        "value": f"{MRN_PREFIX}{i:03d}",
                    },
                ],
                "name": [{"family": FAMILY, "given": [f"Given{i}"]}],
                "gender": "female" if i % 2 else "male",
                "birthDate": "1945-01-01",
                "deceasedDateTime": (FIRST_DEATH + timedelta(days=i)).isoformat(),
            }
            for i in range(DECEDENTS)
        ),
    )
    post_resources(
        app,
        {
            "resourceType": "PractitionerRole",
            "identifier": [{"system": SYSTEM, "value": "onc-role"}],
            "active": True,
            "practitioner": _ref("Practitioner", "onc"),
            "specialty": [{"text": DEPARTMENT}],
        },
    )
    records: list[dict] = []
    for i in range(DECEDENTS):
        subject = _ref("Patient", f"p{i}")
        death = FIRST_DEATH + timedelta(days=i)
        records.append(
            {
                "resourceType": "Condition",
                "subject": subject,
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C34.90"}]},
                "onsetDateTime": "2025-09-01",
            }
        )
        records.append(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
                "subject": subject,
                "performedDateTime": f"{death - timedelta(days=60)}T10:00:00Z",
                "performer": [{"actor": _ref("Practitioner", "onc" if i < 12 else "other")}],
            }
        )
        if i < 12:
            records.append(
                {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "IMP",
                    },
                    "subject": subject,
                    "period": {
                        "start": f"{death - timedelta(days=5)}T08:00:00Z",
                        "end": f"{death - timedelta(days=2)}T08:00:00Z",
                    },
                    "location": [{"location": _ref("Location", "icu")}],
                }
            )
        if 6 <= i < 18:
            records.append(
                {
                    "resourceType": "EpisodeOfCare",
                    "status": "active",
                    "type": [{"coding": [HOSPICE]}],
                    "patient": subject,
                    "period": {"start": (death - timedelta(days=10)).isoformat()},
                }
            )
    post_resources(app, *records)
