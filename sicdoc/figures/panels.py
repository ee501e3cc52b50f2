"""From a dashboard panel (its spec and suppressed table) to the figures it shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.panels import panel_kind
from sicdoc.analytics.phases import Phase
from sicdoc.figures.bands import bands_by_year_figure, bands_figure
from sicdoc.figures.control import control_figure
from sicdoc.figures.end_of_life import (
    concordance_figure,
    documentation_figures,
    documentation_funnel_figure,
    eol_indicator_figures,
    sic_by_department_figures,
)
from sicdoc.figures.funnel import funnel_figure
from sicdoc.figures.headline import headline_figure
from sicdoc.figures.incidence import incidence_figure
from sicdoc.figures.period import period_comparison_figure
from sicdoc.figures.quality import quality_figure
from sicdoc.figures.reach import reach_figures
from sicdoc.figures.strata import strata_figure
from sicdoc.figures.theme import empty_figure

NO_MONTHS = "No months with data in this period and scope."


def _per_cohort(
    table: pd.DataFrame, spec: Mapping[str, Any], cohorts: list[str], **options: Any
) -> list[go.Figure]:
    title = spec["title"]
    out = []
    for cohort in cohorts:
        rows = table[table["cohort"] == cohort] if not table.empty else table
        if rows.empty:
            period = spec.get("period_text")
            message = f"No months with data for {period} in this scope." if period else NO_MONTHS
            out.append(empty_figure(f"{title} — {cohort.replace('_', ' ')}", message))
        else:
            out.append(control_figure(rows, title, phases=spec.get("phases", ()), **options))
    return out


FigureBuilder = Callable[[Mapping[str, Any], pd.DataFrame, list[str]], list[go.Figure]]


def _one(build: Callable[..., go.Figure], **options: Any) -> FigureBuilder:
    return lambda spec, table, cohorts: [build(table, spec["title"], **options)]


# The chart of each kind in the registry of sicdoc.analytics.panels (a test keeps the keys equal).
FIGURES: dict[str, FigureBuilder] = {
    "headline": _one(headline_figure),
    "incidence": _one(incidence_figure),
    "bands": _one(bands_figure),
    "bands_by_year": _one(bands_by_year_figure),
    "monthly": lambda spec, table, cohorts: _per_cohort(
        table, spec, cohorts, target=spec.get("target"), improvement=spec.get("improvement", "increase")
    ),
    "interval": lambda spec, table, cohorts: _per_cohort(
        table,
        spec,
        cohorts,
        value="median_days",
        counts=("referred_decedents",),
        target=spec.get("target"),
        improvement=spec.get("improvement", "neutral"),
        percent=False,
    ),
    "unit_funnel": _one(funnel_figure, group_label="unit"),
    "clinician_funnel": _one(funnel_figure, group_label="clinician"),
    "strata": _one(strata_figure),
    "quality": _one(quality_figure),
    "reach": lambda spec, table, cohorts: reach_figures(table, spec["title"]),
    "period_comparison": _one(period_comparison_figure),
    "eol_indicators": lambda spec, table, cohorts: eol_indicator_figures(table, spec["title"]),
    "concordance": _one(concordance_figure),
    "documentation_quality": lambda spec, table, cohorts: documentation_figures(
        table, spec["title"], phases=spec.get("phases", ()), target=spec.get("target")
    ),
    "documentation_funnel": _one(documentation_funnel_figure),
    "sic_last_180d_by_department": lambda spec, table, cohorts: sic_by_department_figures(
        table, spec["title"]
    ),
}


def panel_figures(
    spec: Mapping[str, Any],
    table: pd.DataFrame,
    cohorts: list[str],
    *,
    phases: Sequence[Phase] = (),
    period_text: str | None = None,
) -> list[go.Figure]:
    """The figures of one panel: most kinds give one, the monthly kinds one per cohort.

    ``phases`` (the dashboard's) are drawn on the control charts; ``period_text`` names the period
    asked in a chart with no data."""
    panel_kind(spec["kind"])
    return FIGURES[spec["kind"]](
        {**spec, "phases": tuple(phases), "period_text": period_text}, table, cohorts
    )
