"""Clinician worklist: who is due a conversation, why, and in which order."""

from dataclasses import replace
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from sicdoc.analytics import Frames, worklist
from sicdoc.analytics.scope import parse_scope
from sicdoc.analytics.served_worklist import Worklist
from sicdoc.analytics.worklist import (
    CATEGORICAL,
    IN_HOSPITAL,
    NOT_SEEN,
    REASON_COLUMNS,
    SEEN_RECENTLY,
    WORKLIST_COLUMNS,
    _labels,
    plain,
    reasons,
)
from tests.unit.worklist_cohort import AS_OF, frames


def test_worklist_order_and_reasons():
    out = worklist(frames(), as_of=AS_OF)
    # w3 was seen 11 days ago; the rest over 90 days ago: w1 first by need, then the most recently seen.
    assert out["patient_id"].tolist() == ["w3", "w1", "w8", "w2", "w7"]
    by_id = out.set_index("patient_id")
    assert by_id.loc["w1", "priority"] == 1 and by_id.loc["w1", "days_waiting"] == 91
    assert by_id.loc["w3", "priority"] == 2
    assert by_id.loc["w3", "reason"] == "no_sic_since_admission"
    assert by_id.loc["w3", "days_waiting"] == 11  # admitted 12-20
    assert by_id.loc["w7", "cohorts"] == "stroke,cancer"
    assert by_id.loc["w7", "days_since_index"] == 333  # 2025-02-01 -> 12-31
    assert by_id.loc["w2", "days_waiting"] == 213
    assert by_id.loc["w8", "reason"] == "no_sic_after_index"
    assert list(out.columns) == list(WORKLIST_COLUMNS)


def test_a_patient_due_in_several_cohorts_for_both_reasons_is_one_row_of_them_all():
    """w9: stroke since 06-01 with no conversation (due after index, 213 days); heart failure since
    12-10, admitted that day (21 days ago: not yet due after index, due since admission). w7: stroke
    and cancer, due after both indexes: the earlier one is the one they wait from."""
    data = frames()
    w9 = Frames.from_records(
        patients=[*_rows(data.patients), {"patient_id": "w9"}],
        diagnoses=[
            *_rows(data.diagnoses),
            {
                "condition_id": "c9a",
                "cohort": "stroke",
                "patient_id": "w9",
                "diagnosis_date": date(2025, 6, 1),
            },
            {
                "condition_id": "c9b",
                "cohort": "heart_failure",
                "patient_id": "w9",
                "diagnosis_date": date(2025, 12, 10),
                "encounter_id": "e9",
            },
        ],
        encounters=[
            *_rows(data.encounters),
            {
                "encounter_id": "e9",
                "patient_id": "w9",
                "class_code": "IMP",
                "status": "finished",
                "admit_at": datetime(2025, 12, 10, tzinfo=UTC),
                "admit_date": date(2025, 12, 10),
            },
        ],
        conversations=_rows(data.conversations),
    )
    by_id = worklist(w9, as_of=AS_OF).set_index("patient_id")
    row = by_id.loc["w9"]
    assert row["cohorts"] == "stroke,heart_failure"
    assert row["reason"] == "no_sic_after_index,no_sic_since_admission"
    assert (row["days_waiting"], row["days_since_index"]) == (213, 213)
    assert (row["index_date"], row["admit_date"]) == (pd.Timestamp(2025, 6, 1), pd.Timestamp(2025, 12, 10))
    w7 = by_id.loc["w7"]
    assert (w7["reason"], w7["days_waiting"], w7["index_date"]) == (
        "no_sic_after_index",
        333,
        pd.Timestamp(2025, 2, 1),
    )
    assert pd.isna(w7["admit_date"])


def _rows(table: pd.DataFrame) -> list[dict]:
    return table.to_dict("records")


def test_worklist_for_one_cohort_and_nobody_due():
    assert worklist(frames(), as_of=AS_OF, cohorts=["heart_failure"])["patient_id"].tolist() == ["w3"]
    # On 2025-01-15 nobody has waited 30 days since an index in the data but w6 (who had a conversation).
    early = worklist(frames(), as_of=date(2025, 1, 15))
    assert early.empty
    assert list(early.columns) == list(WORKLIST_COLUMNS)


def test_the_reasons_alone_are_the_worklist_rows_without_their_place_in_it():
    """What a chart shows of a patient: the worklist's row for the columns that say why, for every
    patient listed and no other, whatever the cohorts asked."""
    for cohorts in (None, ["heart_failure"], ["stroke"]):
        listed = plain(worklist(frames(), as_of=AS_OF, cohorts=cohorts))
        scope = parse_scope({"as_of": AS_OF.isoformat()}, today=AS_OF)
        why = reasons(frames(), replace(scope, cohorts=tuple(cohorts or scope.cohorts)))
        assert list(why.columns) == list(REASON_COLUMNS)
        expected = listed.loc[:, list(REASON_COLUMNS)].sort_values("patient_id", ignore_index=True)
        pd.testing.assert_frame_equal(
            why.sort_values("patient_id", ignore_index=True), expected, check_dtype=False
        )
    nobody = reasons(frames(), parse_scope({"as_of": "2025-01-15"}, today=AS_OF))
    assert nobody.empty and list(nobody.columns) == list(REASON_COLUMNS)


def test_a_set_of_values_is_labelled_in_the_given_order():
    labels = _labels(["stroke", "heart_failure", "cancer"])
    assert list(labels) == [
        "",
        "stroke",
        "heart_failure",
        "stroke,heart_failure",
        "cancer",
        "stroke,cancer",
        "heart_failure,cancer",
        "stroke,heart_failure,cancer",
    ]


def test_patients_in_hospital_now_come_first_with_their_ward_and_each_reason_its_date():
    data = frames()
    stay = {
        "encounter_id": "e8",
        "patient_id": "w8",
        "class_code": "IMP",
        "status": "in-progress",
        "admit_at": datetime(2025, 12, 29, tzinfo=UTC),
        "admit_date": date(2025, 12, 29),
        "site": "North",
        "unit": "Ward 7B",
    }
    old_stay = {**stay, "encounter_id": "e2", "patient_id": "w2", "status": "finished", "unit": "ICU"}
    old_stay |= {"admit_date": date(2025, 6, 2), "discharge_date": date(2025, 6, 9)}
    records = {
        name: getattr(data, name).to_dict("records") for name in ("patients", "diagnoses", "conversations")
    }
    encounters = [*data.encounters.to_dict("records"), stay, old_stay]
    out = worklist(Frames.from_records(encounters=encounters, **records), as_of=AS_OF)
    assert out["patient_id"].tolist()[:2] == ["w8", "w3"]
    by_id = out.set_index("patient_id")
    assert by_id.loc["w8", "in_hospital"] and by_id.loc["w8", "recency"] == IN_HOSPITAL
    assert (by_id.loc["w8", "site_now"], by_id.loc["w8", "unit_now"]) == ("North", "Ward 7B")
    assert not by_id.loc["w2", "in_hospital"] and pd.isna(by_id.loc["w2", "unit_now"])  # discharged in June
    shown = plain(out).set_index("patient_id")  # as a page shows it: no place is None, not NaN
    assert shown.loc["w2", "unit_now"] is None and shown.loc["w8", "unit_now"] == "Ward 7B"
    assert by_id.loc["w3", "recency"] == SEEN_RECENTLY
    assert by_id.loc["w3", "admit_date"] == pd.Timestamp(2025, 12, 20) and pd.isna(
        by_id.loc["w3", "index_date"]
    )
    assert by_id.loc["w7", "index_date"] == pd.Timestamp(2025, 2, 1)  # the earlier of its two cohorts
    assert by_id.loc["w2", "last_contact"] == pd.Timestamp(2025, 6, 2)


def test_a_patient_not_seen_for_over_a_year_goes_last():
    out = worklist(frames(), as_of=date(2027, 6, 1))
    assert set(out["recency"]) == {NOT_SEEN}
    assert out["patient_id"].tolist()[0] == "w1"  # among equals, need decides


def test_rows_a_write_changed_are_put_in_place_as_sorting_the_whole_table_would():
    """A write's few rows go into the sorted table one by one (sorting a million patients' table again
    took over a second); ties on every key, missing contacts and a row that moves are all in place, and
    the columns of few values stay categories, a ward first seen in the write included."""
    import random

    from sicdoc.analytics.worklist import ordered

    rng = random.Random(3)

    def row(pid: str) -> dict:
        contact = rng.choice([None, "2026-01-01", "2026-02-01", "2026-03-01"])
        return {
            "patient_id": pid,
            "cohorts": rng.choice(["cancer", "stroke", "stroke,cancer"]),
            "reason": "no_sic_after_index",
            "days_waiting": rng.randrange(40),
            "priority": rng.randint(1, 3),
            "days_since_index": 40,
            "index_date": pd.Timestamp("2025-12-01"),
            "admit_date": pd.NaT,
            "in_hospital": False,
            "site_now": rng.choice([None, "North", "South"]),
            "unit_now": rng.choice([None, "ICU", "Ward 7B"]),
            "last_contact": pd.Timestamp(contact) if contact else pd.NaT,
            "recency": rng.randint(0, 3),
        }

    for _ in range(20):
        ids = [f"p{n:03d}" for n in rng.sample(range(400), 120)]
        previous = ordered(pd.DataFrame([row(pid) for pid in ids]))
        changed = [*rng.sample(ids, 4), "p999"]  # four rows move, one is new, some leave
        picked = [row(pid) | ({"unit_now": "Ward 9"} if pid == "p999" else {}) for pid in changed]
        picked = picked[: rng.randint(0, 5)]
        fresh = ordered(pd.DataFrame(picked, columns=list(WORKLIST_COLUMNS)))
        kept = previous[~previous["patient_id"].isin(changed)]
        whole = ordered(pd.concat([kept, fresh]) if len(fresh) else kept)
        out = Worklist.of(previous).patched(fresh, changed).table()
        # (ids come back as ``worklist`` gives them: Python strings in an object column)
        pd.testing.assert_frame_equal(plain(out), plain(whole).astype({"patient_id": object}))
        assert all(isinstance(out[c].dtype, pd.CategoricalDtype) for c in CATEGORICAL)


def test_the_worklist_holds_its_few_values_compactly_whether_built_whole_or_patched():
    """Every web worker holds the worklist it serves (330,000 rows at a million patients): columns of
    a few strings are categories and the priority and recency a byte each, as built and as patched."""
    out = worklist(frames(), as_of=AS_OF)
    fresh = out[out["patient_id"] == "w1"].reset_index(drop=True)
    held = Worklist.of(out)
    for table in (
        out,
        held.table(),
        held.patched(fresh, ["w1"]).table(),
        held.patched(fresh.iloc[:0], ["w1"]).table(),
    ):
        assert all(isinstance(table[c].dtype, pd.CategoricalDtype) for c in CATEGORICAL)
        assert [str(table[c].dtype) for c in ("priority", "recency")] == ["int8", "int8"]
    assert out.set_index("patient_id")["priority"].to_dict() == {"w1": 1, "w3": 2, "w7": 3, "w2": 3, "w8": 3}


@pytest.mark.parametrize("rows_written", [2, 0])
def test_a_write_put_in_place_holds_one_new_table_beside_the_old_one_at_most(rows_written):
    """A web worker patches a million patients' worklist at every write; what it holds meanwhile
    sets its peak: once a kept copy and a joined copy, now the new table and one column. Most writes
    bring no row (their patient is not due): those once made the whole table again, ids and all."""
    import tracemalloc

    import numpy as np

    from sicdoc.analytics.worklist import ordered

    rows = 200_000
    rng = np.random.default_rng(5)
    previous = ordered(
        pd.DataFrame(
            {
                # object, as ``Frames.patient_ids`` gives them
                "patient_id": pd.Series([f"p{n:09d}" for n in range(rows)], dtype=object),
                "cohorts": rng.choice(["cancer", "stroke"], rows),
                "reason": "no_sic_after_index",
                "days_waiting": rng.integers(30, 900, rows),
                "priority": rng.integers(1, 4, rows),
                "days_since_index": rng.integers(30, 900, rows),
                "index_date": pd.Timestamp("2024-01-01"),
                "admit_date": pd.NaT,
                "in_hospital": False,
                "site_now": None,
                "unit_now": None,
                "last_contact": pd.Timestamp("2025-01-01")
                + pd.to_timedelta(rng.integers(0, 300, rows), unit="D"),
                "recency": rng.integers(0, 4, rows),
            }
        )
    )
    fresh = plain(previous.iloc[[7, 70_000]]).reset_index(drop=True)
    fresh.loc[0, "unit_now"] = "Ward 9"  # a ward the table has not had
    fresh = ordered(fresh).iloc[:rows_written]
    changed = [previous["patient_id"].iloc[n] for n in (7, 70_000, 150_000)]
    held = Worklist.of(previous)
    shallow = held.rows.memory_usage(deep=False).sum() + held.ids.nbytes + held.keys.nbytes
    tracemalloc.start()
    try:
        out = held.patched(fresh, changed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = ordered(pd.concat([previous[~previous["patient_id"].isin(changed)], fresh]))
    pd.testing.assert_frame_equal(plain(out.table()), plain(whole))
    assert out.table()["patient_id"].dtype == object
    assert peak < shallow * 1.3  # the new table and a column; the first way held two tables


def test_the_worklist_kept_holds_its_patient_ids_as_bytes_not_a_string_each():
    """A web worker holds the worklists it serves: at a million patients the ids, a Python string per
    row (36 characters: 93 bytes with its pointer), were two thirds of one. As one array of bytes they
    are 36 a row, and the rows come back as they went in, paged or whole, with any id asked for."""
    import pickle

    import numpy as np

    one = worklist(frames(), as_of=AS_OF)
    table = pd.concat([one] * 20_000, ignore_index=True)  # 100,000 rows
    table["patient_id"] = pd.Series(
        [f"{n:08x}-0000-7000-8000-{n:012x}" for n in range(len(table))], dtype=object
    )
    held = Worklist.of(table)
    assert held.ids.dtype == np.dtype("S36") and held.ids.nbytes == 36 * len(table)
    as_objects = int(table.memory_usage(deep=True).sum())
    as_kept = int(held.rows.memory_usage(deep=True).sum()) + held.ids.nbytes
    assert as_kept < as_objects * 0.6, (as_kept, as_objects)
    pd.testing.assert_frame_equal(held.table(), table.astype(held.table().dtypes.to_dict()))
    some = np.array([5, 99_999, 0])
    pd.testing.assert_frame_equal(held.table(some), held.table().iloc[some].reset_index(drop=True))
    wanted = [table["patient_id"][7], table["patient_id"][70_000], "not-a-patient", "é", "x" * 64]
    assert np.flatnonzero(held.holds(wanted)).tolist() == [7, 70_000]
    stored = pickle.dumps(held, protocol=pickle.HIGHEST_PROTOCOL)  # as the analytics worker stores it
    restored = pickle.loads(stored)
    assert len(stored) < as_kept + held.keys.nbytes // 2  # the keys are made again, not stored
    assert np.array_equal(restored.keys, held.keys)
    assert np.flatnonzero(restored.holds(wanted)).tolist() == [7, 70_000]
    empty = Worklist.of(table.iloc[:0])
    assert len(empty) == 0 and empty.table().columns.tolist() == table.columns.tolist()
    assert not empty.holds(["p1"]).any()
