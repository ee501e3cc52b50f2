"""The reach panel's site and unit breakdowns, worked out for all groups at once, against the same
figures worked out group by group from each group's own admissions (``_group_rows``)."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sicdoc.analytics.panels.reach import (
    ALL,
    MEASURES,
    _group_rows,
    _months_hidden,
    _protect_grid,
    _shown_rows,
    _values,
    breakdown_groups,
    group_frames,
)
from sicdoc.analytics.reach import reach_counts
from sicdoc.analytics.suppression import merge_small_groups

MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04"]
PLACES = ["north", "south", "unknown", "east", "ward-a", None]
THROUGH = date(2025, 3, 31)


def groups_one_by_one(column: pd.Series, min_cell: int) -> tuple[list, list]:
    """Each row's group label and the sorted labels, by counting the labels themselves."""
    label = column.astype(object).where(column.notna(), "unknown")
    sizes = label.value_counts().to_frame("admissions")
    merged = merge_small_groups(sizes, counts=("admissions",), size="admissions", min_cell=min_cell)
    new = [g for g in merged.index if g not in sizes.index]
    names = {g: (g if g in merged.index else new[0]) for g in sizes.index}
    mapped = label.map(names)
    return list(mapped), sorted(set(mapped), key=str)


def frames_one_by_one(table: pd.DataFrame, rows: list, groups: list, all_rows: pd.DataFrame) -> dict:
    """Each group's months from its own admissions, filled out to the months of ``all_rows``."""
    out = {}
    months = list(all_rows.index)
    for g in groups:
        frame = _group_rows(reach_counts(table[[r == g for r in rows]], THROUGH)).reindex(months)
        frame[["consulted_patients", "admissions"]] = frame[["consulted_patients", "admissions"]].fillna(0)
        frame["complete"] = all_rows["complete"]
        for m in MEASURES:
            frame[f"{m}_hours_n"] = frame[f"{m}_hours_n"].fillna(0)
        out[g] = frame
    return out


HOURS = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.25, 3.0, 7.5, 24.0, 48.0, 100.0 / 3.0]))
ADMISSION = st.tuples(
    st.sampled_from(MONTHS),
    st.integers(0, 30),  # patient
    st.booleans(),  # consulted
    HOURS,
    HOURS,
    st.sampled_from(PLACES),
    st.sampled_from(PLACES),
    st.integers(0, 120),  # days from the admission to the discharge
)


def reach_rows(admissions: list[tuple]) -> pd.DataFrame:
    rows = []
    for month, patient, consulted, to_consult, from_referral, site, unit, stay in admissions:
        admitted = datetime.fromisoformat(f"{month}-15").replace(tzinfo=UTC)
        rows.append(
            {
                "patient_id": f"p{patient}",
                "month": month,
                "discharge_date": pd.Timestamp((admitted + timedelta(days=stay)).date()),
                "consult_at": admitted + timedelta(hours=1) if consulted else None,
                "admission_to_consult_hours": to_consult if consulted else None,
                "referral_to_consult_hours": from_referral if consulted else None,
                "site": site,
                "unit": unit,
            }
        )
    table = pd.DataFrame(rows)
    table["consult_at"] = pd.to_datetime(table["consult_at"], utc=True)
    for measure in ("admission_to_consult_hours", "referral_to_consult_hours"):
        table[measure] = table[measure].astype(float)
    return table


@settings(max_examples=150, deadline=None)
@given(st.lists(ADMISSION, min_size=1, max_size=120), st.sampled_from([1, 3, 11]), st.booleans())
def test_all_groups_at_once_give_what_each_group_gives_alone(admissions, min_cell, coded):
    table = reach_rows(admissions)
    if coded:  # as ``reach_table`` of normalised frames holds places and patients
        table[["site", "unit"]] = table[["site", "unit"]].astype("category")
        table["patient_id"] = table["patient_id"].str[1:].astype("int64")
    all_rows = _group_rows(reach_counts(table, THROUGH))
    all_hidden = _months_hidden(all_rows, ALL, min_cell)
    for breakdown in ("site", "unit"):
        codes, groups = breakdown_groups(table[breakdown], min_cell)
        rows, expected_groups = groups_one_by_one(table[breakdown], min_cell)
        assert groups == expected_groups
        assert [groups[c] for c in codes] == rows

        got = group_frames(table, codes, groups, all_rows)
        expected = frames_one_by_one(table, rows, groups, all_rows)
        assert _values(got) == _values(expected)
        hidden = _protect_grid(
            _values({**expected, ALL: all_rows}), groups, list(all_rows.index), all_hidden, min_cell
        )
        assert _shown_rows(got, hidden, min_cell, ALL, breakdown) == _shown_rows(
            expected, hidden, min_cell, ALL, breakdown
        )


def test_a_place_called_unknown_and_missing_places_are_one_group():
    column = pd.Series(["unknown"] * 6 + [None] * 6 + ["north"] * 12, dtype=object)
    codes, groups = breakdown_groups(column, 11)
    assert groups == ["north", "unknown"]
    assert np.bincount(codes).tolist() == [12, 12]


def test_equal_small_places_merge_with_the_first_seen_when_the_rest_is_still_small():
    # "b", "c" and the missing places (2 admissions each) merged are 6, still small, so they join
    # the smallest remaining place: of "x" and "y" (12 each) the first seen.
    column = pd.Series([None] * 2 + ["y"] * 12 + ["x"] * 12 + ["b"] * 2 + ["c"] * 2, dtype=object)
    codes, groups = breakdown_groups(column, 11)
    assert groups == ["x", "y, other or unknown"]
    assert np.bincount(codes).tolist() == [12, 18]
