"""From a dashboard panel (its spec and suppressed table) to the figures it shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.bands import bands_by_year_figure, bands_figure
from sicdoc.figures.control import control_figure
from sicdoc.figures.funnel import funnel_figure
from sicdoc.figures.headline import headline_figure
from sicdoc.figures.incidence import incidence_figure
from sicdoc.figures.quality import quality_figure
from sicdoc.figures.strata import strata_figure
from sicdoc.figures.theme import empty_figure


def _per_cohort(
    table: pd.DataFrame, spec: Mapping[str, Any], cohorts: list[str], **options: Any
) -> list[go.Figure]:
    title = spec["title"]
    out = []
    for cohort in cohorts:
        rows = table[table["cohort"] == cohort] if not table.empty else table
        if rows.empty:
            out.append(
                empty_figure(
                    f"{title} — {cohort.replace('_', ' ')}", "No months with data in this period and scope."
                )
            )
        else:
            out.append(control_figure(rows, title, **options))
    return out


def panel_figures(spec: Mapping[str, Any], table: pd.DataFrame, cohorts: list[str]) -> list[go.Figure]:
    """The figures of one panel: most kinds give one, the monthly kinds one per cohort."""
    kind, title = spec["kind"], spec["title"]
    if kind == "headline":
        return [headline_figure(table, title)]
    if kind == "incidence":
        return [incidence_figure(table, title)]
    if kind == "bands":
        return [bands_figure(table, title)]
    if kind == "bands_by_year":
        return [bands_by_year_figure(table, title)]
    if kind == "monthly":
        return _per_cohort(
            table, spec, cohorts, target=spec.get("target"), improvement=spec.get("improvement", "increase")
        )
    if kind == "interval":
        return _per_cohort(
            table,
            spec,
            cohorts,
            value="median_days",
            counts=("referred_decedents",),
            target=spec.get("target"),
            improvement=spec.get("improvement", "neutral"),
            percent=False,
        )
    if kind == "unit_funnel":
        return [funnel_figure(table, title, group_label="unit")]
    if kind == "clinician_funnel":
        return [funnel_figure(table, title, group_label="clinician")]
    if kind == "strata":
        return [strata_figure(table, title)]
    if kind == "quality":
        return [quality_figure(table, title)]
    raise ValueError(f"unknown panel kind {kind!r}")
