"""Equity strata: the same proportion by race, ethnicity, language, sex and age band, per cohort."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sicdoc.figures.theme import (
    COHORT_COLORS,
    cohort_label,
    empty_figure,
    is_number,
    proportion_texts,
    themed,
)

STRATUM_LABELS = {
    "race": "Race",
    "ethnicity": "Ethnicity",
    "language": "Preferred language",
    "sex": "Sex",
    "age_band": "Age band",
}


def strata_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Horizontal bars per group, one panel per stratum, one colour per cohort; hidden groups are
    listed with a "<11"/"suppressed" hover and no bar."""
    if table.empty:
        return empty_figure(title)
    strata = list(dict.fromkeys(table["stratum"]))
    fig = make_subplots(
        rows=len(strata),
        cols=1,
        subplot_titles=[STRATUM_LABELS.get(s, s) for s in strata],
        vertical_spacing=0.08,  # room for the axis labels above the next stratum's title, also on paper
    )
    for i, stratum in enumerate(strata, 1):
        part = table[table["stratum"] == stratum]
        for cohort, rows in part.groupby("cohort", sort=False):
            hover = [
                f"{cohort_label(cohort)}, {g}: {r}<br>numerator: {k}<br>denominator: {d}"
                for g, r, k, d in proportion_texts(rows)
            ]
            fig.add_trace(
                go.Bar(
                    y=rows["group"],
                    x=[r if is_number(r) else None for r in rows["rate"]],
                    orientation="h",
                    name=cohort_label(cohort),
                    marker_color=COHORT_COLORS.get(cohort, "#444444"),
                    legendgroup=cohort,
                    showlegend=i == 1,
                    hovertext=hover,
                    hoverinfo="text",
                ),
                row=i,
                col=1,
            )
        fig.update_xaxes(tickformat=".0%", range=[0, 1], row=i, col=1)
    fig.update_layout(barmode="group")
    rows_total = sum(table[table["stratum"] == s]["group"].nunique() for s in strata)
    return themed(
        fig, title, height=160 + 22 * rows_total * max(1, table["cohort"].nunique()) // 2 + 60 * len(strata)
    )
