"""sicdoc.fhir.elements: the values at an element path, as search-index and compartment rows read them."""

from sicdoc.fhir.elements import element_values
from sicdoc.fhir.search_params import index_rows

ENCOUNTER = {
    "resourceType": "Encounter",
    "subject": {"reference": "Patient/p1"},
    "participant": [
        {"individual": {"reference": "Practitioner/a"}},
        {"type": [{"text": "no individual"}]},
        {"individual": {"reference": "Practitioner/b"}},
    ],
    "period": {"start": "2026-01-02"},
}


def test_a_path_through_arrays_gives_each_value_in_order():
    assert element_values(ENCOUNTER, ("participant", "individual")) == [
        {"reference": "Practitioner/a"},
        {"reference": "Practitioner/b"},
    ]


def test_an_array_at_the_end_is_flattened_and_nulls_are_left_out():
    patient = {"name": [{"given": ["Ada", None, "May"]}, {"given": ["Lou"]}, {"family": "Ng"}]}
    assert element_values(patient, ("name", "given")) == ["Ada", "May", "Lou"]


def test_a_missing_element_or_a_primitive_on_the_way_gives_nothing():
    assert element_values(ENCOUNTER, ("hospitalization", "origin")) == []
    assert element_values(ENCOUNTER, ("period", "start", "value")) == []
    assert element_values({"a": None}, ("a",)) == []


def test_index_rows_find_every_location_of_an_encounter():
    encounter = {
        "resourceType": "Encounter",
        "location": [
            {"location": {"reference": "Location/ward-4"}},
            {"period": {"start": "2026-01-02"}},
            {"location": {"reference": "Location/icu"}},
        ],
    }
    refs = [(p, t, i) for p, t, i in index_rows(encounter).references if p == "location"]
    assert refs == [("location", "Location", "ward-4"), ("location", "Location", "icu")]
