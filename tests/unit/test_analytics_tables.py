"""One projection table made ready for analytics: its columns and conversions."""

import pandas as pd

from sicdoc.analytics.tables import COLUMNS, _converted, empty_frame, normalised_table


def test_an_empty_table_normalises_as_the_conversions_would_and_is_the_callers_own():
    for name in COLUMNS:
        fast = normalised_table(name, pd.DataFrame.from_records([], columns=list(COLUMNS[name])))
        pd.testing.assert_frame_equal(fast, _converted(name, empty_frame(name)))
    first = normalised_table("patients", empty_frame("patients"))
    first["patient_id"] = first["patient_id"].astype("int64")  # a caller editing its copy
    assert normalised_table("patients", empty_frame("patients"))["patient_id"].dtype == object
    # Typed empty tables take the conversions themselves.
    typed = empty_frame("patients").astype({"patient_id": "int64"})
    assert normalised_table("patients", typed)["patient_id"].dtype == object
