"""Small-cell suppression: 1-10 hidden, complementary suppression, rates on hidden counts hidden."""

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from sicdoc.analytics import Frames, compute_metrics
from sicdoc.analytics.metrics import present
from sicdoc.analytics.suppression import (
    COMPLEMENT,
    OTHER,
    SMALL,
    merge_small_groups,
    protect,
    rate_shown,
    suppress_count,
    suppress_proportions,
    suppress_table,
)


@pytest.mark.parametrize(
    ("n", "shown"), [(0, 0), (1, "<11"), (10, "<11"), (11, 11), (250, 250), (None, None)]
)
def test_suppress_count(n, shown):
    assert suppress_count(n) == shown


def test_stricter_local_threshold():
    assert suppress_count(15, min_cell=20) == SMALL
    assert suppress_count(20, min_cell=20) == 20


def test_one_small_cell_next_to_a_total_takes_the_next_smallest_with_it():
    # never 40, 0-7: 3, 8-30: 14, 31-90: 20, gt90: 30, total 107. Hiding 3 alone lets 107 - 40 - 14 - 20
    # - 30 = 3 be worked out, so the next smallest cell (14) goes too; the total stays.
    values = {"never": 40, "0-7": 3, "8-30": 14, "31-90": 20, "gt90": 30, "total": 107}
    hidden = protect(values, [(["never", "0-7", "8-30", "31-90", "gt90"], "total")])
    assert hidden == {"0-7", "8-30"}


def test_small_cells_that_add_up_to_a_small_sum_take_another_cell():
    # 3 + 4 = 7 would be revealed as "0-30 days" by the total: hide the next smallest (20) too.
    values = {"never": 40, "0-7": 3, "8-30": 4, "31-90": 20, "gt90": 30, "total": 97}
    hidden = protect(values, [(["never", "0-7", "8-30", "31-90", "gt90"], "total")])
    assert hidden == {"0-7", "8-30", "31-90"}


def test_zero_cells_are_never_used_as_complements():
    # Hiding a 0 protects nothing, so with only zeros left the total is hidden.
    values = {"a": 5, "b": 0, "c": 0, "total": 15, "d": 10}
    assert protect(values, [(["a", "b", "c", "d"], "total")]) == {"a", "d"}
    values = {"a": 5, "b": 0, "total": 15}
    assert protect({**values, "total": 5}, [(["a", "b"], "total")]) == {"a", "total"}


def test_no_small_cells_nothing_hidden():
    values = {"a": 12, "b": 0, "total": 12}
    assert protect(values, [(["a", "b"], "total")]) == set()


def test_implicit_complement_of_a_rate():
    # numerator 45 of 50: the 5 not done would follow from the two shown counts, so the numerator is
    # hidden (the implicit "rest" is never shown itself).
    values = {"num": 45, "rest": 5, "den": 50}
    assert protect(values, [(["num", "rest"], "den")], implicit=["rest"]) == {"num", "rest"}
    assert not rate_shown(45, 50)
    assert rate_shown(20, 50)
    assert not rate_shown(3, 50)
    assert not rate_shown(20, 25)  # 20 of 25: the rest, 5, is small
    assert rate_shown(0, 50)


def test_two_way_table_needs_a_rectangle():
    # A.x = 5 is small. Row A and column x each need a second hidden cell, and those in turn need
    # B.y: the classic four-cell rectangle, with all margins shown.
    df = pd.DataFrame({"x": [5, 20, 25], "y": [30, 40, 70], "t": [35, 60, 95]}, index=["A", "B", "All"])
    out = suppress_table(df, ["x", "y"], "t", total_row="All")
    assert out.loc["A", "x"] == SMALL
    assert out.loc["A", "y"] == COMPLEMENT
    assert out.loc["B", "x"] == COMPLEMENT
    assert out.loc["B", "y"] == COMPLEMENT
    assert out["t"].tolist() == [35, 60, 95]
    assert out.loc["All", "x"] == 25 and out.loc["All", "y"] == 70


def test_suppress_proportions_hides_rates_on_hidden_counts():
    df = pd.DataFrame(
        {"numerator": [5, 20, 30, 55], "denominator": [30, 40, 45, 115]}, index=["A", "B", "C", "All"]
    )
    df["rate"] = df["numerator"] / df["denominator"]
    out = suppress_proportions(df, total_row="All")
    assert out.loc["A", "numerator"] == SMALL
    assert out.loc["A", "rate"] is None
    # With A's 5 hidden, 55 - 20 - 30 would give it away: the next smallest numerator (B's 20) goes.
    assert out.loc["B", "numerator"] == COMPLEMENT
    assert out.loc["B", "rate"] is None
    assert out.loc["C", "numerator"] == 30
    assert out.loc["C", "rate"] == pytest.approx(30 / 45)
    assert out.loc["All", "rate"] == pytest.approx(55 / 115)
    assert out["denominator"].tolist() == [30, 40, 45, 115]
    assert "_rest" not in out.columns


def _raw(**over) -> dict:
    cif = {
        h: {"estimate": 0.5, "lower": 0.4, "upper": 0.6, "events": 20, "n": 40} for h in (30, 90, 180, 365)
    }
    raw = {
        "index_patients": 45,
        "prior_referral": 5,
        "referral_cif_patients": 40,
        "referral_cif": cif,
        "referred_patients": 20,
        "median_days_index_to_referral": 33,
        "decedents": 60,
        "decedents_referred": 57,
        "referral_to_death_bands": {"never": 3, "0-7": 12, "8-30": 15, "31-90": 14, "gt90": 16},
        "median_days_referral_to_death": 40,
        "decedents_with_sic": 52,
        "decedents_first_sic_gt30d": 30,
        "median_days_first_sic_to_death": 50,
        "prior_sic": 0,
        "sic_cif_patients": 45,
        "sic_cif": {
            h: {"estimate": 0.3, "lower": 0.2, "upper": 0.4, "events": 13, "n": 45} for h in (30, 90, 180)
        },
        "inpatient_timeliness": {"24": {"numerator": 12, "denominator": 20, "rate": 0.6}},
        "data_quality": {
            "referral_after_death": 2,
            "conversation_after_death": 0,
            "consult_before_referral": 0,
            "diagnosis_after_death": 14,
        },
    }
    return raw | over


def test_report_suppression_with_complements():
    out = present(_raw())
    # prior_referral 5 -> "<11"; the 40 in the estimate are never shown, so nothing gives it away and
    # the total stays.
    assert out["prior_referral"] == SMALL
    assert "referral_cif_patients" not in out
    assert out["index_patients"] == 45
    # 20 events of 40 at every horizon, no small steps: shown; the median rests on 20 referred: shown.
    assert out["referral_cif"] == {"30": 0.5, "90": 0.5, "180": 0.5, "365": 0.5}
    assert out["referral_cif_ci"]["30"] == [0.4, 0.6]
    assert out["median_days_index_to_referral"] == 33
    # never = 3: decedents - decedents_referred would reveal it, and so would the bands' total, so the
    # smallest band (12) is hidden and decedents_referred (57 = 60 - 3) too.
    assert out["referral_to_death_bands"] == {
        "never": SMALL,
        "0-7": COMPLEMENT,
        "8-30": 15,
        "31-90": 14,
        "gt90": 16,
    }
    assert out["decedents_referred"] == COMPLEMENT
    assert out["decedents"] == 60
    # 52 of 60 with a conversation: the 8 without follow from the shown counts: 52 is hidden.
    assert out["decedents_with_sic"] == COMPLEMENT
    assert out["decedents_first_sic_gt30d"] == 30
    # Rate 12/20: rest 8 is small -> numerator hidden, rate None.
    assert out["inpatient_timeliness"]["24"] == {"numerator": COMPLEMENT, "denominator": 20, "rate": None}
    assert out["data_quality"]["referral_after_death"] == SMALL
    assert out["data_quality"]["diagnosis_after_death"] == 14
    # sic incidence: 13 events of 45, rest 32: shown (and prior_sic 0 needs no complement).
    assert out["sic_cif"] == {"30": 0.3, "90": 0.3, "180": 0.3}


def test_incidence_on_few_patients_or_few_events_is_hidden():
    few = {h: {"estimate": 0.5, "lower": 0.1, "upper": 0.9, "events": 4, "n": 8} for h in (30, 90, 180)}
    assert present(_raw(sic_cif=few))["sic_cif"] == {"30": None, "90": None, "180": None}
    nearly_all = {
        h: {"estimate": 0.9, "lower": 0.8, "upper": 0.95, "events": 40, "n": 45} for h in (30, 90, 180)
    }
    assert present(_raw(sic_cif=nearly_all))["sic_cif"] == {"30": None, "90": None, "180": None}  # rest 5


def test_incidence_steps_of_few_events_are_hidden():
    cif = {30: (0.3, 15), 90: (0.35, 18), 180: (0.6, 30), 365: (0.62, 31)}
    raw = _raw(
        prior_referral=0,
        referral_cif_patients=45,
        referral_cif={
            h: {"estimate": e, "lower": e - 0.1, "upper": e + 0.1, "events": k, "n": 45}
            for h, (e, k) in cif.items()
        },
    )
    out = present(raw)
    # 15 events shown; 18 would reveal 3 new ones: hidden; 30 is 15 more than the last shown: shown;
    # 31 is one more: hidden.
    assert out["referral_cif"] == {"30": 0.3, "90": None, "180": 0.6, "365": None}
    assert out["referral_cif_ci"]["180"] == [0.5, 0.7]


def test_medians_on_small_counts_hidden():
    out = present(_raw(decedents_with_sic=7, decedents_first_sic_gt30d=0))
    assert out["median_days_first_sic_to_death"] is None
    assert out["decedents_with_sic"] == SMALL


def test_unsuppressed_report_shows_everything():
    out = present(_raw(), suppress=False)
    assert out["prior_referral"] == 5
    assert out["referral_to_death_bands"]["never"] == 3
    assert out["inpatient_timeliness"]["24"] == {"numerator": 12, "denominator": 20, "rate": 0.6}


def test_compute_metrics_suppresses_by_default():
    d0 = date(2025, 1, 1)
    # 30 cancer patients, index D0; 4 referred on day 10; nobody died.
    pts = [f"p{i:02d}" for i in range(30)]
    frames = Frames.from_records(
        patients=[{"patient_id": p} for p in pts],
        diagnoses=[
            {"condition_id": f"c{p}", "cohort": "cancer", "patient_id": p, "diagnosis_date": d0} for p in pts
        ],
        referrals=[
            {
                "service_request_id": f"r{p}",
                "patient_id": p,
                "status": "active",
                "authored_date": d0 + timedelta(days=10),
            }
            for p in pts[:4]
        ],
    )
    report = compute_metrics(
        frames,
        as_of=date(2025, 12, 31),
        period_from=None,
        period_to=None,
        cohorts=["cancer"],
        value_set_version="v",
    )
    cancer = report["cohorts"]["cancer"]
    assert report["suppressed"] is True
    assert json.loads(json.dumps(report)) == report
    assert cancer["index_patients"] == 30
    assert cancer["prior_referral"] == 0
    # 4 of 30 referred by day 30: 4 is small, so the incidence (4/30) is hidden, and so is the median.
    assert cancer["referral_cif"]["30"] is None
    assert cancer["median_days_index_to_referral"] is None
    unsuppressed = compute_metrics(
        frames,
        as_of=date(2025, 12, 31),
        period_from=None,
        period_to=None,
        cohorts=["cancer"],
        value_set_version="v",
        suppress=False,
    )
    assert unsuppressed["cohorts"]["cancer"]["referral_cif"]["30"] == pytest.approx(0.1333)
    assert unsuppressed["cohorts"]["cancer"]["median_days_index_to_referral"] == 10


def test_a_curve_point_is_shown_only_when_its_counts_and_its_step_are_not_small():
    from sicdoc.analytics.suppression import curve_shown

    def point(events, n=100, estimate=0.1):
        return {"estimate": estimate, "events": events, "n": n}

    curve = {30: point(12), 60: point(15), 90: point(30), 120: point(40, estimate=None), 150: point(95)}
    # 60: only 3 more events than the last shown point; 150: 5 patients left without the event.
    assert curve_shown(curve, 11) == {30: True, 60: False, 90: True, 120: False, 150: False}
    assert curve_shown({30: point(5)}, 11) == {30: False}


def _groups(rows: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """A stratum table: (numerator, denominator) per group and the "All" margin."""
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["numerator", "denominator"])
    table.loc["All"] = table.sum()
    return table


def test_a_small_unknown_group_does_not_hide_the_large_ones():
    # Female 1,669, male 1,500, sex unknown 4. The 4 become "Other or unknown", still under 11: shown
    # on its own it would follow from the total (or from any other stratum of the same patients), and
    # hiding it would take a group of 1,500 with it as its complement. So it goes with the smallest
    # group, and every figure is shown.
    from sicdoc.analytics.panels.comparison import suppress_groups

    table = _groups({"female": (400, 1669), "male": (350, 1500), "unknown": (2, 4)})
    merged = merge_small_groups(table, total_row="All")
    assert merged.to_dict("index") == {
        "female": {"numerator": 400, "denominator": 1669},
        "male, other or unknown": {"numerator": 352, "denominator": 1504},
        "All": {"numerator": 752, "denominator": 3173},
    }
    shown = suppress_groups(table, 11)
    assert shown.loc["female", "denominator"] == 1669
    assert shown.loc["female", "rate"] == pytest.approx(400 / 1669)
    assert shown.loc["male, other or unknown", "denominator"] == 1504
    assert shown.loc["All", "denominator"] == 3173
    assert not {SMALL, COMPLEMENT} & set(shown[["numerator", "denominator"]].to_numpy().ravel())


def test_small_groups_are_merged_into_other_or_unknown_before_suppression():
    # 4 + 6 + 3 = 13 patients in three small groups (one of them unknown): one group of 13, shown.
    table = _groups({"a": (400, 1669), "b": (350, 1500), "c": (2, 4), "d": (3, 6), "unknown": (1, 3)})
    merged = merge_small_groups(table, total_row="All")
    assert list(merged.index) == ["a", "b", OTHER, "All"]
    assert merged.loc[OTHER].tolist() == [6, 13]
    # An unknown group of 11 or more joins the merged group too, and nothing to merge leaves it alone.
    assert merge_small_groups(_groups({"a": (5, 50), "b": (1, 5), "unknown": (3, 20)}), total_row="All").loc[
        OTHER
    ].tolist() == [4, 25]
    alone = _groups({"a": (5, 50), "unknown": (3, 20)})
    assert merge_small_groups(alone, total_row="All").equals(alone)


def test_a_merged_group_still_under_eleven_goes_with_the_smallest_group():
    # 2 + 3 = 5: still small, so it joins the smallest non-empty group (b, 300), never the largest.
    table = _groups({"a": (400, 1669), "b": (50, 300), "c": (1, 2), "d": (0, 3), "e": (0, 0)})
    merged = merge_small_groups(table, total_row="All")
    assert merged.loc["b, other or unknown"].tolist() == [51, 305]
    assert merged.loc["a"].tolist() == [400, 1669]
    assert "b" not in merged.index
    # With no other group left, the merged group stays on its own and is suppressed as usual.
    lone = merge_small_groups(_groups({"c": (1, 2), "d": (0, 3)}), total_row="All")
    assert list(lone.index) == [OTHER, "All"]
    from sicdoc.analytics.panels.comparison import suppress_groups

    assert suppress_groups(_groups({"c": (1, 2), "d": (0, 3)}), 11).loc[OTHER, "denominator"] == SMALL


def test_complementary_suppression_takes_the_smallest_cell_that_protects():
    # tiny (4) would follow from the total: the smallest other cell (15) is hidden, not 250 or 600.
    values = {"big": 600, "mid": 250, "small": 15, "tiny": 4, "total": 869}
    assert protect(values, [(["big", "mid", "small", "tiny"], "total")]) == {"tiny", "small"}
    # In a grouped table, a merged group of 13 with 10 referred hides its numerator and the rest;
    # the numerator column then needs one more hidden cell: the smaller numerator (b's 120), while
    # every denominator and the larger group stay shown.
    from sicdoc.analytics.panels.comparison import suppress_groups

    table = _groups({"a": (700, 1669), "b": (120, 1500), "c": (6, 7), "unknown": (4, 6)})
    shown = suppress_groups(table, 11)
    assert shown.loc[OTHER, "numerator"] == SMALL
    assert shown.loc["b", "numerator"] == COMPLEMENT
    assert shown.loc["a", "numerator"] == 700
    assert shown["denominator"].tolist() == [1669, 1500, 13, 3182]


def test_the_headline_the_equity_panel_and_the_curve_apply_one_rule_to_the_same_numbers():
    # 400 stroke patients, 4 of unknown sex. The same population through the headline table, the
    # incidence chart and the equity panel.
    from sicdoc.analytics.panels import PanelContext, panel_table
    from sicdoc.analytics.scope import parse_scope
    from tests.unit.panel_population import population

    frames = population(400)
    # Half of either sex referred (every other patient is), and 4 of unknown sex.
    frames.patients["sex"] = [None] * 4 + ["female" if i % 4 < 2 else "male" for i in range(4, 400)]
    frames.patients["language"] = ["es" if i % 8 < 4 else "zh" if i % 8 < 6 else "xx" for i in range(400)]
    scope = parse_scope({"as_of": "2025-06-30", "from": "2023-01-01"}, today=date(2025, 6, 30))
    ctx = PanelContext(frames, scope, "test")
    headline = panel_table(ctx, {"id": "h", "kind": "headline"}).set_index(["cohort", "measure"])
    curve = panel_table(ctx, {"id": "i", "kind": "incidence", "measure": "referral"})
    strata = panel_table(ctx, {"id": "s", "kind": "strata"})
    stroke = curve[curve["cohort"] == "stroke"].set_index("day")
    assert headline.loc[("stroke", "referral_cif_90"), "value"] == stroke.loc[90, "estimate"]
    sex = strata[(strata["cohort"] == "stroke") & (strata["stratum"] == "sex")].set_index("group")
    assert "unknown" not in sex.index
    assert not {SMALL, COMPLEMENT} & set(sex[["numerator", "denominator"]].to_numpy().ravel())
    # Languages by name where the code is known, else the code as recorded.
    languages = strata[(strata["cohort"] == "stroke") & (strata["stratum"] == "language")]
    assert set(languages["group"]) == {"Spanish", "Chinese", "xx", "All"}
    # Every stratum's margin is the same shown figure, so no stratum hides what another shows.
    margins = strata[strata["group"] == "All"].groupby("cohort")["denominator"].nunique()
    assert (margins == 1).all()


def test_the_report_and_the_curve_hide_the_same_points():
    # Events 15 by day 30, 27 by 60, 33 by 90 of 100: along the chart's grid, day 90 is only 6 after
    # day 60 and is hidden; the report's 90-day figure, on the same days, is hidden too (along its
    # horizons alone it would have been 18 after day 30 and shown).
    from sicdoc.analytics.panels.curves import curve_points

    def point(events: int) -> dict:
        return {"estimate": events / 100, "lower": 0.0, "upper": 1.0, "events": events, "n": 100}

    curve = {0: point(0), 30: point(15), 60: point(27), 90: point(33), 120: point(50), 180: point(60)}
    out = present(_raw(prior_referral=0, referral_cif_patients=100, referral_cif=curve))
    chart = {p["day"]: p["estimate"] for p in curve_points(curve, 11, [0, 30, 60, 90, 120])}
    assert chart == {0: 0.0, 30: 0.15, 60: 0.27, 90: None, 120: 0.5}
    assert out["referral_cif"] == {"30": 0.15, "90": None, "180": None}
