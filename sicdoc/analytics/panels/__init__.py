"""Dashboard panel tables: one suppressed DataFrame per panel, the same table its chart and CSV show.

    ctx = PanelContext(frames, scope, value_set_version="2026.1")
    table = panel_table(ctx, {"kind": "monthly", "series": "referral_gt30d_before_death"})

Kinds and their options: ``headline``, ``incidence`` (measure: referral | sic), ``bands``,
``bands_by_year``, ``monthly`` (series, run_chart_below), ``interval`` (run_chart_below),
``unit_funnel`` (hours), ``clinician_funnel``, ``strata`` (days), ``quality``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from sicdoc.analytics.panels.comparison import clinician_funnel_table, strata_table, unit_funnel_table
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.panels.curves import incidence_table
from sicdoc.analytics.panels.monthly import RUN_CHART_BELOW, SERIES, interval_table, monthly_table
from sicdoc.analytics.panels.overview import bands_by_year_table, bands_table, headline_table, quality_table

KINDS: dict[str, Callable[[PanelContext, Mapping[str, Any]], pd.DataFrame]] = {
    "headline": lambda ctx, spec: headline_table(ctx),
    "incidence": lambda ctx, spec: incidence_table(ctx, spec["measure"]),
    "bands": lambda ctx, spec: bands_table(ctx),
    "bands_by_year": lambda ctx, spec: bands_by_year_table(ctx),
    "monthly": lambda ctx, spec: monthly_table(
        ctx, spec["series"], spec.get("run_chart_below", RUN_CHART_BELOW)
    ),
    "interval": lambda ctx, spec: interval_table(ctx, spec.get("run_chart_below", RUN_CHART_BELOW)),
    "unit_funnel": lambda ctx, spec: unit_funnel_table(ctx, spec.get("hours", 72)),
    "clinician_funnel": lambda ctx, spec: clinician_funnel_table(ctx),
    "strata": lambda ctx, spec: strata_table(ctx, spec.get("days", 90)),
    "quality": lambda ctx, spec: quality_table(ctx),
}


def panel_table(ctx: PanelContext, spec: Mapping[str, Any]) -> pd.DataFrame:
    """The suppressed table of one panel ``spec`` (a dashboard definition's panel entry)."""
    kind = spec["kind"]
    if kind not in KINDS:
        raise ValueError(f"unknown panel kind {kind!r}")
    return KINDS[kind](ctx, spec)


__all__ = ["KINDS", "SERIES", "PanelContext", "panel_table"]
