"""Cumulative incidence of referral (M1) or conversation (M7) by cohort: step lines with 95% bands."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.theme import COHORT_COLORS, cohort_label, empty_figure, percent_text, themed


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def incidence_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """One step line per cohort over the shown grid points, with the interval as a shaded band.

    Hidden grid points (small numbers) break the line rather than being joined over.
    """
    shown = table[table["estimate"].notna()] if not table.empty else table
    if shown.empty:
        return empty_figure(title, "Too few patients in this period and scope to draw a curve.")
    fig = go.Figure()
    for key, rows in table.groupby("cohort", sort=False):
        cohort = str(key)
        color = COHORT_COLORS.get(cohort, "#444444")
        name = cohort_label(cohort)
        band = rows[rows["lower"].notna()]
        if not band.empty:
            fig.add_trace(
                go.Scatter(
                    x=band["day"],
                    y=band["upper"],
                    mode="lines",
                    line={"width": 0, "shape": "hv"},
                    showlegend=False,
                    hoverinfo="skip",
                    legendgroup=cohort,
                    name=f"{name} upper",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=band["day"],
                    y=band["lower"],
                    mode="lines",
                    line={"width": 0, "shape": "hv"},
                    fill="tonexty",
                    fillcolor=_rgba(color, 0.18),
                    showlegend=False,
                    hoverinfo="skip",
                    legendgroup=cohort,
                    name=f"{name} 95% interval",
                )
            )
        hover = [
            f"{name}<br>day {d}: {percent_text(e)}"
            + (f" (95% {percent_text(lo)}–{percent_text(hi)})" if pd.notna(lo) else "")
            for d, e, lo, hi in zip(rows["day"], rows["estimate"], rows["lower"], rows["upper"], strict=True)
        ]
        fig.add_trace(
            go.Scatter(
                x=rows["day"],
                y=rows["estimate"],
                mode="lines+markers",
                name=name,
                legendgroup=cohort,
                line={"color": color, "shape": "hv", "width": 2.5},
                marker={"size": 6},
                hovertext=hover,
                hoverinfo="text",
                connectgaps=False,
            )
        )
    fig = themed(fig, title, percent_axis=True)
    fig.update_xaxes(title="days after index diagnosis", dtick=30)
    fig.update_yaxes(title="cumulative incidence")
    return fig
