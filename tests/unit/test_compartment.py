"""The Patient compartment extract: every expression is understood, and references resolve as R4 says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sicdoc.fhir.compartment import compartment_patients, compartment_types, definition, patient_id

FILE = Path(__file__).resolve().parents[2] / "sicdoc" / "fhir" / "compartment_patient.json"
BASE = "https://sicdoc.example.org/fhir"


def test_the_extract_names_its_source_and_licence_and_every_expression_is_a_plain_path():
    data = json.loads(FILE.read_text(encoding="utf-8"))
    assert data["url"] == "http://hl7.org/fhir/CompartmentDefinition/patient"
    assert data["version"] == "4.0.1"
    assert "CC0" in data["licence"] and "hl7.fhir.r4.core" in data["source"]
    loaded = definition()
    assert set(loaded) == set(data["resource"])
    assert len(loaded) == 67  # the R4 resource types with at least one compartment parameter
    assert all(paths for params in loaded.values() for paths in params.values())
    assert compartment_types() == set(loaded) | {"Patient"}


@pytest.mark.parametrize(
    ("rtype", "params"),
    [
        ("Claim", {"patient": (("patient",),), "payee": (("payee", "party"),)}),
        ("ExplanationOfBenefit", {"patient": (("patient",),), "payee": (("payee", "party"),)}),
        ("Immunization", {"patient": (("patient",),)}),
        ("MedicationRequest", {"subject": (("subject",),)}),
        ("CarePlan", {"patient": (("subject",),), "performer": (("activity", "detail", "performer"),)}),
        ("DiagnosticReport", {"subject": (("subject",),)}),
        ("Encounter", {"subject": (("subject",),)}),
        ("Observation", {"subject": (("subject",),), "performer": (("performer",),)}),
        ("Provenance", {"patient": (("target",),)}),
        ("Patient", {"link": (("link", "other"),)}),
    ],
)
def test_the_types_once_missing_from_everything_have_their_r4_parameters(rtype, params):
    assert dict(definition()[rtype]) == params


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/p-1", "p-1"),
        ("Patient/p-1/_history/4", "p-1"),
        (f"{BASE}/Patient/p-1", "p-1"),
        (f"{BASE}/Patient/p-1/_history/2", "p-1"),
        ("https://elsewhere.example.org/fhir/Patient/p-1", None),
        ("Practitioner/p-1", None),
        ("#contained", None),
        ("urn:uuid:6f122869-a856-3d65-8db9-099bf4f5bbb8", None),
        ("Patient?identifier=urn:oid:1|7", None),
        ("Patient/" + "x" * 65, None),
        (None, None),
    ],
)
def test_only_patients_of_this_server_count(reference, expected):
    assert patient_id(reference, [BASE]) == expected


def test_a_resource_belongs_to_every_patient_its_parameters_name():
    obs = {
        "resourceType": "Observation",
        "subject": {"reference": "Patient/a"},
        "performer": [{"reference": "Patient/b"}, {"reference": "Practitioner/c"}],
        "focus": [{"reference": "Patient/d"}],  # not a compartment parameter
    }
    assert compartment_patients(obs) == {"a", "b"}
    provenance = {
        "resourceType": "Provenance",
        "target": [{"reference": "Patient/a"}, {"reference": "Encounter/e"}],
    }
    assert compartment_patients(provenance) == {"a"}
    assert (
        compartment_patients({"resourceType": "Provenance", "target": [{"reference": "Encounter/e"}]})
        == set()
    )
    linked = {
        "resourceType": "Patient",
        "id": "n",
        "link": [{"other": {"reference": "Patient/m"}, "type": "seealso"}],
    }
    assert compartment_patients(linked) == {"n", "m"}
    assert compartment_patients({"resourceType": "Practitioner", "id": "x"}) == set()
    assert compartment_patients({"resourceType": "Observation", "subject": "Patient/a"}) == set()
