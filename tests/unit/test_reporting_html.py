"""The monthly report's HTML from a hand-made report: the text, the signals table and the sparklines."""

from dataclasses import replace
from datetime import UTC, date, datetime

from sicdoc.analytics.scope import Scope
from sicdoc.reporting.html import render_html
from sicdoc.reporting.monthly import HeadlineFigure, MonthlyReport
from sicdoc.reporting.narrative import completeness_notes, summary_sentences
from tests.unit.narrative_series import shifted_cancer, summary_of

SCOPE = Scope(date(2026, 5, 31), date(2024, 3, 1), date(2026, 5, 31), ("cancer",), granularity="month")


def report() -> MonthlyReport:
    summary = replace(summary_of(shifted_cancer(), "referred_within_90d"), improvement="increase")
    partial = MonthlyReport(
        month="2026-05",
        title="Monthly QI report",
        scope=SCOPE,
        filters=SCOPE.filters_text(suppressed=True),
        data_complete_through="2026-05-31",
        data_note=None,
        min_cell=11,
        cohorts=("cancer",),
        headline=(
            HeadlineFigure(
                "cancer",
                "index_patients",
                "Patients with an index diagnosis",
                2700,
                None,
                None,
                2700,
                None,
                "2,700",
            ),
        ),
        series=(summary,),
    )
    return replace(
        partial, summary=tuple(summary_sentences(partial)), notes=tuple(completeness_notes(partial))
    )


def test_the_page_has_the_text_the_signals_and_a_line_per_measure():
    page = render_html(report(), datetime(2026, 6, 3, 9, 30, tzinfo=UTC))
    assert "<h1>Monthly QI report: May 2026</h1>" in page
    assert "Filters: cohort cancer; all sites; all units; period 2024-03-01 to 2026-05-31" in page
    assert (
        "<li>Cancer: referral within 90 days of diagnosis has been above the centre line (13.0%) for 8 months"
        in page
    )
    assert "the 90-day windows of March to May 2026 are not over" in page
    # Both shifts are listed; the current one first, read as an improvement (the measure should rise).
    assert page.index("July 2025 to February 2026 (8)") < page.index("March 2024 to June 2025 (16)")
    assert '<span class="improvement">improvement</span>, current' in page
    assert '<span class="concern">concern</span>, <span class="muted">earlier</span>' in page
    assert '60 of 100 patients (60.0%) <span class="muted">(not complete)</span>' in page
    assert page.count("<svg") == 1 and page.count("<circle") == 27
    assert "<td>Patients with an index diagnosis</td><td>2,700</td>" in page
    assert "2026-06-03 09:30 UTC" in page
    assert "@page { size: A4;" in page
