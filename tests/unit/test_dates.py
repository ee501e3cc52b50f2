from datetime import UTC, date, datetime

from sicdoc.fhir.dates import calendar_date, format_instant, parse_range


def test_ranges_cover_the_precision_given():
    assert parse_range("2024") == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert parse_range("2024-12") == (datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    assert parse_range("2024-02-29")[1] == datetime(2024, 3, 1, tzinfo=UTC)
    low, high = parse_range("2024-05-01T10:00:00+02:00")
    assert low == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert (high - low).total_seconds() == 1
    assert parse_range("2024-13-01") is None


def test_calendar_date_is_the_date_as_written():
    # 23:30 at -05:00 is the next day in UTC, but the record says the 1st.
    assert calendar_date("2024-03-01T23:30:00-05:00") == date(2024, 3, 1)
    assert calendar_date("2024-03") is None


def test_instant_format():
    assert format_instant(datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "2024-01-02T03:04:05.678Z"
