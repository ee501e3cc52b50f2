"""Monthly control and run charts: p-chart or XmR with limits and MDC special-cause points, or a run
chart around the median with the Anhøj verdict when there are too few points for limits.

Suppressed months get no point and no limits, only a tick on the axis saying they are hidden.
Months whose window is not complete are drawn as hollow grey points, "window not complete", with
no rule colour: the limits and the rules leave them out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.phases import Phase, chart_notes, period_start
from sicdoc.figures.theme import (
    MDC,
    SUPPRESSED_COLOR,
    cohort_label,
    colour_key,
    count_text,
    empty_figure,
    flag,
    is_number,
    percent_text,
    themed,
    wrap_title,
)

CHART_NAMES = {"p": "p-chart", "xmr": "XmR chart", "run": "run chart"}
INCOMPLETE_NAME = "window not complete"
INCOMPLETE_COLOR = "#A6A6A6"


def _complete(rows: pd.DataFrame) -> pd.Series:
    """The ``complete`` flag of each row; tables without it count every month as complete."""
    if "complete" not in rows:
        return pd.Series(True, index=rows.index)
    return rows["complete"].astype(object).fillna(True).astype(bool)


def _point_colors(rows: pd.DataFrame, value: str, improvement: str) -> list[str]:
    colors = []
    for _, row in rows.iterrows():
        if not flag(row.get("special_cause")):
            colors.append(MDC["common"])
        elif improvement == "neutral":
            colors.append(MDC["neutral"])
        else:
            higher = row[value] > row["cl"]
            good = higher if improvement == "increase" else not higher
            colors.append(MDC["improvement"] if good else MDC["concern"])
    return colors


def _period_key(rows: pd.DataFrame) -> str:
    """The table's period column: "month" ("YYYY-MM") or "quarter" ("YYYY-Qn")."""
    return "quarter" if "quarter" in rows.columns else "month"


def _hover(row: pd.Series, value: str, percent: bool, counts: tuple[str, ...]) -> str:
    shown = percent_text(row[value]) if percent else f"{row[value]:g} days"
    period = row["quarter"] if "quarter" in row.index else row["month"]
    parts = [f"{period}: {shown}"] + [f"{c.replace('_', ' ')}: {count_text(row[c])}" for c in counts]
    if flag(row.get("special_cause")):
        rules = [r for r in ("outside", "shift", "trend", "two_of_three") if flag(row.get(r))]
        parts.append("special cause: " + ", ".join(r.replace("_", " ") for r in rules))
    return "<br>".join(parts)


def _phased(rows: pd.DataFrame, column: str) -> tuple[list, list]:
    """x and y of a centre or limit line, broken between phases (each phase has its own)."""
    xs: list = []
    ys: list = []
    phases = rows["phase"] if "phase" in rows.columns else pd.Series("", index=rows.index)
    previous = None
    for x, y, phase in zip(rows["x"], rows[column], phases, strict=True):
        if previous is not None and phase != previous:
            xs.append(None)
            ys.append(None)
        xs.append(x)
        ys.append(y if is_number(y) else None)
        previous = phase
    return xs, ys


def _mark_phases(fig: go.Figure, rows: pd.DataFrame, phases: Sequence[Phase]) -> None:
    """A vertical line, labelled, at each phase start within the periods shown."""
    first, last = rows["x"].min(), rows["x"].max()
    for phase in phases:
        start = pd.Timestamp(phase.start)
        if first < start <= last:
            fig.add_vline(x=start, line={"color": "#555555", "dash": "dot", "width": 1.5})
            fig.add_annotation(
                x=start,
                y=1,
                yref="paper",
                text=phase.label,
                showarrow=False,
                xanchor="left",
                yanchor="bottom",
                font={"size": 12, "color": "#333333"},
            )


def _add_notes(fig: go.Figure, notes: Sequence[str]) -> None:
    if notes:
        fig.add_annotation(
            x=0,
            y=1,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="top",
            align="left",
            showarrow=False,
            text="<br>".join(wrap_title(n, 90) for n in notes),
            font={"size": 11, "color": "#555555"},
            bgcolor="rgba(255,255,255,0.85)",
        )


def _line(x: pd.Series | list, y: pd.Series | list, name: str, dash: str, color: str) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        name=name,
        line={"dash": dash, "color": color, "width": 1.5, "shape": "hvh"},
        hoverinfo="skip",
    )


def control_figure(
    rows: pd.DataFrame,
    title: str,
    *,
    value: str = "rate",
    counts: tuple[str, ...] = ("numerator", "denominator"),
    target: float | None = None,
    improvement: str = "increase",
    percent: bool = True,
    phases: Sequence[Phase] = (),
) -> go.Figure:
    """One cohort's monthly (or quarterly) chart from a ``monthly_table`` or ``interval_table``
    slice, with a labelled line at each phase start and a note for phases outside the periods shown."""
    if rows.empty:
        return empty_figure(title, "No months with data in this period and scope.")
    key = _period_key(rows)
    rows = rows.assign(x=[pd.Timestamp(period_start(p)) for p in rows[key]])
    numbers = rows[value].map(is_number)
    complete = _complete(rows).astype(bool)
    shown = rows[numbers & complete]
    incomplete = rows[numbers & ~complete]
    hidden = rows[~numbers]
    cohort = cohort_label(str(rows["cohort"].iloc[0]))
    charts = list(dict.fromkeys(str(c) for c in shown["chart"])) if not shown.empty else ["run"]
    # "run" only when no phase has limits; the first chart with limits otherwise.
    chart = next((c for c in charts if c != "run"), "run")
    heading = f"{title} — {cohort}: " + ", then ".join(CHART_NAMES.get(c, c) for c in charts)
    fig = go.Figure()
    if not shown.empty:
        fig.add_trace(
            go.Scatter(
                x=shown["x"],
                y=shown[value],
                mode="lines",
                name=f"{key}ly value",
                line={"color": "#AAAAAA", "width": 1},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            _line(*_phased(shown, "cl"), "median" if chart == "run" else "centre line", "solid", "#333333")
        )
        if chart != "run":
            fig.add_trace(_line(*_phased(shown, "ucl"), "control limits (3σ)", "dash", MDC["limit"]))
            fig.add_trace(_line(*_phased(shown, "lcl"), "lower limit", "dash", MDC["limit"]))
            fig.data[-1].showlegend = False
        if "run" in charts:
            signal = any(flag(v) for v in shown.loc[shown["chart"] == "run", "run_signal"])
            verdict = "non-random variation (Anhøj rules)" if signal else "no signal (Anhøj rules)"
            heading += f" — {verdict}"
        fig.add_trace(
            go.Scatter(
                x=shown["x"],
                y=shown[value],
                mode="markers",
                name=key,
                marker={
                    "color": _point_colors(shown, value, improvement) if chart != "run" else MDC["common"],
                    "size": 9,
                    "line": {"color": "white", "width": 1},
                },
                hovertext=[_hover(r, value, percent, counts) for _, r in shown.iterrows()],
                hoverinfo="text",
                showlegend=chart == "run",  # a p-chart or XmR names its colours in the colour key
            )
        )
        if chart != "run":
            colour_key(fig, improvement)
    if not incomplete.empty:
        fig.add_trace(
            go.Scatter(
                x=incomplete["x"],
                y=incomplete[value],
                mode="markers",
                name=INCOMPLETE_NAME,
                marker={"symbol": "circle-open", "size": 9, "color": INCOMPLETE_COLOR, "line": {"width": 2}},
                hovertext=[
                    _hover(r, value, percent, counts) + f"<br>{INCOMPLETE_NAME}: not in the limits or rules"
                    for _, r in incomplete.iterrows()
                ],
                hoverinfo="text",
            )
        )
    if not hidden.empty:
        fig.add_trace(
            go.Scatter(
                x=hidden["x"],
                y=[0] * len(hidden),
                mode="markers",
                name="suppressed (<11)",
                marker={"symbol": "line-ns-open", "size": 12, "color": SUPPRESSED_COLOR},
                hovertext=[f"{m}: suppressed (<11)" for m in hidden[key]],
                hoverinfo="text",
            )
        )
    if target is not None:
        fig.add_hline(
            y=target,
            line={"color": MDC["target"], "dash": "dot", "width": 2},
            annotation_text=f"target {percent_text(target, 0) if percent else target}",
            annotation_position="top left",
        )
    _mark_phases(fig, rows, phases)
    _add_notes(fig, chart_notes(rows, phases))
    fig = themed(fig, heading, percent_axis=percent)
    if not percent:
        fig.update_yaxes(title="median days", rangemode="tozero")
    fig.update_xaxes(dtick="M3", tickformat="%b %Y")
    return fig
