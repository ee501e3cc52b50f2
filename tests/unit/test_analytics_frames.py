"""Input frames: expected columns, coercion, the as-of cut, and the small shared helpers."""

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sicdoc.analytics.cohorts import age_band, age_years
from sicdoc.analytics.frames import Frames, lookup
from sicdoc.analytics.intervals import band_of, median_days
from sicdoc.analytics.suppression import is_small, protect
from sicdoc.analytics.tables import COLUMNS, NO_KEY, empty_frame, normalised_table


def test_empty_frames_have_the_projection_columns():
    frames = Frames()
    assert tuple(frames.encounters.columns) == COLUMNS["encounters"]
    assert empty_frame("conversations").empty
    normal = frames.normalised()
    assert str(normal.patients["deceased_date"].dtype).startswith("datetime64")
    assert str(normal.encounters["admit_at"].dtype).startswith("datetime64") and "UTC" in str(
        normal.encounters["admit_at"].dtype
    )


def test_missing_column_is_an_error():
    bad = Frames(patients=pd.DataFrame({"patient_id": ["p"]}))
    with pytest.raises(ValueError, match="patients frame lacks columns"):
        bad.normalised()


def test_coercion_of_dates_instants_flags_and_ids():
    frames = Frames.from_records(
        encounters=[
            {
                "encounter_id": "e1",
                "patient_id": 7,
                "admit_at": datetime(2025, 1, 1, 23, 30),
                "admit_date": "2025-01-01",
                "palliative": None,
            }
        ],
    ).normalised()
    enc = frames.encounters.iloc[0]
    assert enc["admit_date"] == pd.Timestamp("2025-01-01")
    assert enc["admit_at"] == pd.Timestamp("2025-01-01 23:30", tz="UTC")  # naive taken as UTC
    assert frames.encounters["palliative"].dtype == bool and not enc["palliative"]
    assert frames.patient_ids(frames.encounters["patient_id"]).tolist() == [7]
    assert isinstance(frames.encounters["status"].dtype, pd.CategoricalDtype)  # a code column


def test_patients_become_shared_integer_keys():
    frames = Frames.from_records(
        patients=[{"patient_id": "p-b"}, {"patient_id": "p-a"}],
        referrals=[
            {"service_request_id": "r1", "patient_id": "p-b", "authored_date": "2025-01-01"},
            {"service_request_id": "r2", "patient_id": "p-c", "authored_date": "2025-01-02"},
            {"service_request_id": "r3", "patient_id": None, "authored_date": "2025-01-03"},
        ],
    ).normalised()
    # One key per patient across every table.
    assert frames.patients["patient_id"].tolist() == [0, 1]
    assert frames.referrals["patient_id"].dtype == "int64"
    assert frames.referrals["patient_id"].tolist() == [0, 2]  # a row with no patient is left out
    assert frames.patient_ids(frames.referrals["patient_id"]).tolist() == ["p-b", "p-c"]
    # The keys survive the cut-off, so outputs built from it still name the right patients.
    cut = frames.observed(date(2025, 1, 1))
    assert cut.patient_ids(cut.referrals["patient_id"]).tolist() == ["p-b"]
    with pytest.raises(ValueError, match="normalised"):
        Frames().patient_ids(pd.Series([0]))


def test_encounters_become_shared_integer_keys_and_a_missing_one_is_no_key():
    frames = Frames.from_records(
        patients=[{"patient_id": "p"}],
        encounters=[{"encounter_id": "e2", "patient_id": "p"}, {"encounter_id": "e1", "patient_id": "p"}],
        diagnoses=[
            {"condition_id": "c1", "patient_id": "p", "encounter_id": "e2"},
            {"condition_id": "c2", "patient_id": "p", "encounter_id": None},
        ],
    ).normalised()
    assert frames.encounters["encounter_id"].tolist() == [0, 1]
    assert frames.diagnoses["encounter_id"].tolist() == [0, NO_KEY]
    assert frames.encounter_ids(frames.diagnoses["encounter_id"]).tolist() == ["e2", None]


def test_observed_cuts_the_future():
    frames = Frames.from_records(
        patients=[{"patient_id": "p", "deceased_date": date(2025, 2, 1)}],
        referrals=[
            {"service_request_id": "r1", "patient_id": "p", "authored_date": date(2025, 1, 10)},
            {"service_request_id": "r2", "patient_id": "p", "authored_date": date(2025, 1, 20)},
        ],
        encounters=[
            {
                "encounter_id": "e",
                "patient_id": "p",
                "admit_date": date(2025, 1, 5),
                "admit_at": datetime(2025, 1, 5, tzinfo=UTC),
                "discharge_at": datetime(2025, 1, 20, tzinfo=UTC),
                "discharge_date": date(2025, 1, 20),
            }
        ],
    ).normalised()
    seen = frames.observed(date(2025, 1, 15))
    assert seen.referrals["service_request_id"].tolist() == ["r1"]
    assert seen.patients["deceased_date"].isna().all()  # death on 02-01 not known yet
    assert seen.encounters["discharge_at"].isna().all()  # still in hospital on the 15th


def _observed_by_copying(frames: Frames, as_of: date) -> dict[str, pd.DataFrame]:
    """The cut as first written: every table filtered and copied, then the late values blanked."""
    cut, end = pd.Timestamp(as_of), pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1)
    patients = frames.patients.copy()
    patients["deceased_date"] = patients["deceased_date"].where(patients["deceased_date"] <= cut)
    encounters = frames.encounters[~(frames.encounters["admit_date"] > cut)].copy()
    encounters.loc[encounters["discharge_at"] > end, ["discharge_at", "discharge_date"]] = pd.NaT
    events = frames.care_events[~(frames.care_events["start_date"] > cut)].copy()
    events["end_date"] = events["end_date"].where(~(events["end_date"] > cut))
    return {"patients": patients, "encounters": encounters, "care_events": events} | {
        name: getattr(frames, name)[~(getattr(frames, name)[column] > cut)]
        for name, column in (
            ("diagnoses", "diagnosis_date"),
            ("referrals", "authored_date"),
            ("consults", "start_date"),
            ("conversations", "performed_date"),
        )
    }


day = st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2025, 1, 12)))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(day, day, day, st.integers(0, 47)), max_size=8),
    as_of=st.dates(date(2025, 1, 1), date(2025, 1, 12)),
)
def test_the_cut_is_the_copied_cut_and_shares_what_it_does_not_change(rows, as_of):
    frames = Frames.from_records(
        patients=[{"patient_id": f"p{i}", "deceased_date": a} for i, (a, _, _, _) in enumerate(rows)],
        encounters=[
            {
                "encounter_id": f"e{i}",
                "patient_id": f"p{i}",
                "admit_date": a,
                "discharge_at": None if b is None else datetime(b.year, b.month, b.day, h % 24, tzinfo=UTC),
                "discharge_date": b,
            }
            for i, (a, b, _, h) in enumerate(rows)
        ],
        care_events=[
            {"event_id": f"v{i}", "patient_id": f"p{i}", "start_date": a, "end_date": c}
            for i, (a, _, c, _) in enumerate(rows)
        ],
        referrals=[
            {"service_request_id": f"r{i}", "patient_id": f"p{i}", "authored_date": c}
            for i, (_, _, c, _) in enumerate(rows)
        ],
    ).normalised()
    seen = frames.observed(as_of)
    for name, expected in _observed_by_copying(frames, as_of).items():
        pd.testing.assert_frame_equal(getattr(seen, name), expected, check_exact=True)
        whole = getattr(frames, name)
        if len(whole) and expected.equals(whole):  # nothing cut: the columns are shared, not copied
            assert np.shares_memory(
                getattr(seen, name)["patient_id"].to_numpy(), whole["patient_id"].to_numpy()
            )
    # An edit of the cut's tables stays in the cut.
    before = frames.encounters.copy()
    seen.encounters.loc[:, "discharge_date"] = pd.NaT
    pd.testing.assert_frame_equal(frames.encounters, before)


def test_lookup_keeps_dates_even_when_empty():
    keys = pd.Series(["a", "b"])
    empty = pd.Series([], dtype="datetime64[s]")
    assert lookup(keys, empty).isna().all()
    assert str(lookup(keys, empty).dtype).startswith("datetime64")
    dated = pd.Series(pd.to_datetime(["2025-01-01"]), index=["a"])
    assert lookup(keys, dated).tolist()[0] == pd.Timestamp("2025-01-01")


def test_median_of_even_count_is_mean_of_middle_values():
    assert median_days([1, 3, 10, 100]) == 6.5
    assert median_days([0, 10, 40, 100]) == 25
    assert median_days([5]) == 5
    assert median_days([]) is None


def test_band_edges():
    days = pd.Series([0, 7, 8, 30, 31, 90, 91, None], dtype="Int64")
    assert band_of(days).tolist() == ["0-7", "0-7", "8-30", "8-30", "31-90", "31-90", "gt90", "never"]


def test_age_on_the_birthday():
    birth = pd.to_datetime(pd.Series(["1980-01-11", "1980-01-11", "2010-06-01", None]))
    on = pd.to_datetime(pd.Series(["2025-01-10", "2025-01-11", "2025-06-01", "2025-01-01"]))
    ages = age_years(birth, on)
    assert ages.tolist()[:3] == [44, 45, 15]
    assert age_band(ages).tolist() == ["18-44", "45-64", "<18", "unknown"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=6))
def test_no_small_cell_recoverable_from_a_shown_total(cells):
    # Invariant of complementary suppression for one row with its total: whatever is hidden is either
    # nothing, or at least two non-zero cells whose sum is 11 or more, or the total is hidden as well.
    values = {i: v for i, v in enumerate(cells)} | {"total": sum(cells)}
    hidden = protect(values, [(list(range(len(cells))), "total")])
    assert not any(is_small(v) for k, v in values.items() if k not in hidden)
    hidden_cells = [values[k] for k in hidden if k != "total" and values[k] != 0]
    if "total" not in hidden and hidden_cells:
        assert len(hidden_cells) >= 2
        assert sum(hidden_cells) >= 11


def test_replacing_tables_keeps_the_others_and_keys_everything_afresh():
    old = Frames.from_records(
        patients=[{"patient_id": "p1"}, {"patient_id": "p2"}],
        encounters=[{"encounter_id": "e1", "patient_id": "p2", "status": "finished"}],
        referrals=[{"service_request_id": "r1", "patient_id": "p1", "authored_date": "2025-01-01"}],
    ).normalised()
    fresh = normalised_table(
        "referrals",
        Frames.from_records(
            referrals=[
                {"service_request_id": "r1", "patient_id": "p1", "authored_date": "2025-01-01"},
                {
                    "service_request_id": "r2",
                    "patient_id": "p3",
                    "encounter_id": "e1",
                    "authored_date": "2025-02-01",
                },
            ]
        ).referrals,
    )
    new = old.replaced(referrals=fresh)
    assert new.is_normalised and new.patients_by_id is not old.patients_by_id
    assert new.patient_ids(new.patients["patient_id"]).tolist() == ["p1", "p2"]
    assert new.patient_ids(new.referrals["patient_id"]).tolist() == ["p1", "p3"]
    # The kept encounter and the new referral that names it share one key.
    assert new.referrals["encounter_id"].iloc[1] == new.encounters["encounter_id"].iloc[0]
    assert new.encounters["status"].tolist() == ["finished"]
    # A kept table is keyed again, not converted again: its other columns are the old frames' own.
    kept, before = new.encounters["admit_date"].to_numpy(), old.encounters["admit_date"].to_numpy()
    assert np.shares_memory(kept, before)
    with pytest.raises(ValueError, match="unknown"):
        old.replaced(visits=fresh)
    with pytest.raises(ValueError, match="normalised"):
        Frames().replaced(referrals=fresh)


def test_putting_patients_rows_in_place_keeps_the_keys_and_adds_new_ids_after_them():
    old = Frames.from_records(
        patients=[{"patient_id": "p1"}, {"patient_id": "p2"}, {"patient_id": "p3"}],
        encounters=[
            {"encounter_id": "e1", "patient_id": "p2", "class_code": "IMP", "status": "finished"},
            {"encounter_id": "e2", "patient_id": "p3", "class_code": "AMB", "status": "finished"},
        ],
        referrals=[{"service_request_id": "r1", "patient_id": "p1", "authored_date": "2025-01-01"}],
    ).normalised()
    # p2's stay is now over and p4 is new with a stay of a new class; p3's was deleted.
    fresh = Frames.from_records(
        encounters=[
            {"encounter_id": "e1", "patient_id": "p2", "class_code": "IMP", "status": "cancelled"},
            {"encounter_id": "e3", "patient_id": "p4", "class_code": "EMER", "status": "finished"},
        ]
    )
    new = old.patched({"p2", "p3", "p4"}, {"encounters": fresh.encounters})
    assert new.is_normalised and new.patients is old.patients and new.referrals is old.referrals
    assert list(new.patient_keys) == ["p1", "p2", "p3", "p4"]
    assert list(new.encounter_keys) == ["e1", "e2", "e3"]
    assert new.patient_ids(new.encounters["patient_id"]).tolist() == ["p2", "p4"]
    assert new.encounter_ids(new.encounters["encounter_id"]).tolist() == ["e1", "e3"]
    assert new.encounters["status"].tolist() == ["cancelled", "finished"]
    assert new.encounters.index.tolist() == [0, 1]
    # Code columns are categorical over the values present, sorted, as a whole read makes them.
    assert list(new.encounters["class_code"].cat.categories) == ["EMER", "IMP"]
    assert list(new.encounters["status"].cat.categories) == ["cancelled", "finished"]
    with pytest.raises(ValueError, match="unknown"):
        old.patched({"p2"}, {"visits": fresh.encounters})
    with pytest.raises(ValueError, match="normalised"):
        Frames().patched({"p2"}, {"encounters": fresh.encounters})


def test_keys_under_an_index_are_one_look_up_over_all_tables_and_extend_it_in_order_of_first_appearance():
    from sicdoc.analytics.tables import assign_keys_under

    index = pd.Index(["a", "b"], dtype=object)
    tables = {
        "one": pd.DataFrame({"patient_id": pd.Series(["b", None, "d"], dtype=object)}),
        "none": pd.DataFrame({"other": [1]}),
        "two": pd.DataFrame({"patient_id": pd.Series(["c", "d", "a"], dtype=object)}),
    }
    extended = assign_keys_under(tables, "patient_id", index)
    assert tables["one"]["patient_id"].tolist() == [1, NO_KEY, 2]
    assert tables["two"]["patient_id"].tolist() == [3, 2, 0]
    assert list(extended) == ["a", "b", "d", "c"] and list(index) == ["a", "b"]
    assert assign_keys_under({"none": tables["none"]}, "patient_id", extended) is extended
    first = assign_keys_under({"t": pd.DataFrame({"patient_id": ["x", "x"]})}, "patient_id", pd.Index([]))
    assert list(first) == ["x"]


def test_positions_in_a_large_index_of_a_few_ids():
    from sicdoc.analytics.tables import positions_in

    index = pd.Index([f"id{k}" for k in range(1000)], dtype=object)
    ids = np.array(["id7", None, "nope", "id999", "id7"], dtype=object)
    assert positions_in(index, ids).tolist() == [7, -1, -1, 999, 7]
    assert positions_in(pd.Index([], dtype=object), ids).tolist() == [-1] * 5
    assert positions_in(index, np.array([], dtype=object)).tolist() == []
