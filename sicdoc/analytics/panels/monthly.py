"""Monthly series for control and run charts, suppressed before any statistic is computed.

Each cohort's months are suppressed as one table whose margin is the cohort total (shown elsewhere
on the dashboard), so a hidden month cannot be worked out by subtraction, and together with the
quarters of the quarterly view (``quarters.suppress_periods``), so neither view gives away a count
the other hides. The chart statistics
(centre line, limits, rules) then use the shown months only: a centre line pooled over a hidden
month would carry that month's counts. With fewer than ``run_chart_below`` shown months the chart
is a run chart around the median with the Anhøj rules, otherwise a p-chart (XmR for intervals) with
the NHS "Making Data Count" rules. Months whose measure window was not over by the last day with
data (``series.window_complete``) keep their point, flagged ``complete = False``, but never enter
the centre line, the limits or the rules: an open window is not a signal.

With programme phases (``ctx.phases``) each phase has its own chart: a run chart or a control chart
by its own number of shown points, its own centre line and limits, and rules that stop at its start.
With the scope's ``grouping`` "quarter" the points are calendar quarters (``quarters.py``), the
first column is ``quarter`` ("YYYY-Qn") instead of ``month``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sicdoc.analytics.intervals import median_days
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.phases import phase_of, quarter_of
from sicdoc.analytics.quarters import PROPORTION, quarter_complete, suppress_periods, with_rates
from sicdoc.analytics.series import (
    month_of,
    monthly_early_referral,
    monthly_referral_within,
    monthly_sic_before_death,
    window_complete,
)
from sicdoc.analytics.spc import anhoej, p_chart, xmr

RUN_CHART_BELOW = 20
SERIES = {
    "referred_within_90d": lambda ctx, c: monthly_referral_within(ctx.look(c), 90),
    "referral_gt30d_before_death": lambda ctx, c: monthly_early_referral(ctx.dead(c)),
    "sic_gt30d_before_death": lambda ctx, c: monthly_sic_before_death(ctx.dead(c)),
}
LIMIT_COLUMNS = ("cl", "lcl", "ucl", "lwl", "uwl")
FLAG_COLUMNS = ("outside", "shift", "trend", "two_of_three", "special_cause")
SPC_COLUMNS = ("chart", *LIMIT_COLUMNS, *FLAG_COLUMNS, "run_signal")
PHASE_COLUMN = "phase"
INTERVAL_MEASURE = "days_referral_to_death"


def _statistics(
    values: pd.Series,
    run_chart_below: int,
    p_frame: pd.DataFrame | None,
    phases: list[str] | None = None,
) -> pd.DataFrame:
    """Chart type, limits and signals for the shown points (index of ``values``), phase by phase."""
    out = pd.DataFrame(index=values.index, columns=list(SPC_COLUMNS), dtype=object)
    if values.empty:
        return out
    labels = pd.Series(phases if phases is not None else [""] * len(values), index=values.index)
    for _, members in labels.groupby(labels.ne(labels.shift()).cumsum().to_numpy()):
        index = members.index
        part = values.loc[index]
        if len(part) < run_chart_below:
            runs = anhoej(part.to_numpy(dtype=float))
            out.loc[index, "chart"] = "run"
            out.loc[index, "cl"] = runs["centre"]
            out.loc[index, "run_signal"] = runs["signal"]
            continue
        spc = p_chart(p_frame.loc[index]) if p_frame is not None else xmr(part.to_numpy(dtype=float))
        spc.index = index
        out.loc[index, "chart"] = "p" if p_frame is not None else "xmr"
        for column in (*LIMIT_COLUMNS, *FLAG_COLUMNS):
            out.loc[index, column] = spc[column].to_numpy()
        out.loc[index, "run_signal"] = False
    return out


def _period_key(ctx: PanelContext) -> str:
    return "quarter" if ctx.scope.grouping == "quarter" else "month"


def period_proportions(
    raw: pd.DataFrame, series: str, ctx: PanelContext, grouping: str | None = None, cohort: str | None = None
) -> pd.DataFrame:
    """The months (or quarters, by the scope's grouping) of a monthly numerator/denominator table,
    suppressed together with the other grouping (``quarters.suppress_periods``), with ``rate`` and
    ``complete``. With ``cohort``, the suppressed views are kept in the context for other panels
    of the same series (the monthly chart and the period comparison)."""
    cache = getattr(ctx, "_cache", {}) if cohort is not None else {}
    key = ("periods", series, cohort)
    if key not in cache:
        counts = raw.set_index("month")[["numerator", "denominator"]].astype(int)
        counts["_rest"] = counts["denominator"] - counts["numerator"]
        cache[key] = suppress_periods(counts, PROPORTION, min_cell=ctx.min_cell)
    months, quarters = cache[key]
    if (grouping or _period_key(ctx)) == "quarter":
        shown = with_rates(quarters, ctx.min_cell)
        shown["complete"] = quarter_complete(list(shown.index), series, ctx.data_through, ctx.scope.where)
    else:
        shown = with_rates(months, ctx.min_cell)
        shown["complete"] = window_complete(shown.index.to_series(), series, ctx.data_through)
    return shown


def monthly_table(ctx: PanelContext, series: str, run_chart_below: int = RUN_CHART_BELOW) -> pd.DataFrame:
    """Per cohort and month (or quarter): suppressed numerator, denominator, rate, whether the point
    is complete, its phase and the chart statistics."""
    if series not in SERIES:
        raise ValueError(f"unknown monthly series {series!r}")
    key = _period_key(ctx)
    parts = []
    for cohort in ctx.scope.cohorts:
        raw = SERIES[series](ctx, cohort)
        if raw.empty:
            continue
        parts.append(proportion_chart(ctx, raw, series, cohort, run_chart_below))
    columns = ["cohort", key, "numerator", "denominator", "rate", "complete", PHASE_COLUMN, *SPC_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]


def proportion_chart(
    ctx: PanelContext, raw: pd.DataFrame, series: str, cohort: str, run_chart_below: int = RUN_CHART_BELOW
) -> pd.DataFrame:
    """One group's chart rows from its monthly numerator/denominator table (``raw``: month,
    numerator, denominator): the suppressed periods with rate, completeness (``series`` names the
    window rule of ``series.WINDOW_DAYS``), phase and chart statistics, led by ``cohort`` (the
    group) and the period."""
    key = _period_key(ctx)
    shown = period_proportions(raw, series, ctx, cohort=cohort)
    shown[PHASE_COLUMN] = phase_of(list(shown.index), ctx.phases)
    used = shown["rate"].notna() & shown["complete"]
    counts = shown.loc[used, ["numerator", "denominator"]].astype(int)
    stats = _statistics(
        shown.loc[used, "rate"].astype(float),
        run_chart_below,
        counts,
        list(shown.loc[used, PHASE_COLUMN]),
    )
    shown = shown.join(stats)
    shown.insert(0, key, shown.index)
    shown.insert(0, "cohort", cohort)
    return shown.reset_index(drop=True)


def interval_table(ctx: PanelContext, run_chart_below: int = RUN_CHART_BELOW) -> pd.DataFrame:
    """Per cohort and month (or quarter) of death: referred decedents and their median days from
    referral to death.

    A period's median is shown only when its count is; XmR limits (or a run chart) over those
    medians, phase by phase.
    """
    key = _period_key(ctx)
    parts = []
    for cohort in ctx.scope.cohorts:
        dead = ctx.dead(cohort)
        referred = dead[dead["days_referral_to_death"].notna()]
        if referred.empty:
            continue
        month = month_of(referred["death_date"])
        counts = referred.groupby(month).size().to_frame("referred_decedents").astype(int)
        months, quarters = suppress_periods(counts, min_cell=ctx.min_cell)
        shown, period = months, month
        if key == "quarter":
            shown, period = quarters, month.map(quarter_of)
            complete = quarter_complete(
                list(shown.index), INTERVAL_MEASURE, ctx.data_through, ctx.scope.where
            )
        else:
            complete = window_complete(shown.index.to_series(), INTERVAL_MEASURE, ctx.data_through)
        medians = referred.groupby(period)["days_referral_to_death"].apply(
            lambda s: median_days(s.astype(float))
        )
        visible = shown["referred_decedents"].map(lambda v: isinstance(v, int | np.integer))
        shown["median_days"] = medians.where(visible)
        shown["complete"] = complete
        shown[PHASE_COLUMN] = phase_of(list(shown.index), ctx.phases)
        used = visible & shown["complete"]
        values = shown.loc[used, "median_days"].astype(float)
        shown = shown.join(_statistics(values, run_chart_below, None, list(shown.loc[used, PHASE_COLUMN])))
        shown.insert(0, key, shown.index)
        shown.insert(0, "cohort", cohort)
        parts.append(shown.reset_index(drop=True))
    columns = ["cohort", key, "referred_decedents", "median_days", "complete", PHASE_COLUMN, *SPC_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]
