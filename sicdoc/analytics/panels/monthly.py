"""Monthly series for control and run charts, suppressed before any statistic is computed.

Each cohort's months are suppressed as one table whose margin is the cohort total (shown elsewhere
on the dashboard), so a hidden month cannot be worked out by subtraction. The chart statistics
(centre line, limits, rules) then use the shown months only: a centre line pooled over a hidden
month would carry that month's counts. With fewer than ``run_chart_below`` shown months the chart
is a run chart around the median with the Anhøj rules, otherwise a p-chart (XmR for intervals) with
the NHS "Making Data Count" rules. Months whose measure window was not over by the last day with
data (``series.window_complete``) keep their point, flagged ``complete = False``, but never enter
the centre line, the limits or the rules: an open window is not a signal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sicdoc.analytics.intervals import median_days
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.series import (
    TOTAL,
    month_of,
    monthly_early_referral,
    monthly_referral_within,
    monthly_sic_before_death,
    window_complete,
)
from sicdoc.analytics.spc import anhoej, p_chart, xmr
from sicdoc.analytics.suppression import suppress_proportions, suppress_table

RUN_CHART_BELOW = 20
SERIES = {
    "referred_within_90d": lambda ctx, c: monthly_referral_within(ctx.look(c), 90),
    "referral_gt30d_before_death": lambda ctx, c: monthly_early_referral(ctx.dead(c)),
    "sic_gt30d_before_death": lambda ctx, c: monthly_sic_before_death(ctx.dead(c)),
}
LIMIT_COLUMNS = ("cl", "lcl", "ucl", "lwl", "uwl")
FLAG_COLUMNS = ("outside", "shift", "trend", "two_of_three", "special_cause")
SPC_COLUMNS = ("chart", *LIMIT_COLUMNS, *FLAG_COLUMNS, "run_signal")
INTERVAL_MEASURE = "days_referral_to_death"


def _with_total(table: pd.DataFrame, key: str) -> pd.DataFrame:
    out = table.set_index(key)[["numerator", "denominator"]].astype(int)
    out.loc[TOTAL] = out.sum()
    out["rate"] = [n / d if d else None for n, d in zip(out["numerator"], out["denominator"], strict=True)]
    return out


def _statistics(values: pd.Series, run_chart_below: int, p_frame: pd.DataFrame | None) -> pd.DataFrame:
    """Chart type, limits and signals for the shown points (index of ``values``)."""
    out = pd.DataFrame(index=values.index, columns=list(SPC_COLUMNS), dtype=object)
    if values.empty:
        return out
    if len(values) < run_chart_below:
        runs = anhoej(values.to_numpy(dtype=float))
        out["chart"], out["cl"], out["run_signal"] = "run", runs["centre"], runs["signal"]
        return out
    spc = p_chart(p_frame) if p_frame is not None else xmr(values.to_numpy(dtype=float))
    spc.index = values.index
    out["chart"] = "p" if p_frame is not None else "xmr"
    for column in (*LIMIT_COLUMNS, *FLAG_COLUMNS):
        out[column] = spc[column]
    out["run_signal"] = False
    return out


def monthly_table(ctx: PanelContext, series: str, run_chart_below: int = RUN_CHART_BELOW) -> pd.DataFrame:
    """Per cohort and month: suppressed numerator, denominator, rate and the chart statistics."""
    if series not in SERIES:
        raise ValueError(f"unknown monthly series {series!r}")
    parts = []
    for cohort in ctx.scope.cohorts:
        raw = SERIES[series](ctx, cohort)
        if raw.empty:
            continue
        shown = suppress_proportions(_with_total(raw, "month"), total_row=TOTAL, min_cell=ctx.min_cell)
        shown = shown.drop(index=TOTAL)
        shown["complete"] = window_complete(shown.index.to_series(), series, ctx.data_through)
        used = shown["rate"].notna() & shown["complete"]
        counts = shown.loc[used, ["numerator", "denominator"]].astype(int)
        stats = _statistics(shown.loc[used, "rate"].astype(float), run_chart_below, counts)
        shown = shown.join(stats)
        shown.insert(0, "month", shown.index)
        shown.insert(0, "cohort", cohort)
        parts.append(shown.reset_index(drop=True))
    columns = ["cohort", "month", "numerator", "denominator", "rate", "complete", *SPC_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]


def interval_table(ctx: PanelContext, run_chart_below: int = RUN_CHART_BELOW) -> pd.DataFrame:
    """Per cohort and month of death: referred decedents and their median days referral -> death.

    A month's median is shown only when its count is; XmR limits (or a run chart) over those medians.
    """
    parts = []
    for cohort in ctx.scope.cohorts:
        dead = ctx.dead(cohort)
        referred = dead[dead["days_referral_to_death"].notna()]
        if referred.empty:
            continue
        month = month_of(referred["death_date"])
        grouped = referred.groupby(month)["days_referral_to_death"]
        counts = grouped.size().to_frame("referred_decedents")
        counts.loc[TOTAL] = counts.sum()
        shown = suppress_table(
            counts.astype(int), ["referred_decedents"], total_row=TOTAL, min_cell=ctx.min_cell
        )
        shown = shown.drop(index=TOTAL)
        medians = grouped.apply(lambda s: median_days(s.astype(float)))
        visible = shown["referred_decedents"].map(lambda v: isinstance(v, int | np.integer))
        shown["median_days"] = medians.where(visible)
        shown["complete"] = window_complete(shown.index.to_series(), INTERVAL_MEASURE, ctx.data_through)
        values = shown.loc[visible & shown["complete"], "median_days"].astype(float)
        shown = shown.join(_statistics(values, run_chart_below, None))
        shown.insert(0, "month", shown.index)
        shown.insert(0, "cohort", cohort)
        parts.append(shown.reset_index(drop=True))
    columns = ["cohort", "month", "referred_decedents", "median_days", "complete", *SPC_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]
