"""One projection table made ready for analytics: its columns and conversions."""

from datetime import UTC, date, datetime

import pandas as pd

from sicdoc.analytics.tables import COLUMNS, _converted, as_dates, as_instants, empty_frame, normalised_table


def test_an_empty_table_normalises_as_the_conversions_would_and_is_the_callers_own():
    for name in COLUMNS:
        fast = normalised_table(name, pd.DataFrame.from_records([], columns=list(COLUMNS[name])))
        pd.testing.assert_frame_equal(fast, _converted(name, empty_frame(name)))
    first = normalised_table("patients", empty_frame("patients"))
    first["patient_id"] = first["patient_id"].astype("int64")  # a caller editing its copy
    assert normalised_table("patients", empty_frame("patients"))["patient_id"].dtype == object
    # An empty frame is the caller's own as well: its edits never reach the next one.
    mine = empty_frame("diagnoses")
    mine["cohort"] = mine["cohort"].astype("category")
    mine["extra"] = pd.Series(dtype="int64")
    mine.columns = [*mine.columns[:-1], "renamed"]
    again = empty_frame("diagnoses")
    assert list(again.columns) == list(COLUMNS["diagnoses"]) and again["cohort"].dtype == object
    # Typed empty tables take the conversions themselves.
    typed = empty_frame("patients").astype({"patient_id": "int64"})
    assert normalised_table("patients", typed)["patient_id"].dtype == object


def test_a_date_column_reads_every_day_whatever_form_each_value_takes():
    mixed = pd.Series(
        ["2024-01-02 10:00:00", "2024-01-03", date(1931, 5, 6), None, "not a date"], dtype=object
    )
    assert as_dates(mixed).tolist() == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-03"),  # read, though the first value had a time and this one none
        pd.Timestamp("1931-05-06"),
        pd.NaT,
        pd.NaT,
    ]
    instants = pd.Series(["2024-01-02T10:00:00+02:00", datetime(2024, 1, 3, 5, tzinfo=UTC), None])
    assert as_instants(instants).tolist() == [
        pd.Timestamp("2024-01-02 08:00", tz="UTC"),
        pd.Timestamp("2024-01-03 05:00", tz="UTC"),
        pd.NaT,
    ]


def test_a_table_as_read_converts_without_touching_the_callers_frame():
    rows = [("d1", "cancer", "p1", "sct", "363346000", "solid", 1, None, "2024-01-02", None)]
    read = pd.DataFrame.from_records(rows, columns=list(COLUMNS["diagnoses"]))  # text columns as read
    before = read.copy()
    out = normalised_table("diagnoses", read)
    pd.testing.assert_frame_equal(read, before)
    assert out["patient_id"].dtype == object and out["encounter_id"].tolist() == [None]
    assert out["metastatic"].tolist() == [True] and out["hematologic"].tolist() == [False]
    assert out["diagnosis_date"].tolist() == [pd.Timestamp("2024-01-02")]
    # Columns in another order, or more of them, convert to the same table.
    shuffled = read.assign(extra=1).loc[:, ["extra", *reversed(COLUMNS["diagnoses"])]]
    pd.testing.assert_frame_equal(normalised_table("diagnoses", shuffled), out)
