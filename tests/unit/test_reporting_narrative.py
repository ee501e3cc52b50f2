"""The monthly report's text from hand-made series: exact sentences, and no signal from an open window."""

from sicdoc.reporting.monthly import Point, SeriesSummary, Signal, find_signals
from sicdoc.reporting.narrative import cohort_sentences, completeness_notes, month_span, signal_sentence
from tests.unit.narrative_series import MONTH, THROUGH, monthly, months, shifted_cancer, summary_of


def test_a_shift_of_eight_months_is_told_with_its_centre_line_and_latest_figure():
    summary = summary_of(shifted_cancer(), "referred_within_90d")
    assert summary.latest_complete == "2026-02"
    assert [(s.rule, s.direction, len(s.months), s.current) for s in summary.signals] == [
        ("shift", "below", 16, False),
        ("shift", "above", 8, True),
    ]
    assert cohort_sentences("cancer", [summary], 11) == [
        "Cancer: referral within 90 days of diagnosis has been above the centre line (13.0%) for 8 months, "
        "July 2025 to February 2026 (a shift); February 2026: 19 of 100 patients (19.0%)."
    ]


def test_open_windows_give_no_signal_even_when_flagged_and_are_named_in_a_note():
    table = shifted_cancer()
    table.loc[~table["complete"], ["outside", "shift", "two_of_three"]] = True  # never read
    summary = summary_of(table, "referred_within_90d")
    assert all("2026-03" not in s.months and "2026-05" not in s.months for s in summary.signals)
    assert not any("60" in line for line in cohort_sentences("cancer", [summary], 11))

    class Report:
        month = MONTH
        series = (summary,)
        data_complete_through = THROUGH.isoformat()

    assert completeness_notes(Report()) == [  # type: ignore[arg-type]
        "Referral within 90 days of diagnosis: the 90-day windows of March to May 2026 are not over; "
        "the latest complete month is February 2026."
    ]


def test_a_point_outside_the_upper_limit_in_the_report_month():
    counts = [(18, 100), (22, 100)] * 12 + [(60, 100)]
    summary = summary_of(
        monthly("stroke", "sic_gt30d_before_death", "2024-05", counts), "sic_gt30d_before_death"
    )
    assert summary.latest_complete == MONTH
    assert [(s.rule, s.months, s.current) for s in summary.signals] == [("outside", ("2026-05",), True)]
    assert cohort_sentences("stroke", [summary], 11) == [
        "Stroke: May 2026 is outside the upper limit (33.9%) for first conversation over 30 days before death: "
        "60 of 100 decedents (60.0%)."
    ]


def test_a_steady_series_has_no_signal():
    counts = [(10, 100), (12, 100)] * 12 + [(11, 100)]
    summary = summary_of(
        monthly("heart_failure", "referral_gt30d_before_death", "2024-05", counts),
        "referral_gt30d_before_death",
    )
    assert summary.signals == ()
    assert cohort_sentences("heart_failure", [summary], 11) == ["Heart failure: no signal."]


def test_hidden_figures_say_why_no_signal_can_be_read():
    table = monthly("stroke", "sic_gt30d_before_death", "2026-03", [(5, 8)] * 3)
    table["numerator"], table["denominator"], table["rate"] = "<11", "<11", None
    summary = summary_of(table, "sic_gt30d_before_death")
    assert cohort_sentences("stroke", [summary], 11) == [
        "Stroke: no signal can be read: no measure has a complete month with a figure shown "
        "(counts from 1 to 10 are hidden)."
    ]


def test_a_run_chart_signal_names_too_few_crossings_and_a_long_run():
    points = tuple(
        Point(m, 0.1 if i < 7 else 0.3, 1, 5, True, cl=0.2) for i, m in enumerate(months("2025-01", 14))
    )
    [signal] = find_signals(points, [{} for _ in points], "run")
    summary = SeriesSummary(
        "cancer", "sic_gt30d_before_death", "t", "proportion", "run", 0, points, (signal,), MONTH
    )
    assert signal_sentence(summary, signal) == (
        "Cancer: first conversation over 30 days before death shows only 1 crossing of the median (20.0%), "
        "fewer than the 4 expected by chance (run chart of 14 months, January 2025 to February 2026)."
    )
    long_run = Signal(
        "run", "", signal.months, True, {"centre": 0.2, "longest_run": 9, "longest_run_max": 7, "long_run": 1}
    )
    assert signal_sentence(summary, long_run) == (
        "Cancer: first conversation over 30 days before death shows a run of 9 months on one side of the "
        "median (20.0%), more than the 7 expected by chance (run chart of 14 months, January 2025 to "
        "February 2026)."
    )


def test_trend_and_month_spans():
    assert month_span("2025-10", "2026-05") == "October 2025 to May 2026"
    points = tuple(
        Point(m, 0.1 + 0.01 * i, 10 + i, 100, True, cl=0.13) for i, m in enumerate(months("2025-11", 7))
    )
    signal = Signal("trend", "up", tuple(p.month for p in points), True)
    summary = SeriesSummary(
        "stroke", "referred_within_90d", "t", "proportion", "p", 90, points, (signal,), MONTH
    )
    assert signal_sentence(summary, signal) == (
        "Stroke: referral within 90 days of diagnosis has risen month on month for 7 months, "
        "November 2025 to May 2026 (a trend); May 2026: 16 of 100 patients (16.0%)."
    )


def test_a_run_stops_at_a_phase_start_and_a_missing_phase_is_one_phase():
    points = tuple(Point(m, 0.3, 30, 100, True, cl=0.2) for m in months("2025-01", 8))
    flags = [{"shift": True, "phase": float("nan")} for _ in points]
    assert [len(s.months) for s in find_signals(points, flags, "p")] == [8]
    for i, f in enumerate(flags):
        f["phase"] = "baseline" if i < 4 else "programme"
    assert [(s.months[0], len(s.months), s.current) for s in find_signals(points, flags, "p")] == [
        ("2025-01", 4, False),
        ("2025-05", 4, True),
    ]
