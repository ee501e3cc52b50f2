"""Period against period: the difference between the latest complete quarter and the same quarter a
year earlier, per cohort, with its 95% interval, around a line at no difference."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.theme import (
    COHORT_COLORS,
    cohort_label,
    count_text,
    empty_figure,
    is_number,
    percent_text,
    themed,
)


def _p_text(p: object) -> str:
    if not is_number(p):
        return ""
    return "p < 0.001" if float(p) < 0.001 else f"p = {float(p):.3f}"


def _summary(row: pd.Series) -> str:
    now = f"{row['period']}: {percent_text(row['rate'])} ({count_text(row['numerator'])}/{count_text(row['denominator'])})"
    then = (
        f"{row['comparison_period']}: {percent_text(row['comparison_rate'])} "
        f"({count_text(row['comparison_numerator'])}/{count_text(row['comparison_denominator'])})"
    )
    return f"{now}<br>{then}"


def period_comparison_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """One row per cohort: the difference in percentage points with its interval, or the note
    saying why there is none (no complete quarter, no data, suppressed)."""
    if table.empty:
        return empty_figure(title, "No cohort to compare in this scope.")
    fig = go.Figure()
    labels = [cohort_label(str(c)) for c in table["cohort"]]
    for label, (_, row) in zip(labels, table.iterrows(), strict=True):
        if is_number(row["difference"]):
            diff = float(row["difference"]) * 100
            lower, upper = float(row["difference_lower"]) * 100, float(row["difference_upper"]) * 100
            text = f"{diff:+.1f} points (95% CI {lower:+.1f} to {upper:+.1f}), {_p_text(row['p_value'])}"
            fig.add_trace(
                go.Scatter(
                    x=[diff],
                    y=[label],
                    mode="markers+text",
                    marker={"size": 11, "color": COHORT_COLORS.get(str(row["cohort"]), "#333333")},
                    error_x={
                        "type": "data",
                        "symmetric": False,
                        "array": [upper - diff],
                        "arrayminus": [diff - lower],
                    },
                    text=[text],
                    textposition="top center",
                    name=label,
                    showlegend=False,
                    hovertext=[
                        f"{label}<br>{_summary(row)}<br>difference {text}<br>"
                        f"{row['interval_method']} interval; {row['test']}"
                    ],
                    hoverinfo="text",
                )
            )
        else:
            fig.add_trace(
                go.Scatter(
                    x=[0], y=[label], mode="text", text=[str(row["note"])], showlegend=False, hoverinfo="skip"
                )
            )
    fig.add_vline(x=0, line={"color": "#555555", "width": 1})
    first = table.iloc[0]
    heading = title
    if first["period"] and first["comparison_period"]:
        heading += f" — {first['period']} against {first['comparison_period']}"
    fig = themed(fig, heading, height=120 + 70 * len(table))
    fig.update_xaxes(title="difference (percentage points), 95% interval", zeroline=False)
    fig.update_yaxes(autorange="reversed")
    return fig
