"""Cumulative-incidence curves (M1 referral, M7 conversation) by cohort, on a coarse day grid.

A curve drawn at every event time would let anyone read counts off its steps, so it is evaluated
on a grid (every ``CURVE_STEP`` days, see lookforward.py) and a grid point is shown only under the
rule the report uses for its horizons: neither the events by then, the patients, the rest of the
patients nor the events added since the last shown point are 1..min_cell-1. The rule runs once
along the grid and the horizons together (``CURVE_DAYS``), so the chart and the headline figures
show and hide the same points. Hidden points are None.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from sicdoc.analytics.lookforward import GRID_DAYS
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.suppression import curve_shown, is_small

LAST_DAY = {measure: days[-1] for measure, days in GRID_DAYS.items()}
CURVE_COLUMNS = ("cohort", "day", "estimate", "lower", "upper")


def curve_points(curve: dict, min_cell: int, days: Iterable[int] | None = None) -> list[dict]:
    """Suppressed points of one ``cumulative_incidence`` result at ``days`` (default: all), the
    rule applied along every point of ``curve``."""
    shown = curve_shown(curve, min_cell)
    keys = ("estimate", "lower", "upper")
    return [
        {"day": day, **{k: curve[day][k] if shown[day] else None for k in keys}}
        for day in (curve if days is None else days)
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
        for point in curve_points(curve, ctx.min_cell, GRID_DAYS[measure]):
            rows.append({"cohort": cohort, **point})
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
