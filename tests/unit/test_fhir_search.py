"""Parsing a search's result parameters (``sicdoc.fhir.search``)."""

import pytest

from sicdoc.errors import InvalidInput
from sicdoc.fhir.search import Include, parse_search


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("_include", "Condition:subject", Include("Condition", "subject", None)),
        ("_include", "Condition:patient", Include("Condition", "patient", "Patient")),
        ("_include", "Condition:subject:Patient", Include("Condition", "subject", "Patient")),
        ("_revinclude", "Encounter:subject", Include("Encounter", "subject", None)),
    ],
)
def test_an_include_names_a_reference_parameter_and_maybe_its_target(name, value, expected):
    req = parse_search("Patient", [(name, value)])
    assert (req.includes if name == "_include" else req.revincludes) == [expected]


@pytest.mark.parametrize(
    "value",
    [
        "Foo:bar",  # no such type
        "Condition:",  # no parameter
        ":subject",
        "Condition:onset",  # no such parameter
        "Patient:gender",  # a token, not a reference: nothing to include
        "Condition:code",
        "Condition:subject:Foo",  # no such target type
        "Condition:subject:",
        "Condition:subject:Patient:extra",
        "Condition:patient:Encounter",  # the parameter refers to patients only
    ],
)
def test_an_include_of_no_reference_is_refused_not_ignored(value):
    for name in ("_include", "_revinclude"):
        with pytest.raises(InvalidInput, match="names no known reference parameter"):
            parse_search("Patient", [(name, value)])
