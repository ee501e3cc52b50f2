"""Find-a-patient as clinicians type it: partial MRNs, dates in the site's format, the dead marked, cut lists."""

import pytest

from sicdoc.services import patient_search
from sicdoc.store import search as store_search
from tests.web.fhir_helpers import patient, send
from tests.web.forms_helpers import clinician_client  # noqa: F401 - this module's ``client``


def _add(client, mrn, family="Rivera", **extra):
    resp = send(client, "POST", "/fhir/Patient", patient(mrn, family, **extra))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _add_family(client, mrn_prefix, family, count):
    """``count`` patients of one family in one transaction, MRNs ``mrn_prefix``000 on."""
    entry = [
        {"resource": patient(f"{mrn_prefix}{i:03d}", family), "request": {"method": "POST", "url": "Patient"}}
        for i in range(count)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entry}
    assert send(client, "POST", "/fhir", bundle).status_code == 200


def _results(client, q):
    page = client.get("/patients", query_string={"q": q}).get_data(as_text=True)
    return page.split('id="recent-heading"')[0]


def test_the_first_characters_of_an_mrn_find_the_patient(client):
    pid = _add(client, "7-0004512", "Okafor")
    other = _add(client, "7-0009999", "Lindqvist")
    page = _results(client, "7-00045")
    assert f"/patients/{pid}" in page and f"/patients/{other}" not in page
    assert "MRN such as 7-0009999" in page  # the hint shows what this site's MRNs look like
    assert f"/patients/{other}" in _results(client, "7-0009")
    assert "No patient matches" in _results(client, "7-00046")
    assert f"/patients/{pid}" not in _results(client, "7-")  # too short to be taken as a prefix


@pytest.mark.parametrize("typed", ["12/07/1943", "12-7-1943", "12/7/43", "7 Dec 1943", "December 7, 1943"])
def test_a_birth_date_typed_the_site_s_way_finds_the_patient(client, typed):
    pid = _add(client, "MRN-1", "Okafor", birthDate="1943-12-07")
    _add(client, "MRN-2", "Okafor", birthDate="1943-07-12")
    page = _results(client, typed)
    assert "(born 1943-12-07)" in page
    assert page.count("/patients/") == 1 and f"/patients/{pid}" in page


@pytest.mark.parametrize(
    "typed",
    [
        "Okafor 12/07/1943",
        "okafor ada 1943-12-07",
        "Okafor, Ada 7 Dec 1943",
        "12/7/43 Okafor",
        "Okafor December 7, 1943",
    ],
)
def test_a_name_and_a_birth_date_together_find_the_patient_who_has_both(client, typed):
    """Name and date of birth, the pair a clinician checks a patient by, typed in one box."""
    pid = _add(
        client, "MRN-4", "Okafor", birthDate="1943-12-07", name=[{"family": "Okafor", "given": ["Ada"]}]
    )
    _add(client, "MRN-5", "Okafor", birthDate="1950-01-02")  # the name alone
    _add(client, "MRN-6", "Lindqvist", birthDate="1943-12-07")  # the date alone
    page = _results(client, typed)
    assert "(born 1943-12-07)" in page
    assert page.count("/patients/") == 1 and f"/patients/{pid}" in page
    assert "No patient matches" in _results(client, "Okafor 1943-12-08")
    assert "No patient matches" in _results(client, "Okafir 12/07/1943")


def test_where_days_come_first_the_same_digits_are_read_the_other_way(app, client):
    app.config["DATE_ORDER"] = "DMY"
    pid = _add(client, "MRN-3", "Okafor", birthDate="1943-12-07")
    page = _results(client, "07/12/1943")
    assert f"/patients/{pid}" in page and "(born 1943-12-07)" in page
    assert "such as 07/12/1943" in page


def test_deceased_patients_are_marked_in_results(client):
    _add(client, "MRN-4", "Halvorsen", deceasedDateTime="2024-04-17")
    _add(client, "MRN-5", "Halvorsen", name=[{"family": "Halvorsen", "given": ["Per"]}])
    page = _results(client, "Halvorsen")
    assert page.count("Deceased 2024-04-17") == 1


def test_a_cut_list_says_how_many_more_match(client):
    _add_family(client, "MRN-S", "Sato", 28)
    page = _results(client, "Sato")
    assert page.count("/patients/") == 25
    assert "3 more patients match: refine the search" in page
    assert "more patients match" not in _results(client, "MRN-S001")


def test_a_name_too_common_to_count_says_so(client, monkeypatch):
    """The count of a broad name stops where the FHIR search's total does: "or more", not a number
    that took seconds to count."""
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 26)
    monkeypatch.setattr(patient_search, "COUNT_CAP", 26)
    _add_family(client, "MRN-C", "Common", 28)
    page = _results(client, "Common")
    assert page.count("/patients/") == 25
    assert "At least 1 more patient matches: refine the search" in page
