"""Funnel plots of units or clinicians: proportion against volume with 95% and 99.8% limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.spc import funnel_limits
from sicdoc.figures.theme import (
    MDC,
    empty_figure,
    is_number,
    percent_text,
    proportion_texts,
    themed,
)

LEVELS = ((0.95, "95% limits", "dash"), (0.998, "99.8% limits", "dot"))


def funnel_figure(table: pd.DataFrame, title: str, *, group_label: str = "unit") -> go.Figure:
    """Dots for the shown groups (hidden ones are counted in a note), limits as smooth curves."""
    shown = table[table["rate"].map(is_number)] if not table.empty else table
    if shown.empty or not is_number(shown["target"].iloc[0]):
        return empty_figure(title, f"Too few cases per {group_label} in this period and scope to compare.")
    target = float(shown["target"].iloc[0])
    n = shown["denominator"].astype(float)
    grid = np.unique(np.linspace(max(1.0, n.min() * 0.8), n.max() * 1.2, 120).round())
    limits = funnel_limits(grid, target, [level for level, _, _ in LEVELS])
    fig = go.Figure()
    for level, label, dash in LEVELS:
        name = f"{level * 100:g}"
        for side in ("upper", "lower"):
            fig.add_trace(
                go.Scatter(
                    x=grid,
                    y=limits[f"{side}_{name}"],
                    mode="lines",
                    name=label,
                    line={"color": MDC["limit"], "dash": dash, "width": 1.5},
                    showlegend=side == "upper",
                    hoverinfo="skip",
                    legendgroup=name,
                )
            )
    fig.add_hline(
        y=target,
        line={"color": "#333333", "width": 1.5},
        annotation_text=f"overall {percent_text(target)}",
        annotation_position="top left",
    )
    outside = shown.get("outside_99.8", pd.Series(False, index=shown.index)).fillna(False).astype(bool)
    alert = shown.get("outside_95", pd.Series(False, index=shown.index)).fillna(False).astype(bool)
    colors = [
        MDC["concern"] if o else (MDC["neutral"] if a else MDC["common"])
        for o, a in zip(outside, alert, strict=True)
    ]
    hover = [f"{g}<br>{r}: {k} of {d}" for g, r, k, d in proportion_texts(shown)]
    fig.add_trace(
        go.Scatter(
            x=n,
            y=shown["rate"].astype(float),
            mode="markers",
            name=group_label + "s",
            marker={"color": colors, "size": 11, "line": {"color": "white", "width": 1}},
            hovertext=hover,
            hoverinfo="text",
        )
    )
    hidden = len(table) - len(shown)
    if hidden:
        fig.add_annotation(
            text=f"{hidden} {group_label}(s) not shown: small numbers (<11)",
            x=1,
            y=-0.18,
            xref="paper",
            yref="paper",
            showarrow=False,
            xanchor="right",
            font={"size": 11},
        )
    fig = themed(fig, title, percent_axis=True)
    fig.update_xaxes(title="cases (denominator)")
    return fig
