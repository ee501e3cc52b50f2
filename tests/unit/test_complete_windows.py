"""Complete windows only: a month whose measure window is not over by the last day with data is shown
(greyed, with its full denominator) but never enters the centre line, the limits or the rules."""

from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from sicdoc.analytics import Frames
from sicdoc.analytics.lookforward import lookforward_table
from sicdoc.analytics.metrics import data_note
from sicdoc.analytics.panels import monthly
from sicdoc.analytics.series import (
    WINDOW_DAYS,
    data_complete_through,
    monthly_referral_within,
    window_complete,
)
from sicdoc.figures.control import INCOMPLETE_NAME, control_figure

MONTHS = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]


def months(*names: str) -> pd.Series:
    return pd.Series(list(names))


def test_the_window_rule_of_every_measure() -> None:
    through = date(2025, 12, 31)
    # 90 days: September ends 09-30, window closes 12-29; October's closes 2026-01-29.
    assert window_complete(months("2025-09", "2025-10"), "referred_within_90d", through).tolist() == [
        True,
        False,
    ]
    # 30 days: November closes 12-30, December 2026-01-30.
    assert window_complete(months("2025-11", "2025-12"), "referred_within_30d", through).tolist() == [
        True,
        False,
    ]
    # Hours from admission: a 72-hour window of the last admission on 12-28 closes 12-31.
    assert window_complete(months("2025-12"), "timely_72h", date(2026, 1, 3)).tolist() == [True]
    assert window_complete(months("2025-12"), "timely_72h", date(2026, 1, 2)).tolist() == [False]
    assert window_complete(months("2025-12"), "timely_24h", date(2026, 1, 1)).tolist() == [True]
    # By month of death: complete once the month itself is over.
    for measure in ("referral_gt30d_before_death", "sic_gt30d_before_death", "days_referral_to_death"):
        assert window_complete(months("2025-12"), measure, through).tolist() == [True]
        assert window_complete(months("2025-12"), measure, date(2025, 12, 30)).tolist() == [False]
    # No data: nothing is complete. An unknown measure has no rule and is refused.
    assert window_complete(months("2020-01"), "referred_within_90d", None).tolist() == [False]
    with pytest.raises(ValueError, match="no completeness rule"):
        window_complete(months("2025-01"), "unknown", through)
    assert set(monthly.SERIES) <= set(WINDOW_DAYS)


def hand_series(late_rate: int) -> pd.DataFrame:
    """24 months of 100 patients, 20 referred, except the last three at ``late_rate``."""
    numerators = [20] * 21 + [late_rate] * 3
    return pd.DataFrame(
        {
            "month": MONTHS,
            "numerator": numerators,
            "denominator": [100] * 24,
            "rate": [n / 100 for n in numerators],
        }
    )


def table(monkeypatch: pytest.MonkeyPatch, through: date) -> pd.DataFrame:
    monkeypatch.setitem(monthly.SERIES, "referred_within_90d", lambda ctx, cohort: hand_series(70))
    ctx = SimpleNamespace(
        scope=SimpleNamespace(cohorts=("cancer",), grouping="month"),
        min_cell=11,
        data_through=through,
        phases=(),
    )
    return monthly.monthly_table(ctx, "referred_within_90d", run_chart_below=20)  # type: ignore[arg-type]


def test_incomplete_last_months_are_no_signal_and_not_in_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    out = table(monkeypatch, date(2025, 12, 31)).set_index("month")
    late = ["2025-10", "2025-11", "2025-12"]
    assert not out.loc[late, "complete"].any() and out.drop(index=late)["complete"].all()
    # Shown with their counts, but no limits and no flags.
    assert out.loc[late, "rate"].tolist() == [0.7, 0.7, 0.7]
    assert out.loc[late, "denominator"].tolist() == [100, 100, 100]
    assert out.loc[late, ["cl", "ucl", "special_cause"]].isna().all().all()
    # The centre line is the 21 complete months only (a pooled 20%), and none of them signals.
    assert out.loc["2024-01", "chart"] == "p"
    assert out.loc["2024-01", "cl"] == pytest.approx(0.2)
    assert not out.drop(index=late)["special_cause"].astype(bool).any()


def test_the_same_months_signal_once_their_window_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    out = table(monkeypatch, date(2026, 3, 31)).set_index("month")
    assert out["complete"].all()
    assert bool(out.loc["2025-12", "special_cause"])
    assert out.loc["2024-01", "cl"] == pytest.approx((21 * 20 + 3 * 70) / 2400)


def test_open_windows_stay_in_the_denominator() -> None:
    """Index patients whose 90-day window is still open count in the denominator as not (yet)
    referred; dropping them unless referred inflated recent months (41/57 instead of 41/183)."""
    index = date(2025, 12, 1)
    frames = Frames.from_records(
        patients=[{"patient_id": f"p{i}", "birth_date": date(1950, 1, 1)} for i in range(5)],
        diagnoses=[
            {
                "condition_id": f"c{i}",
                "cohort": "cancer",
                "patient_id": f"p{i}",
                "code_system": "icd",
                "code": "C34.9",
                "diagnosis_date": index,
            }
            for i in range(5)
        ],
        referrals=[
            {
                "service_request_id": "r0",
                "patient_id": "p0",
                "status": "active",
                "authored_date": date(2025, 12, 10),
            }
        ],
    )
    as_of = date(2025, 12, 31)
    data = frames.normalised().observed(as_of)
    look = lookforward_table(data, "cancer", as_of=as_of)
    out = monthly_referral_within(look, 90)
    assert out[["month", "numerator", "denominator"]].values.tolist() == [["2025-12", 1, 5]]
    through = data_complete_through(data)
    assert through == date(2025, 12, 10)
    assert not window_complete(out["month"], "referred_within_90d", through).any()


def test_data_complete_through_is_the_last_day_with_data() -> None:
    frames = Frames.from_records(
        patients=[{"patient_id": "p", "birth_date": date(1950, 1, 1), "deceased_date": date(2026, 6, 29)}],
        conversations=[
            {
                "procedure_id": "s",
                "patient_id": "p",
                "status": "completed",
                "performed_date": date(2026, 5, 3),
            }
        ],
    )
    data = frames.normalised()
    # Birth dates are not events; the death is the latest one.
    assert data_complete_through(data) == date(2026, 6, 29)
    # A whole-months answer states the end of the last month the data cover to its end.
    assert data_complete_through(data, whole_months=True) == date(2026, 5, 31)
    assert data_complete_through(data.observed(date(2026, 6, 1))) == date(2026, 5, 3)
    assert data_complete_through(Frames.from_records().normalised()) is None


def test_a_notice_when_the_as_of_runs_past_the_data() -> None:
    note = data_note(date(2026, 11, 30), date(2026, 6, 30))
    assert note is not None and "2026-06-30" in note and "2026-11-30" in note
    assert data_note(date(2026, 6, 30), date(2026, 6, 30)) is None
    assert "No data" in (data_note(date(2026, 6, 30), None) or "")


def test_incomplete_points_are_drawn_greyed_with_a_legend_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = table(monkeypatch, date(2025, 12, 31))
    fig = control_figure(rows, "Referred within 90 days")
    greyed = [t for t in fig.data if t.name == INCOMPLETE_NAME]
    assert len(greyed) == 1 and greyed[0].showlegend is not False
    assert list(pd.to_datetime(greyed[0].x).strftime("%Y-%m")) == ["2025-10", "2025-11", "2025-12"]
    assert greyed[0].marker.symbol == "circle-open"
    # The limits and the coloured points end at the last complete month.
    for trace in fig.data:
        if trace.name in ("centre line", "control limits (3σ)", "month"):
            assert pd.to_datetime(max(trace.x)).strftime("%Y-%m") == "2025-09"
    assert "not in the limits or rules" in greyed[0].hovertext[0]
