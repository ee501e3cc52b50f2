"""Programme phases, quarters and period against period, from hand-made series with hand-worked answers."""

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest
from scipy import stats

from sicdoc.analytics.difference import FISHER, Z_TEST, compare, fisher_exact, newcombe, wilson, z_test
from sicdoc.analytics.panels import monthly
from sicdoc.analytics.panels.period import period_comparison_table
from sicdoc.analytics.phases import (
    BASELINE,
    Phase,
    chart_notes,
    missing_periods,
    phase_of,
    quarter_months,
    quarter_of,
    shift_quarter,
)
from sicdoc.analytics.scope import ScopeError, parse_qi_scope
from sicdoc.analytics.spc import p_chart, xmr
from sicdoc.figures.control import control_figure

MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
QI = Phase(date(2025, 1, 1), "QI programme")


def series(numerators: list[int], denominators: list[int] | None = None) -> pd.DataFrame:
    denominators = denominators or [100] * len(numerators)
    return pd.DataFrame(
        {
            "month": MONTHS[: len(numerators)],
            "numerator": numerators,
            "denominator": denominators,
            "rate": [n / d for n, d in zip(numerators, denominators, strict=True)],
        }
    )


def context(monkeypatch, raw, *, through, phases=(), grouping="month", period=("2024-01-01", "2025-12-31")):
    monkeypatch.setitem(monthly.SERIES, "referred_within_90d", lambda ctx, cohort: raw)
    monkeypatch.setitem(monthly.SERIES, "referral_gt30d_before_death", lambda ctx, cohort: raw)
    params = {
        "from": period[0],
        "to": period[1],
        "as_of": "2025-12-31",
        "cohort": "cancer",
        "grouping": grouping,
    }
    scope = parse_qi_scope(params, today=date(2026, 6, 1))
    return SimpleNamespace(scope=scope, min_cell=11, data_through=through, phases=tuple(phases))


# --- phase-wise limits --------------------------------------------------------------------------


def test_two_phases_with_different_rates_have_their_own_centre_line_and_limits():
    df = pd.DataFrame({"numerator": [10, 20, 15, 30, 40, 35], "denominator": [100] * 6})
    out = p_chart(df, phase=["before"] * 3 + ["after"] * 3)
    # Before: 45/300 = 0.15, sigma = sqrt(0.15 * 0.85 / 100) = 0.0357071; limits 0.15 ± 0.1071213.
    # After: 105/300 = 0.35, sigma = sqrt(0.35 * 0.65 / 100) = 0.0476970; limits 0.35 ± 0.1430909.
    assert out["phase"].tolist() == ["before"] * 3 + ["after"] * 3
    assert out["cl"].tolist() == pytest.approx([0.15] * 3 + [0.35] * 3)
    assert out["ucl"].tolist() == pytest.approx([0.2571213] * 3 + [0.4930909] * 3, abs=1e-6)
    assert out["lcl"].tolist() == pytest.approx([0.0428787] * 3 + [0.2069091] * 3, abs=1e-6)
    # One pooled line over both would be 0.25.
    assert p_chart(df)["cl"].iloc[0] == pytest.approx(0.25)


def test_xmr_limits_per_phase_and_no_moving_range_across_a_phase_start():
    out = xmr([1, 3, 2, 10, 14, 12], phase=[0, 0, 0, 1, 1, 1])
    # Phase 0: mean 2, moving ranges 2, 1 (mean 1.5): 2 ± 2.66 * 1.5 = 2 ± 3.99.
    # Phase 1: mean 12, moving ranges 4, 2 (mean 3): 12 ± 7.98. The jump 2 -> 10 is no moving range.
    assert out["cl"].tolist() == pytest.approx([2, 2, 2, 12, 12, 12])
    assert out["ucl"].tolist() == pytest.approx([5.99] * 3 + [19.98] * 3)
    assert out["lcl"].tolist() == pytest.approx([-1.99] * 3 + [4.02] * 3)
    assert pd.isna(out["mr"].iloc[3])


def test_rules_do_not_run_across_a_phase_start():
    values = [1, 2, 3, 4, 5, 6, 7, 8]  # eight rising points: a trend when read as one series
    assert xmr(values)["trend"].all()
    split = xmr(values, phase=["a"] * 4 + ["b"] * 4)
    assert not split["trend"].any()
    # A shift: seven points above one centre line, four in each phase of their own.
    df = pd.DataFrame({"numerator": [10] * 7 + [30] * 8, "denominator": [100] * 15})
    assert p_chart(df)["shift"].iloc[7:].all()
    phased = p_chart(df, phase=["a"] * 7 + ["b"] * 8)
    assert not phased["shift"].any() and not phased["special_cause"].any()


def test_phases_must_be_runs_of_consecutive_points():
    with pytest.raises(ValueError, match="consecutive"):
        xmr([1, 2, 3], phase=["a", "b", "a"])


def test_phase_of_a_period_is_the_latest_started_by_its_first_day():
    phases = [Phase(date(2025, 1, 1), "QI"), Phase(date(2025, 6, 15), "EHR trigger")]
    assert phase_of(["2024-12", "2025-01", "2025-06", "2025-07"], phases) == [
        BASELINE,
        "QI",
        "QI",
        "EHR trigger",
    ]
    assert phase_of(["2024-Q4", "2025-Q1", "2025-Q3"], phases) == [BASELINE, "QI", "EHR trigger"]


def test_the_monthly_panel_restarts_limits_at_the_phase_and_keeps_incomplete_months_out(monkeypatch):
    # 2024 at 20%, 2025 at 40%, except August-December 2025 at 90%: their 90-day windows are open
    # on 2025-10-31 (July's closed on 10-29), so they count in no line and flag nothing.
    raw = series([20] * 12 + [40] * 7 + [90] * 5)
    ctx = context(monkeypatch, raw, through=date(2025, 10, 31), phases=[QI])
    out = monthly.monthly_table(ctx, "referred_within_90d", run_chart_below=5).set_index("month")
    assert out.loc["2024-01":"2024-12", "phase"].eq(BASELINE).all()
    assert out.loc["2025-01":, "phase"].eq("QI programme").all()
    assert not out.loc["2025-08":, "complete"].any() and out.loc[:"2025-07", "complete"].all()
    base, after = out.loc["2024-06"], out.loc["2025-03"]
    assert (base["chart"], after["chart"]) == ("p", "p")
    # 0.2 ± 3 * sqrt(0.2 * 0.8 / 100) = 0.2 ± 0.12;  0.4 ± 3 * sqrt(0.4 * 0.6 / 100) = 0.4 ± 0.1469694.
    assert (base["cl"], base["ucl"], base["lcl"]) == pytest.approx((0.2, 0.32, 0.08))
    assert (after["cl"], after["ucl"], after["lcl"]) == pytest.approx((0.4, 0.5469694, 0.2530306))
    assert out.loc["2025-08":, ["cl", "ucl", "special_cause"]].isna().all().all()
    assert not out.loc[:"2025-07", "special_cause"].astype(bool).any()
    # Without the phase the same months are one series, and the step is a signal.
    single = monthly.monthly_table(
        context(monkeypatch, raw, through=date(2025, 10, 31)), "referred_within_90d", run_chart_below=5
    )
    assert single["special_cause"].astype(object).fillna(False).astype(bool).any()


def test_the_chart_marks_the_phase_start_and_draws_a_line_per_phase(monkeypatch):
    raw = series([20] * 12 + [40] * 12)
    ctx = context(monkeypatch, raw, through=date(2026, 3, 31), phases=[QI])
    table = monthly.monthly_table(ctx, "referred_within_90d", run_chart_below=5)
    fig = control_figure(table, "Referred", phases=[QI])
    assert any(a.text == "QI programme" for a in fig.layout.annotations)
    assert any(s.type == "line" and str(s.x0).startswith("2025-01-01") for s in fig.layout.shapes)
    centre = next(t for t in fig.data if t.name == "centre line")
    assert None in centre.y  # broken between the phases
    values = [v for v in centre.y if v is not None]
    assert set(round(v, 6) for v in values) == {0.2, 0.4}


def test_a_phase_after_the_data_is_one_phase_with_a_note(monkeypatch):
    late = Phase(date(2027, 1, 1), "QI programme")
    raw = series([20] * 24)
    ctx = context(monkeypatch, raw, through=date(2026, 3, 31), phases=[late])
    table = monthly.monthly_table(ctx, "referred_within_90d", run_chart_below=5)
    assert table["phase"].eq(BASELINE).all() and table["cl"].nunique() == 1
    notes = chart_notes(table, [late])
    assert notes == [
        "phase 'QI programme' starts 2027-01-01, after the last month shown (2025-12): the chart has no points in it"
    ]
    fig = control_figure(table, "Referred", phases=[late])
    assert any(
        "starts 2027-01-01, after the last month shown" in (a.text or "") for a in fig.layout.annotations
    )
    assert not fig.layout.shapes
    early = Phase(date(2020, 3, 1), "Old programme")
    assert "before the first month shown (2024-01)" in chart_notes(table, [early])[0]


def test_a_month_without_data_is_named():
    rows = pd.DataFrame({"cohort": "cancer", "month": ["2025-01", "2025-02", "2025-05"]})
    assert missing_periods(rows["month"]) == ["2025-03", "2025-04"]
    assert chart_notes(rows, []) == ["no data for 2025-03, 2025-04: no point drawn"]


# --- quarters -----------------------------------------------------------------------------------


def test_quarter_helpers():
    assert quarter_of("2025-05") == "2025-Q2"
    assert quarter_months("2025-Q4") == ("2025-10", "2025-11", "2025-12")
    assert shift_quarter("2025-Q1", -1) == "2024-Q4" and shift_quarter("2025-Q2", -4) == "2024-Q2"


def test_quarters_add_up_their_months_and_are_complete_only_when_every_month_is(monkeypatch):
    numerators = [20 + i for i in range(24)]  # 20, 21, ... 43 of 100 each month
    raw = series(numerators)
    # The period starts in February 2024: its first quarter is partial. On 2025-10-31 the 90-day
    # windows are over up to July 2025, so 2025-Q3 (July, August, September) is not complete.
    ctx = context(
        monkeypatch, raw, through=date(2025, 10, 31), grouping="quarter", period=("2024-02-01", "2025-12-31")
    )
    out = monthly.monthly_table(ctx, "referred_within_90d", run_chart_below=3).set_index("quarter")
    assert list(out.index) == [f"{y}-Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]
    assert out.loc["2024-Q2", ["numerator", "denominator"]].tolist() == [23 + 24 + 25, 300]
    assert out.loc["2025-Q4", ["numerator", "denominator"]].tolist() == [41 + 42 + 43, 300]
    assert out["rate"].loc["2024-Q2"] == pytest.approx(72 / 300)
    assert out["complete"].to_dict() == {
        "2024-Q1": False,  # partial: January is outside the period
        "2024-Q2": True,
        "2024-Q3": True,
        "2024-Q4": True,
        "2025-Q1": True,
        "2025-Q2": True,
        "2025-Q3": False,
        "2025-Q4": False,
    }
    # The centre line pools the five complete quarters only.
    complete = [sum(numerators[i : i + 3]) for i in (3, 6, 9, 12, 15)]
    assert out.loc["2024-Q2", "cl"] == pytest.approx(sum(complete) / 1500)


def test_the_quarters_of_a_small_unit_show_and_never_give_away_a_hidden_month(monkeypatch):
    # January 2024 has 5 patients and July 2024 has 12; the other months 40 each, half referred.
    denominators = [5] + [40] * 5 + [12] + [40] * 17
    numerators = [d // 2 for d in denominators]
    raw = series(numerators, denominators)
    months = monthly.monthly_table(
        context(monkeypatch, raw, through=date(2026, 3, 31)), "referred_within_90d"
    )
    quarters = monthly.monthly_table(
        context(monkeypatch, raw, through=date(2026, 3, 31), grouping="quarter"), "referred_within_90d"
    ).set_index("quarter")
    # Every quarter is shown: 5 + 40 + 40 = 85 patients in 2024-Q1, 12 + 40 + 40 = 92 in 2024-Q3.
    assert quarters.loc["2024-Q1", ["numerator", "denominator"]].tolist() == [42, 85]
    assert quarters.loc["2024-Q3", ["numerator", "denominator"]].tolist() == [46, 92]
    assert quarters["denominator"].map(lambda v: isinstance(v, int)).all()
    # So the monthly chart hides a partner month next to a small one: a quarter minus its shown
    # months gives at least two hidden months together, never a small one alone or a small total.
    for column in ("numerator", "denominator"):
        hidden = months[~months[column].map(lambda v: isinstance(v, int))]
        assert "2024-01" in set(hidden["month"])
        for quarter in quarters.index:
            inside = [m for m in hidden["month"] if quarter_of(m) == quarter]
            values = [
                (numerators if column == "numerator" else denominators)[MONTHS.index(m)] for m in inside
            ]
            if any(v < 11 for v in values):  # a small count among them: it must stay hidden
                assert len(inside) >= 2 and sum(values) >= 11


def test_grouping_is_checked_by_the_one_scope_parser():
    assert parse_qi_scope({"grouping": "quarter"}, today=date(2026, 1, 1)).grouping == "quarter"
    assert parse_qi_scope({}, today=date(2026, 1, 1)).grouping == "month"
    with pytest.raises(ScopeError, match="'grouping' must be one of month, quarter, not 'weekly'"):
        parse_qi_scope({"grouping": "weekly"}, today=date(2026, 1, 1))
    scope = parse_qi_scope({"grouping": "quarter", "as_of": "2025-12-31"}, today=date(2026, 1, 1))
    assert scope.query()["grouping"] == "quarter" and scope.slug().endswith("by-quarter")
    assert "charts by quarter" in scope.filters_text()


# --- period against period ----------------------------------------------------------------------


def test_newcombe_interval_matches_the_published_examples():
    # Newcombe 1998, Stat Med 17:873, table II, method 10.
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert newcombe(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=5e-5)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)


def test_tests_agree_with_scipy():
    chi2 = stats.chi2_contingency([[56, 14], [48, 32]], correction=False)
    assert z_test(56, 70, 48, 80) == pytest.approx(chi2.pvalue, rel=1e-9)
    for table in ([3, 10, 9, 12], [0, 40, 5, 38], [7, 7, 1, 9]):
        x1, n1, x2, n2 = table
        expected = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
        assert fisher_exact(x1, n1, x2, n2) == pytest.approx(expected, rel=1e-9)
    assert compare(56, 70, 48, 80).test == Z_TEST
    assert compare(3, 10, 9, 12).test == FISHER  # an expected count under 5


def test_the_latest_complete_quarter_against_the_same_quarter_a_year_earlier(monkeypatch):
    # Each month of 2025-Q2 has 56 of 70, each of 2024-Q2 48 of 80; the rest 20 of 40. On
    # 2025-08-31 September is not over, so 2025-Q2 is the latest complete quarter.
    numerators, denominators = [20] * 24, [40] * 24
    for month in ("2024-04", "2024-05", "2024-06"):
        numerators[MONTHS.index(month)], denominators[MONTHS.index(month)] = 48, 80
    for month in ("2025-04", "2025-05", "2025-06"):
        numerators[MONTHS.index(month)], denominators[MONTHS.index(month)] = 56, 70
    ctx = context(monkeypatch, series(numerators, denominators), through=date(2025, 8, 31))
    row = period_comparison_table(ctx, "referral_gt30d_before_death").iloc[0]
    assert (row["period"], row["comparison_period"]) == ("2025-Q2", "2024-Q2")
    assert (
        row["numerator"],
        row["denominator"],
        row["comparison_numerator"],
        row["comparison_denominator"],
    ) == (
        168,
        210,
        144,
        240,
    )
    assert row["difference"] == pytest.approx(0.2)
    assert (row["difference_lower"], row["difference_upper"]) == pytest.approx(newcombe(168, 210, 144, 240))
    chi2 = stats.chi2_contingency([[168, 42], [144, 96]], correction=False)
    assert row["p_value"] == pytest.approx(chi2.pvalue)
    assert row["test"] == Z_TEST and row["interval_method"].startswith("Newcombe")
    assert pd.isna(row["note"])


def test_a_comparison_without_data_or_with_small_counts_says_why(monkeypatch):
    # Only 2025 has data: 2024-Q2 has none.
    raw = series([20] * 24).iloc[12:].reset_index(drop=True)
    ctx = context(monkeypatch, raw, through=date(2025, 8, 31))
    row = period_comparison_table(ctx, "referral_gt30d_before_death").iloc[0]
    assert row["note"] == "no data for 2024-Q2" and pd.isna(row["difference"])
    # Three patients a month: every count is under 11.
    small = series([1] * 24, [3] * 24)
    row = period_comparison_table(
        context(monkeypatch, small, through=date(2025, 8, 31)), "referral_gt30d_before_death"
    ).iloc[0]
    assert row["note"].startswith("suppressed") and pd.isna(row["p_value"])
    assert row["numerator"] == "<11"
    # A period too short to hold the quarter a year earlier.
    short = context(
        monkeypatch, series([20] * 24), through=date(2025, 8, 31), period=("2025-01-01", "2025-12-31")
    )
    assert "widen the period" in period_comparison_table(short, "referral_gt30d_before_death").iloc[0]["note"]
    # No complete quarter at all (no data yet).
    none = context(monkeypatch, series([20] * 24), through=None)
    assert (
        period_comparison_table(none, "referral_gt30d_before_death")
        .iloc[0]["note"]
        .startswith("no complete quarter")
    )


def test_the_period_figure_draws_each_difference_or_says_why_not():
    from sicdoc.figures.period import period_comparison_figure

    table = pd.DataFrame(
        [
            {
                "cohort": "stroke",
                "period": "2025-Q2",
                "comparison_period": "2024-Q2",
                "numerator": 168,
                "denominator": 210,
                "rate": 0.8,
                "comparison_numerator": 144,
                "comparison_denominator": 240,
                "comparison_rate": 0.6,
                "difference": 0.2,
                "difference_lower": 0.12,
                "difference_upper": 0.28,
                "interval_method": "Newcombe hybrid score (Wilson)",
                "p_value": 0.00001,
                "test": Z_TEST,
                "note": None,
            },
            {
                "cohort": "cancer",
                "period": "2025-Q2",
                "comparison_period": "2024-Q2",
                "numerator": "<11",
                "denominator": 30,
                "rate": None,
                "comparison_numerator": 12,
                "comparison_denominator": 40,
                "comparison_rate": 0.3,
                "difference": None,
                "difference_lower": None,
                "difference_upper": None,
                "interval_method": None,
                "p_value": None,
                "test": None,
                "note": "suppressed: a count from 1 to 10 in one of the quarters",
            },
        ]
    )
    fig = period_comparison_figure(table, "Early referral")
    drawn, said = fig.data
    assert drawn.x == (pytest.approx(20.0),) and drawn.error_x.array == (pytest.approx(8.0),)
    assert "+20.0 points (95% CI +12.0 to +28.0), p < 0.001" in drawn.text[0]
    assert said.text == ("suppressed: a count from 1 to 10 in one of the quarters",)
    assert "2025-Q2 against 2024-Q2" in fig.layout.title.text.replace("<br>", " ")


def test_many_derivable_keys_at_once_match_the_key_by_key_rank_test():
    import random

    from sicdoc.analytics.suppression import _derivable, _derivable_keys

    rng = random.Random(7)
    for _ in range(40):
        keys = [f"k{i}" for i in range(rng.randint(3, 14))]
        tables = []
        for _ in range(rng.randint(1, 8)):
            cells = rng.sample(keys, rng.randint(1, min(5, len(keys))))
            tables.append((cells, rng.choice([*keys, "shown", None])))
        hidden = sorted(rng.sample(keys, rng.randint(1, len(keys))))
        expected = {k for k in hidden if _derivable(k, hidden, tables)}
        assert _derivable_keys(hidden, hidden, tables) == expected
