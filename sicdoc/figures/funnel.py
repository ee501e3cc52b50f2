"""Funnel plots of units or clinicians: proportion against volume with 95% and 99.8% limits.

The limits are drawn around the overall proportion, exact binomial and widened for overdispersion
as the table says (``analytics.funnels``); the subtitle names the method and φ. A configured target
is a separate red line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.funnels import Dispersion, funnel_limits, level_name
from sicdoc.figures.theme import (
    MDC,
    empty_figure,
    is_number,
    legend_markers,
    note_hidden,
    percent_text,
    proportion_texts,
    themed,
)

LEVELS = ((0.95, "95% limits", "dash"), (0.998, "99.8% limits", "dot"))


def _number(rows: pd.DataFrame, column: str) -> float | None:
    value = rows[column].iloc[0] if column in rows and len(rows) else None
    return float(value) if is_number(value) else None


def dispersion_of(shown: pd.DataFrame) -> Dispersion:
    """The overdispersion allowance a funnel table records (φ from its shown units)."""
    method = str(shown["overdispersion"].iloc[0]) if "overdispersion" in shown else "none"
    phi, tau2 = _number(shown, "phi"), _number(shown, "tau2")
    return Dispersion(method, len(shown), float("nan") if phi is None else phi, tau2 or 0.0)


def funnel_figure(table: pd.DataFrame, title: str, *, group_label: str = "unit") -> go.Figure:
    """Dots for the shown groups (hidden ones are counted in a note), limits as smooth curves."""
    shown = table[table["rate"].map(is_number)] if not table.empty else table
    overall = _number(shown, "overall")
    if shown.empty or overall is None:
        return empty_figure(title, f"Too few cases per {group_label} in this period and scope to compare.")
    dispersion = dispersion_of(shown)
    n = shown["denominator"].astype(float)
    grid = np.unique(np.linspace(max(1.0, n.min() * 0.8), n.max() * 1.2, 120).round())
    levels = [level for level, _, _ in LEVELS]
    limits = funnel_limits(grid, overall, levels, dispersion)
    fig = go.Figure()
    for level, label, dash in LEVELS:
        name = level_name(level)
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
        y=overall,
        line={"color": "#333333", "width": 1.5},
        annotation_text=f"overall {percent_text(overall)}",
        annotation_position="top left",
    )
    target = _number(shown, "target")
    if target is not None:
        fig.add_hline(
            y=target,
            line={"color": MDC["target"], "dash": "dot", "width": 2},
            annotation_text=f"target {percent_text(target, 0)}",
            annotation_position="bottom right",
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
    # What the dot colours mean, for a reader of a printed chart (no data, legend only).
    legend_markers(fig, ((MDC["neutral"], "outside 95% limits"), (MDC["concern"], "outside 99.8% limits")))
    note_hidden(fig, len(table) - len(shown), f"{group_label}(s)")
    fig = themed(fig, f"{title}<br><sup>{dispersion.note(levels)}</sup>", percent_axis=True)
    fig.update_xaxes(title="cases (denominator)")
    return fig
