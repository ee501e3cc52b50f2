"""Period against period: the latest complete quarter against the same quarter a year earlier.

Per cohort, for one monthly series: both proportions with their counts, the difference with its 95%
interval and a p-value (``sicdoc.analytics.difference``: Newcombe's hybrid score interval; the
two-proportion z-test, or Fisher's exact test when an expected count is under 5). The quarters are
the quarterly chart's, suppressed the same way; a suppressed count gives no difference, interval or
p-value. Every row without a result says why in ``note``.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd

from sicdoc.analytics.difference import compare
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.panels.monthly import SERIES, period_proportions
from sicdoc.analytics.phases import period_start, quarter_of_day, shift_quarter
from sicdoc.analytics.quarters import quarter_complete

COLUMNS = (
    "cohort",
    "series",
    "period",
    "numerator",
    "denominator",
    "rate",
    "comparison_period",
    "comparison_numerator",
    "comparison_denominator",
    "comparison_rate",
    "difference",
    "difference_lower",
    "difference_upper",
    "interval_method",
    "p_value",
    "test",
    "note",
)
OLDEST = date(1900, 1, 1)


def latest_complete_quarter(ctx: PanelContext, series: str) -> str | None:
    """The latest quarter inside the period whose every month's window is over; None if there is none."""
    where = ctx.scope.where
    quarter = quarter_of_day(where.period_to or ctx.scope.as_of)
    floor = where.period_from or OLDEST
    while period_start(quarter) >= floor:
        if quarter_complete([quarter], series, ctx.data_through, where).iloc[0]:
            return quarter
        quarter = shift_quarter(quarter, -1)
    return None


def is_rate(value: object) -> bool:
    """A shown rate: a number, not None or NaN."""
    return isinstance(value, float | int | np.floating) and not math.isnan(float(value))


def _counts(table: pd.DataFrame, quarter: str) -> tuple[object, object, object]:
    if quarter not in table.index:
        return 0, 0, None
    row = table.loc[quarter]
    return row["numerator"], row["denominator"], row["rate"]


def period_comparison_table(ctx: PanelContext, series: str) -> pd.DataFrame:
    """One row per cohort: the latest complete quarter against the same quarter a year earlier."""
    if series not in SERIES:
        raise ValueError(f"unknown monthly series {series!r}")
    latest = latest_complete_quarter(ctx, series)
    earlier = shift_quarter(latest, -4) if latest else None
    rows = []
    for cohort in ctx.scope.cohorts:
        row: dict[str, object] = dict.fromkeys(COLUMNS)
        row.update(cohort=cohort, series=series, period=latest, comparison_period=earlier)
        rows.append(row)
        if latest is None or earlier is None:
            row["note"] = (
                "no complete quarter in this period: its months' windows are not over yet, or no data"
            )
            continue
        if ctx.scope.where.period_from and period_start(earlier) < ctx.scope.where.period_from:
            row["note"] = f"{earlier} is not wholly inside the period; widen the period to compare"
            continue
        raw = SERIES[series](ctx, cohort)
        table = period_proportions(raw, series, ctx, "quarter", cohort) if not raw.empty else pd.DataFrame()
        row["numerator"], row["denominator"], row["rate"] = _counts(table, latest)
        x = _counts(table, earlier)
        row["comparison_numerator"], row["comparison_denominator"], row["comparison_rate"] = x
        empty = [
            q for q, d in ((earlier, row["comparison_denominator"]), (latest, row["denominator"])) if d == 0
        ]
        if empty:
            row["note"] = "no data for " + " and ".join(empty)
            continue
        counts = [
            row[c] for c in ("numerator", "denominator", "comparison_numerator", "comparison_denominator")
        ]
        rates = (row["rate"], row["comparison_rate"])
        if not all(isinstance(v, int | np.integer) for v in counts) or not all(is_rate(r) for r in rates):
            row["note"] = f"suppressed: a count from 1 to {ctx.min_cell - 1} in one of the quarters"
            continue
        result = compare(*(int(v) for v in counts))  # type: ignore[call-overload]
        row.update(
            difference=result.difference,
            difference_lower=result.lower,
            difference_upper=result.upper,
            interval_method=result.interval,
            p_value=result.p_value,
            test=result.test,
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))
