"""Birth dates as people type them."""

from datetime import date

import pytest

from sicdoc.services.patient_search import parse_birth_date

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("typed", "order", "expected"),
    [
        ("1943-12-07", "MDY", date(1943, 12, 7)),
        ("12/07/1943", "MDY", date(1943, 12, 7)),
        ("12/07/1943", "DMY", date(1943, 7, 12)),
        ("12.7.1943", "MDY", date(1943, 12, 7)),
        ("12/7/43", "MDY", date(1943, 12, 7)),
        ("3/4/05", "MDY", date(2005, 3, 4)),  # a child born in 2005, not 1905
        ("12/25/26", "MDY", date(1926, 12, 25)),  # later this month would be in the future
        ("7 Dec 1943", "MDY", date(1943, 12, 7)),
        ("December 7, 1943", "DMY", date(1943, 12, 7)),
        ("  12/07/1943 ", "MDY", date(1943, 12, 7)),
    ],
)
def test_dates_in_the_site_s_formats(typed, order, expected):
    assert parse_birth_date(typed, order, TODAY) == expected


@pytest.mark.parametrize("typed", ["Rivera", "May", "7-0004512", "13/45/1943", "02/30/1950", "1943", "12/07"])
def test_what_is_not_a_date_is_none(typed):
    assert parse_birth_date(typed, "MDY", TODAY) is None
