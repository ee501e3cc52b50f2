import pytest

from sicdoc.codes import ICD10_WHO, ICD10CM, SNOMED
from sicdoc.valuesets import load


@pytest.mark.parametrize(
    ("system", "code", "cohort", "subtype"),
    [
        (ICD10CM, "I63.9", "stroke", "ischemic"),
        (ICD10CM, "I639", "stroke", "ischemic"),
        (ICD10CM, "I61.0", "stroke", "ich"),
        (ICD10CM, "I60.7", "stroke", "sah"),
        (ICD10_WHO, "I64", "stroke", "unspecified"),
        (ICD10CM, "I50.9", "heart_failure", "hf"),
        (ICD10CM, "I11.0", "heart_failure", "hf"),
        (ICD10CM, "I13.2", "heart_failure", "hf"),
        (ICD10CM, "C34.90", "cancer", "solid"),
        (ICD10CM, "C4A.9", "cancer", "solid"),
        (ICD10CM, "C7B.00", "cancer", "metastatic"),
        (ICD10CM, "C78.01", "cancer", "metastatic"),
        (ICD10CM, "C91.00", "cancer", "hematologic"),
        (SNOMED, "230690007", "stroke", "unspecified"),
        (SNOMED, "88805009", "heart_failure", "hf"),
        (SNOMED, "254637007", "cancer", "solid"),
    ],
)
def test_members(system, code, cohort, subtype):
    matches = load().classify(system, code)
    assert [(m.cohort, m.subtype) for m in matches] == [(cohort, subtype)]


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (ICD10CM, "I69.30"),
        (ICD10CM, "G45.9"),
        (ICD10CM, "Z86.73"),
        (ICD10CM, "I64"),
        (ICD10CM, "I50.810"),
        (ICD10CM, "I11.9"),
        (ICD10CM, "C44.91"),
        (ICD10CM, "D05.10"),
        (ICD10CM, "Z85.3"),
        (SNOMED, "162573006"),
        ("http://example.org", "I63.9"),
    ],
)
def test_exclusions(system, code):
    assert load().classify(system, code) == []


def test_version_is_reported():
    assert load().version == "2026.1"
