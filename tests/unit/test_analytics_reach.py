"""M5 reach and timeliness: penetration (CAPC) and hours to the first palliative consult, by hand."""

import functools
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from sicdoc.analytics import Frames, compute_metrics
from sicdoc.analytics.frames import Where
from sicdoc.analytics.reach import (
    hours_summary,
    monthly_reach,
    penetration_counts,
    present_reach,
    reach_counts,
    reach_table,
)

AS_OF = date(2025, 3, 31)


def at(month: int, day: int, hour: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def frames() -> Frames:
    """Admissions (class IMP unless said; site north unless said), times UTC:

    p1  A1 01-01 08h to 01-05, ward-a; referral r1 01-01 10h; consult k1 (of r1) 01-01 20h   12 h / 10 h
    p2  A2 01-02 00h to 01-10, ward-a; referral r2 01-03 00h, r2b 01-05; consult k2 (no
        referral named) 01-04 00h: the latest referral before it is r2                       48 h / 24 h
    p3  A3 01-10 to 01-12, ward-b; consult k3 01-09 12h, before the admission               no consult
    p4  A4a 01-15 to 01-17 and A4b 01-20 to 01-25, ward-b, two admissions in one month;
        consult k4a 01-15 06h named r4, which is authored 01-15 08h (after it: left out of
        referral -> consult); consult k4b 01-21 00h, no referral named: r4 is the latest     6 h / -, 24 h / 136 h
    p5  A5 02-01, still in hospital at the cut-off, ward-a                                   no consult; Feb open
    p6  A6 02-03 to 02-05, ward-a; consult 02-03 12h cancelled; consult 02-04 00h of r6
        (02-03 00h)                                                                          24 h / 24 h
    p7  a child (born 2015), A7 01-05 to 01-06                                               not an admission
    p8  an ambulatory visit 01-05                                                            not an admission
    p9  A9 01-25 to 01-28, ward-b, site south; consult 01-28 12h after discharge             no consult
    Consult encounters are inpatient encounters too (palliative): never admissions.
    Cohorts: stroke p1 (01-01), p2 (01-02); heart failure p3 (2024-12-01), p4 (01-20: A4a
    ended before the diagnosis, so only A4b is a heart-failure admission).
    """
    stays = {
        "A1": ("p1", at(1, 1, 8), at(1, 5), "ward-a", "north", "IMP"),
        "A2": ("p2", at(1, 2), at(1, 10), "ward-a", "north", "IMP"),
        "A3": ("p3", at(1, 10), at(1, 12), "ward-b", "north", "IMP"),
        "A4a": ("p4", at(1, 15), at(1, 17), "ward-b", "north", "IMP"),
        "A4b": ("p4", at(1, 20), at(1, 25), "ward-b", "north", "ACUTE"),
        "A5": ("p5", at(2, 1), None, "ward-a", "north", "IMP"),
        "A6": ("p6", at(2, 3), at(2, 5), "ward-a", "north", "IMP"),
        "A7": ("p7", at(1, 5), at(1, 6), "ward-a", "north", "IMP"),
        "A8": ("p8", at(1, 5), at(1, 5, 1), "clinic", "north", "AMB"),
        "A9": ("p9", at(1, 25), at(1, 28), "ward-b", "south", "IMP"),
    }
    consults = {
        "k1": ("p1", at(1, 1, 20), "r1", "finished"),
        "k2": ("p2", at(1, 4), None, "finished"),
        "k3": ("p3", at(1, 9, 12), None, "finished"),
        "k4a": ("p4", at(1, 15, 6), "r4", "finished"),
        "k4b": ("p4", at(1, 21), None, "finished"),
        "k6x": ("p6", at(2, 3, 12), None, "cancelled"),
        "k6": ("p6", at(2, 4), "r6", "finished"),
        "k9": ("p9", at(1, 28, 12), None, "finished"),
    }
    encounters = [
        {
            "encounter_id": e,
            "patient_id": p,
            "class_code": cls,
            "status": "finished" if end else "in-progress",
            "admit_at": start,
            "admit_date": start.date(),
            "discharge_at": end,
            "discharge_date": end.date() if end else None,
            "site": site,
            "unit": unit,
            "palliative": False,
        }
        for e, (p, start, end, unit, site, cls) in stays.items()
    ] + [
        {
            "encounter_id": k,
            "patient_id": p,
            "class_code": "IMP",
            "status": status,
            "admit_at": start,
            "admit_date": start.date(),
            "discharge_at": start,
            "discharge_date": start.date(),
            "site": "north",
            "unit": "palliative",
            "palliative": True,
        }
        for k, (p, start, _, status) in consults.items()
    ]
    referrals = [
        {
            "service_request_id": r,
            "patient_id": p,
            "status": "active",
            "authored_at": when,
            "authored_date": when.date(),
        }
        for r, p, when in (
            ("r1", "p1", at(1, 1, 10)),
            ("r2", "p2", at(1, 3)),
            ("r2b", "p2", at(1, 5)),
            ("r4", "p4", at(1, 15, 8)),
            ("r6", "p6", at(2, 3)),
        )
    ]
    diagnoses = [
        {"condition_id": f"c{p}", "cohort": cohort, "patient_id": p, "diagnosis_date": day}
        for p, cohort, day in (
            ("p1", "stroke", date(2025, 1, 1)),
            ("p2", "stroke", date(2025, 1, 2)),
            ("p3", "heart_failure", date(2024, 12, 1)),
            ("p4", "heart_failure", date(2025, 1, 20)),
        )
    ]
    patients = [
        {"patient_id": f"p{i}", "birth_date": date(2015, 1, 1) if i == 7 else date(1950, 1, 1)}
        for i in range(1, 10)
    ]
    return Frames.from_records(
        patients=patients,
        encounters=encounters,
        referrals=referrals,
        diagnoses=diagnoses,
        consults=[
            {
                "encounter_id": k,
                "patient_id": p,
                "status": status,
                "start_at": start,
                "start_date": start.date(),
                "referral_id": ref,
            }
            for k, (p, start, ref, status) in consults.items()
        ],
    )


QUARTER = Where(date(2025, 1, 1), date(2025, 3, 31))


def table(cohort: str = "all", where: Where = QUARTER) -> pd.DataFrame:
    data = frames().normalised().observed(AS_OF)
    return reach_table(data, cohort, as_of=AS_OF, where=where)


def stay_ids(t: pd.DataFrame) -> list[str]:
    data = frames().normalised()
    return sorted(data.encounter_ids(t["encounter_id"]))


def test_admissions_are_adult_inpatient_stays_and_never_the_consult_itself():
    assert stay_ids(table()) == ["A1", "A2", "A3", "A4a", "A4b", "A5", "A6", "A9"]


def test_initial_consult_is_the_first_one_during_the_stay():
    t = table().assign(stay=lambda d: stay_ids_by_row(d)).set_index("stay")
    hours = t["admission_to_consult_hours"]
    assert hours["A1"] == 12 and hours["A2"] == 48 and hours["A4a"] == 6 and hours["A4b"] == 24
    assert hours["A6"] == 24  # the cancelled consult before it does not count
    # Before admission (A3), after discharge (A9), none (A5): no consult, never a negative time.
    assert hours[["A3", "A5", "A9"]].isna().all()


def stay_ids_by_row(t: pd.DataFrame) -> list[str]:
    return list(frames().normalised().encounter_ids(t["encounter_id"]))


def test_referral_to_consult_uses_the_own_referral_else_the_latest_before():
    t = table().assign(stay=lambda d: stay_ids_by_row(d)).set_index("stay")
    hours = t["referral_to_consult_hours"]
    assert hours["A1"] == 10  # its own referral
    assert hours["A2"] == 24  # none named: r2, not the later r2b
    assert pd.isna(hours["A4a"])  # started 2 h before its own referral: a flag, left out
    assert hours["A4b"] == 136  # none named: r4, 5 days 16 hours earlier
    assert hours["A6"] == 24


def test_penetration_counts_unique_patients_over_admissions():
    assert penetration_counts(table()) == {"consulted_patients": 4, "admissions": 8, "rate": 0.5}


def test_two_admissions_in_one_month_count_the_patient_once_above_and_twice_below():
    months = monthly_reach(table(), date(2025, 3, 31)).set_index("month")
    assert months.loc["2025-01", ["consulted_patients", "admissions"]].tolist() == [3, 6]
    assert months.loc["2025-01", "rate"] == 0.5
    assert months.loc["2025-02", ["consulted_patients", "admissions"]].tolist() == [1, 2]


def test_a_month_is_complete_once_it_ended_and_all_its_stays_ended():
    months = monthly_reach(table(), date(2025, 3, 31)).set_index("month")
    assert months.loc["2025-01", "complete"]
    assert not months.loc["2025-02", "complete"]  # A5 still in hospital
    early = monthly_reach(table(), date(2025, 1, 26)).set_index("month")
    assert not early.loc["2025-01", "complete"]  # the month has not ended
    assert not monthly_reach(table(), None)["complete"].any()


def test_hours_median_and_quartiles_by_hand():
    # Admission -> consult: 6, 12, 24, 24, 48 (type 7 quartiles at positions 1 and 3).
    assert hours_summary(table()["admission_to_consult_hours"]) == {
        "median": 24.0,
        "q1": 12.0,
        "q3": 24.0,
        "n": 5,
    }
    # Referral -> consult: 10, 24, 24, 136: q1 = 10 + 0.75 * 14, q3 = 24 + 0.25 * 112.
    assert hours_summary(table()["referral_to_consult_hours"]) == {
        "median": 24.0,
        "q1": 20.5,
        "q3": 52.0,
        "n": 4,
    }
    assert hours_summary(pd.Series([], dtype=float)) == {"median": None, "q1": None, "q3": None, "n": 0}


def test_by_unit_site_and_cohort():
    a = table(where=Where(date(2025, 1, 1), date(2025, 3, 31), unit="ward-a"))
    assert penetration_counts(a) == {"consulted_patients": 3, "admissions": 4, "rate": 0.75}
    south = table(where=Where(date(2025, 1, 1), date(2025, 3, 31), site="south"))
    assert penetration_counts(south) == {"consulted_patients": 0, "admissions": 1, "rate": 0.0}
    assert penetration_counts(table("stroke"))["rate"] == 1.0
    hf = table("heart_failure")
    assert stay_ids(hf) == ["A3", "A4b"]  # A4a ended before the diagnosis
    assert penetration_counts(hf) == {"consulted_patients": 1, "admissions": 2, "rate": 0.5}


def test_the_cut_off_hides_later_consults_and_discharges():
    data = frames().normalised().observed(date(2025, 1, 3))
    t = reach_table(data, "all", as_of=date(2025, 1, 3), where=Where())
    assert len(t) == 2  # A1, A2
    assert penetration_counts(t)["consulted_patients"] == 1  # A2's consult comes on 01-04


def test_present_reach_suppresses_small_cells():
    raw = reach_counts(table(), date(2025, 3, 31))
    shown = present_reach(raw, suppress=True, min_cell=11)
    assert shown["penetration"] == {"consulted_patients": "<11", "admissions": "<11", "rate": None}
    assert shown["admission_to_consult_hours"] == {"median": None, "q1": None, "q3": None, "n": "<11"}
    assert shown["penetration_monthly"]["2025-02"]["complete"] is False
    plain = present_reach(raw, suppress=False, min_cell=11)
    assert plain["penetration"] == {"consulted_patients": 4, "admissions": 8, "rate": 0.5}
    assert plain["referral_to_consult_hours"] == {"median": 24.0, "q1": 20.5, "q3": 52.0, "n": 4}
    assert plain["penetration_monthly"]["2025-01"] == {
        "consulted_patients": 3,
        "admissions": 6,
        "rate": 0.5,
        "complete": True,
    }


@pytest.mark.parametrize("suppress", [True, False])
def test_the_report_carries_reach_for_all_admissions_and_each_cohort(suppress):
    report = compute_metrics(
        frames(),
        as_of=AS_OF,
        period_from=date(2025, 1, 1),
        period_to=date(2025, 3, 31),
        cohorts=None,
        value_set_version="test",
        suppress=suppress,
    )
    for block in (report["reach"], *report["cohorts"].values()):
        for key in (
            "penetration",
            "penetration_monthly",
            "admission_to_consult_hours",
            "referral_to_consult_hours",
        ):
            assert key in block
    if not suppress:
        assert report["reach"]["penetration"]["rate"] == 0.5
        assert report["cohorts"]["heart_failure"]["penetration"]["admissions"] == 2
        assert report["cohorts"]["stroke"]["admission_to_consult_hours"]["median"] == 30.0
        assert report["cohorts"]["cancer"]["penetration"] == {
            "consulted_patients": 0,
            "admissions": 0,
            "rate": None,
        }


# --- the reach panel ----------------------------------------------------------------------------


def ward_population(n: int = 420) -> Frames:
    """``n`` adult admissions two days apart from 2024-01-01, three days long, on three units (the
    third gets one in fifty, so it is small); every third patient has a consult 30 hours in, after
    a referral at hour 20."""
    encounters, consults, referrals, patients = [], [], [], []
    start = datetime(2024, 1, 1, 8, tzinfo=UTC)
    for i in range(n):
        admit = start + pd.Timedelta(days=2 * i)
        unit = "tiny" if i % 50 == 0 else ("ward-a" if i % 2 else "ward-b")
        patients.append({"patient_id": f"p{i}", "birth_date": date(1950, 1, 1)})
        encounters.append(
            {
                "encounter_id": f"e{i}",
                "patient_id": f"p{i}",
                "class_code": "IMP",
                "status": "finished",
                "admit_at": admit,
                "admit_date": admit.date(),
                "discharge_at": admit + pd.Timedelta(days=3),
                "discharge_date": (admit + pd.Timedelta(days=3)).date(),
                "site": "north",
                "unit": unit,
            }
        )
        if i % 3 == 0:
            ref, seen = admit + pd.Timedelta(hours=20), admit + pd.Timedelta(hours=30)
            referrals.append(
                {
                    "service_request_id": f"r{i}",
                    "patient_id": f"p{i}",
                    "status": "active",
                    "authored_at": ref,
                    "authored_date": ref.date(),
                }
            )
            consults.append(
                {
                    "encounter_id": f"k{i}",
                    "patient_id": f"p{i}",
                    "status": "finished",
                    "start_at": seen,
                    "start_date": seen.date(),
                    "referral_id": f"r{i}",
                }
            )
    return Frames.from_records(
        patients=patients, encounters=encounters, consults=consults, referrals=referrals
    )


@functools.cache
def ward_panel():
    """The reach panel of ``ward_population()``, built once for the tests that read it."""
    return reach_panel(ward_population())


def reach_panel(frames: Frames):
    from sicdoc.analytics.panels import PanelContext, panel_table
    from sicdoc.analytics.scope import parse_scope

    scope = parse_scope({"as_of": "2026-06-30", "from": "2024-01-01"}, today=date(2026, 6, 30))
    ctx = PanelContext(frames, scope, "test")
    return ctx, panel_table(ctx, {"kind": "reach", "id": "reach", "title": "Reach"})


def test_the_panel_shows_no_small_count_and_its_all_rows_are_the_report():
    ctx, shown = ward_panel()
    for column in ("consulted_patients", "admissions", "admission_to_consult_n", "referral_to_consult_n"):
        for value in shown[column]:
            assert value is None or value in ("<11", "suppressed") or not 1 <= value <= 10, column
    everyone = shown[(shown["breakdown"] == "cohort") & (shown["group"] == "all")].set_index("month")
    reach = ctx.report["reach"]
    assert everyone.loc["period", "admissions"] == reach["penetration"]["admissions"] == 420
    assert everyone.loc["period", "consulted_patients"] == 140
    assert everyone.loc["period", "admission_to_consult_median_hours"] == 30.0
    assert everyone.loc["period", "referral_to_consult_median_hours"] == 10.0
    for month, cell in reach["penetration_monthly"].items():
        assert everyone.loc[month, "admissions"] == cell["admissions"]
        assert everyone.loc[month, "consulted_patients"] == cell["consulted_patients"]
    # Counts of consulted admissions only on a cohort's whole-period row.
    with_n = shown[shown["admission_to_consult_n"].notna()]
    assert set(with_n["breakdown"]) == {"cohort"} and set(with_n["month"]) == {"period"}


def test_a_unit_month_hidden_cannot_be_worked_out_from_the_all_row():
    _, shown = ward_panel()
    units = shown[shown["breakdown"] == "unit"]
    # "tiny" (9 admissions) is merged, and still small, goes with the smallest unit.
    assert set(units["group"]) == {"ward-a", "ward-b, other or unknown"}
    everyone = shown[(shown["breakdown"] == "cohort") & (shown["group"] == "all")].set_index("month")
    for month, cells in units.groupby("month"):
        for column in ("admissions", "consulted_patients"):
            hidden = [v for v in cells[column] if not isinstance(v, int)]
            total_shown = isinstance(everyone.loc[month, column], int)
            assert len(hidden) != 1 or not total_shown, (month, column, list(cells[column]))


def test_the_panel_draws_three_figures_without_small_counts():
    from sicdoc.figures.panels import panel_figures
    from tests.unit.figure_checks import small_counts

    _, shown = ward_panel()
    figures = panel_figures({"kind": "reach", "id": "reach", "title": "Reach"}, shown, ["stroke"])
    assert len(figures) == 3
    for fig in figures:
        assert not small_counts(fig)
