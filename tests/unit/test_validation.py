import pytest

from sicdoc.errors import InvalidInput
from sicdoc.fhir.validation import reference_parts, validate_resource


def issues_of(resource):
    with pytest.raises(InvalidInput) as err:
        validate_resource(resource)
    return [(i.code, i.expression) for i in err.value.issues]


def test_a_valid_patient_passes():
    validate_resource(
        {
            "resourceType": "Patient",
            "id": "p1",
            "gender": "female",
            "birthDate": "1950-02-03",
            "name": [{"family": "Rivera", "given": ["Ana"]}],
            "active": True,
        }
    )


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Patient", "foo": 1}, ("structure", "Patient.foo")),
        ({"resourceType": "Patient", "active": "yes"}, ("value", "Patient.active")),
        ({"resourceType": "Patient", "birthDate": "03/02/1948"}, ("value", "Patient.birthDate")),
        ({"resourceType": "Patient", "birthDate": "2020-02-30"}, ("value", "Patient.birthDate")),
        ({"resourceType": "Patient", "name": []}, ("value", "Patient.name")),
        ({"resourceType": "Patient", "gender": None}, ("value", "Patient.gender")),
        ({"resourceType": "Patient", "name": [{"family": ""}]}, ("value", "Patient.name[0].family")),
        ({"resourceType": "Patient", "gender": "F"}, ("code-invalid", "Patient.gender")),
        ({"resourceType": "Patient", "name": [{"given": [1]}]}, ("value", "Patient.name[0].given[0]")),
        ({"resourceType": "Patient", "id": "x" * 65}, ("value", "Patient.id")),
        (
            {"resourceType": "Condition", "subject": {"reference": "Practitioner/1"}},
            ("value", "Condition.subject.reference"),
        ),
        (
            {"resourceType": "Condition", "subject": {"reference": "garbage ref"}},
            ("value", "Condition.subject.reference"),
        ),
        (
            {"resourceType": "Encounter", "status": "finishedx", "class": {"code": "IMP"}},
            ("code-invalid", "Encounter.status"),
        ),
        ({"resourceType": "Encounter", "class": {"code": "IMP"}}, ("required", "Encounter.status")),
    ],
)
def test_each_problem_is_named_with_its_path(resource, expected):
    assert expected in issues_of(resource)


@pytest.mark.parametrize("rtype", ["Foo", "Citation", "MedicinalProduct", "HumanName", ""])
def test_types_r4_does_not_have_are_refused(rtype):
    codes = issues_of({"resourceType": rtype})
    assert codes[0][0] in ("not-supported", "required")


def test_truncated_bindings_still_accept_valid_codes():
    validate_resource({"resourceType": "Observation", "status": "corrected", "code": {"text": "x"}})


def test_reference_parts():
    assert reference_parts("Patient/123") == ("Patient", "123")
    assert reference_parts("https://ehr.example/fhir/Patient/a-1/_history/2") == ("Patient", "a-1")
    assert reference_parts("urn:uuid:0b2e8c1e-4b8f-4e7e-9b57-3d6f0c9a1f00") is None


def test_validating_builds_no_pydantic_validator_for_the_models_it_reads():
    """The validator reads the models' fields; a model's pydantic validator (about half of what the
    model classes hold in memory) is built only if the model itself validates something."""
    import subprocess
    import sys

    probe = """
from sicdoc.fhir.validation import validate_resource, validate_with_models
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient
patient = {"resourceType": "Patient", "id": "a", "birthDate": "1950-01-01", "name": [{"family": "Ng"}]}
validate_resource(patient)
validate_resource({"resourceType": "Encounter", "id": "e", "status": "finished", "class": {"code": "IMP"},
                   "subject": {"reference": "Patient/a"}})
print(Patient.__pydantic_complete__, Encounter.__pydantic_complete__)
validate_with_models(patient)
print(Patient.__pydantic_complete__)
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True"]
