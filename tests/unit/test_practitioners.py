"""The checks on a clinician's recorded name, credentials and NPI, without a database."""

import pytest

from sicdoc.services.practitioners import Profile, check_profile, display, npi_is_valid


@pytest.mark.parametrize("npi", ["1234567893", "1245319599", "2000000002"])
def test_npis_with_a_good_check_digit_pass(npi):
    assert npi_is_valid(npi)


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "12345678930", "3234567893", "12345b7893", ""])
def test_npis_with_a_wrong_check_digit_length_or_start_fail(npi):
    assert not npi_is_valid(npi)


def test_a_profile_is_cleaned_and_checked_field_by_field():
    profile = Profile("  Ada   Okafor ", "md,  PhD", " 1234567893 ", " Palliative  care ").cleaned()
    assert profile == Profile("Ada Okafor", "md, PhD", "1234567893", "Palliative care")
    assert check_profile(profile) == {}
    assert profile.shown() == "Ada Okafor, md, PhD (Palliative care)"
    errors = check_profile(Profile("", "M/D", "1234567890", "x" * 121))
    assert set(errors) == {"name", "credentials", "npi", "service"}
    assert set(check_profile(Profile("1234", "", "", ""))) == {"name"}


def test_the_display_leaves_out_what_was_not_recorded():
    assert display("Ada Okafor", ["MD"], "Palliative care") == "Ada Okafor, MD (Palliative care)"
    assert display("Ada Okafor", [], None) == "Ada Okafor"
    assert display("Ben Ito", ["RN", "MSN"], None) == "Ben Ito, RN, MSN"
