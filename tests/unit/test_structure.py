"""The compiled validator agrees with validation by the fhir.resources models, and is never laxer."""

import copy
import json
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sicdoc.errors import InvalidInput
from sicdoc.fhir.validation import validate_resource, validate_with_models
from tests.conftest import synthea_bundles


@cache
def samples() -> list[dict]:
    """One resource of every type found in the Synthea fixtures (several per type)."""
    seen: dict[str, int] = {}
    out = []
    for path in synthea_bundles():
        for entry in json.loads(path.read_text())["entry"]:
            res = entry["resource"]
            if seen.get(res["resourceType"], 0) < 3:
                seen[res["resourceType"]] = seen.get(res["resourceType"], 0) + 1
                out.append(res)
    return out


def accepts(check, resource) -> bool:
    try:
        check(resource)
    except InvalidInput:
        return False
    return True


def test_every_synthea_resource_passes_both():
    for path in synthea_bundles():
        for entry in json.loads(path.read_text())["entry"]:
            validate_resource(entry["resource"])
    for res in samples():
        validate_with_models(res)


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "resourceType":
                yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path


def set_at(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


MUTATIONS = [
    lambda v: 12345,
    lambda v: "not-a-date-or-code !",
    lambda v: True,
    lambda v: [v],
    lambda v: {"value": v},
    lambda v: 1.5,
    lambda v: "2024-02-30",
    lambda v: "2024-05-01T10:00:00",
]


@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_whatever_the_models_reject_the_fast_path_rejects(data):
    resource = copy.deepcopy(data.draw(st.sampled_from(samples())))
    paths = list(leaves(resource))
    if data.draw(st.booleans()):
        path = data.draw(st.sampled_from(paths))
        mutate = data.draw(st.sampled_from(MUTATIONS))
        set_at(resource, path, mutate(None))
    else:
        resource[data.draw(st.sampled_from(["colour", "extension_", "_unknown", "text"]))] = {"x": 1}
    if not accepts(validate_with_models, resource):
        assert not accepts(validate_resource, resource), resource


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "deceasedBoolean": True, "deceasedDateTime": "2020-01-01"},
        {"resourceType": "Observation", "status": "final"},
        {"resourceType": "Patient", "name": {"family": "Solo"}},
        {"resourceType": "Patient", "gender": ["female"]},
        {"resourceType": "Patient", "birthDate": "2020-01-01T10:00:00Z"},
        {"resourceType": "Patient", "multipleBirthInteger": 1.5},
        {"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]},
        {"resourceType": "Patient", "_birthDate": "x"},
    ],
)
def test_both_reject_structural_errors(resource):
    assert not accepts(validate_with_models, resource)
    assert not accepts(validate_resource, resource)


def test_fast_path_accepts_primitive_extensions_and_contained_resources():
    resource = {
        "resourceType": "Patient",
        "birthDate": "1970-03-04",
        "_birthDate": {"extension": [{"url": "http://example.org/x", "valueString": "approx"}]},
        "name": [{"given": ["A", "B"], "_given": [None, {"id": "g2"}]}],
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "Clinic"}],
        "managingOrganization": {"reference": "#o1"},
    }
    validate_with_models(resource)
    validate_resource(resource)
