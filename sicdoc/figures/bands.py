"""Referral-to-death bands among decedents: stacked bars by cohort and by year of death.

Only shown counts are drawn; a hidden cell leaves a gap whose size complementary suppression has
made at least 11 (or 0), and its hover says it is hidden.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.theme import (
    BAND_COLORS,
    BAND_LABELS,
    cohort_label,
    count_text,
    empty_figure,
    is_number,
    themed,
)

BANDS = tuple(BAND_LABELS)


def _bar(x: list, values: list, band: str) -> go.Bar:
    heights = [v if is_number(v) else None for v in values]
    hover = [f"{BAND_LABELS[band]}: {count_text(v)} decedents" for v in values]
    return go.Bar(
        x=x,
        y=heights,
        name=BAND_LABELS[band],
        marker_color=BAND_COLORS[band],
        hovertext=hover,
        hoverinfo="text",
    )


def bands_figure(
    table: pd.DataFrame, title: str = "Time from first palliative referral to death"
) -> go.Figure:
    """Stacked bars, one per cohort, of decedents by band (table: cohort, band, decedents)."""
    body = table[table["band"] != "All"] if not table.empty else table
    totals = table[table["band"] == "All"] if not table.empty else table
    if body.empty or not any(is_number(v) and v > 0 for v in totals["decedents"]):
        return empty_figure(title, "No decedents in this period and scope.")
    cohorts = list(dict.fromkeys(body["cohort"]))
    x = [cohort_label(c) for c in cohorts]
    fig = go.Figure()
    for band in BANDS:
        rows = body[body["band"] == band].set_index("cohort")
        fig.add_trace(_bar(x, [rows["decedents"].get(c) for c in cohorts], band))
    fig.update_layout(barmode="stack")
    fig = themed(fig, title)
    fig.update_yaxes(title="decedents")
    return fig


def bands_by_year_figure(
    table: pd.DataFrame, title: str = "Time from first palliative referral to death, by year of death"
) -> go.Figure:
    """Stacked bars per cohort and year (table: cohort, year, one column per band, decedents)."""
    body = table[table["year"] != "All"] if not table.empty else table
    if body.empty:
        return empty_figure(title, "No decedents in this period and scope.")
    x = [[cohort_label(c) for c in body["cohort"]], list(body["year"])]
    fig = go.Figure()
    for band in BANDS:
        fig.add_trace(_bar(x, list(body[band]), band))
    fig.update_layout(barmode="stack")
    fig = themed(fig, title, height=420)
    fig.update_yaxes(title="decedents")
    return fig
