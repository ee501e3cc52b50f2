"""Cumulative-incidence curves (M1 referral, M7 conversation) by cohort, on a coarse day grid.

A curve drawn at every event time would let anyone read counts off its steps, so it is evaluated
on a grid (every ``CURVE_STEP`` days, see context.py) and a grid point is shown only under the rule the report uses for
its horizons: neither the events by then, the patients, the rest of the patients nor the events
added since the last shown point are 1..min_cell-1. Hidden points are None.
"""

from __future__ import annotations

import pandas as pd

from sicdoc.analytics.panels.context import GRID_DAYS, PanelContext
from sicdoc.analytics.suppression import curve_shown, is_small

LAST_DAY = {measure: days[-1] for measure, days in GRID_DAYS.items()}
CURVE_COLUMNS = ("cohort", "day", "estimate", "lower", "upper")


def curve_points(curve: dict, min_cell: int) -> list[dict]:
    """Suppressed grid points of one ``cumulative_incidence`` result."""
    shown = curve_shown(curve, min_cell)
    keys = ("estimate", "lower", "upper")
    return [
        {"day": day, **{k: point[k] if shown[day] else None for k in keys}} for day, point in curve.items()
    ]


def incidence_table(ctx: PanelContext, measure: str) -> pd.DataFrame:
    """Grid points of the ``measure`` ("referral" or "sic") incidence curve of every cohort."""
    if measure not in LAST_DAY:
        raise ValueError(f"unknown incidence measure {measure!r}")
    rows = []
    for cohort in ctx.scope.cohorts:
        look = ctx.look(cohort)
        n = int(look[f"{measure}_event"].notna().sum())
        if n == 0 or is_small(n, ctx.min_cell):
            continue
        curve = ctx.incidence(cohort, measure)
        grid = {day: curve[day] for day in GRID_DAYS[measure]}
        for point in curve_points(grid, ctx.min_cell):
            rows.append({"cohort": cohort, **point})
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
