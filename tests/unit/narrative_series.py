"""Monthly series for the report's narrative, as the dashboard builds them, and their summaries."""

from datetime import date

import pandas as pd

from sicdoc.analytics.series import window_complete
from sicdoc.analytics.spc import p_chart
from sicdoc.reporting.monthly import SeriesSummary, summarise

MONTH = "2026-05"
THROUGH = date(2026, 5, 31)


def months(first: str, count: int) -> list[str]:
    start = pd.Period(first, freq="M")
    return [str(start + i) for i in range(count)]


def monthly(cohort: str, series: str, first: str, counts: list[tuple[int, int]]) -> pd.DataFrame:
    """A monthly panel table as the dashboard builds it: p-chart statistics on complete points only."""
    table = pd.DataFrame(
        {
            "cohort": cohort,
            "month": months(first, len(counts)),
            "numerator": [n for n, _ in counts],
            "denominator": [d for _, d in counts],
        }
    )
    table["rate"] = table["numerator"] / table["denominator"]
    table["complete"] = window_complete(table["month"], series, THROUGH)
    spc = p_chart(table[table["complete"]])
    table = table.join(spc[["cl", "lcl", "ucl", "lwl", "uwl", "outside", "shift", "trend", "two_of_three"]])
    table["chart"] = "p"
    return table


def summary_of(table: pd.DataFrame, series: str) -> SeriesSummary:
    cohort = str(table["cohort"].iloc[0])
    return summarise(table, cohort, series, "title", MONTH, THROUGH)


def shifted_cancer() -> pd.DataFrame:
    # March 2024 to May 2026: 16 months at 10%, 8 at 19%, then three open 90-day windows at 60%.
    counts = [(10, 100)] * 16 + [(19, 100)] * 8 + [(60, 100)] * 3
    return monthly("cancer", "referred_within_90d", "2024-03", counts)
