"""The "Goals and care" charts: end-of-life indicators with their intervals, the concordance table,
documentation quality over time and by department, and the six-months measure by department and unit.

Shares with 95% Wilson intervals are drawn as points (or bars) with whiskers; a share whose counts
are hidden gets no point, and a note under the chart says how many are not shown. Counts are in
the hover and the CSV, always through ``count_text`` (a hidden count is "<11" or "suppressed").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.phases import Phase
from sicdoc.figures.bands import year_label
from sicdoc.figures.control import control_figure
from sicdoc.figures.funnel import funnel_figure
from sicdoc.figures.theme import (
    cohort_label,
    count_text,
    empty_figure,
    is_number,
    note_hidden,
    percent_text,
    themed,
)

ALL = "All"
EVERYONE = "all"
EVERYONE_LABEL = "All patients"
ALL_COLOR = "#333333"
# Okabe-Ito, in an order where neighbouring years differ most.
YEAR_COLORS = ("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#0072B2", "#D55E00", "#F0E442")
ROW_PX = 46


def _interval_text(row: Mapping[str, Any] | pd.Series) -> str:
    if not is_number(row["rate"]):
        return "hidden (small numbers)"
    low, high = row["lower"], row["upper"]
    ci = f" (95% CI {percent_text(low)}–{percent_text(high)})" if is_number(low) and is_number(high) else ""
    return f"{percent_text(row['rate'])}{ci}"


def _whiskers(rows: pd.DataFrame) -> tuple[list[float | None], list[float | None]]:
    """Distances from each shown share up to its upper and down to its lower limit."""
    up, down = [], []
    for rate, low, high in zip(rows["rate"], rows["lower"], rows["upper"], strict=True):
        ok = is_number(rate) and is_number(low) and is_number(high)
        up.append(float(high) - float(rate) if ok else None)
        down.append(float(rate) - float(low) if ok else None)
    return up, down


def _share_axis(fig: go.Figure) -> None:
    fig.update_xaxes(tickformat=".0%", range=[0, 1.02], title="share (95% Wilson interval)")


def _year_name(rows: pd.DataFrame, year: str) -> str:
    if year == ALL:
        return "whole period"
    first = rows.iloc[0]
    return year_label(year, first.get("months"), first.get("part_year")).replace("<br>", " ")


def eol_indicator_figures(table: pd.DataFrame, title: str) -> list[go.Figure]:
    """One chart per cohort: each indicator's share by year of death (and for the whole period) with
    its interval, indicators down the side."""
    if table.empty:
        return [empty_figure(title, "No decedents in this period and scope.")]
    out = []
    for cohort, part in table.groupby("cohort", sort=False):
        labels = list(dict.fromkeys(part["label"]))
        fig = go.Figure()
        years = list(dict.fromkeys(part["year"]))
        for i, year in enumerate(years):
            rows = part[part["year"] == year]
            name = _year_name(rows, str(year))
            shown = rows[rows["rate"].map(is_number)]
            up, down = _whiskers(shown)
            colour = ALL_COLOR if year == ALL else YEAR_COLORS[i % len(YEAR_COLORS)]
            fig.add_trace(
                go.Scatter(
                    x=shown["rate"].astype(float),
                    y=shown["label"],
                    mode="markers",
                    name=name,
                    marker={
                        "color": colour,
                        "size": 11 if year == ALL else 8,
                        "symbol": "diamond" if year == ALL else "circle",
                    },
                    error_x={"type": "data", "array": up, "arrayminus": down, "color": colour, "width": 3},
                    hovertext=[
                        f"{r['label']}<br>{name}: {_interval_text(r)}<br>"
                        f"{count_text(r['numerator'])} of {count_text(r['denominator'])}"
                        for _, r in shown.iterrows()
                    ],
                    hoverinfo="text",
                )
            )
        fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(labels)), automargin=True)
        note_hidden(fig, int((~part["rate"].map(is_number)).sum()), "estimate(s)", y=-0.16)
        fig = themed(fig, f"{title} — {cohort_label(str(cohort))}", height=120 + ROW_PX * len(labels))
        _share_axis(fig)
        out.append(fig)
    return out


def concordance_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """The concordance table: per cohort, each count, what it is a share of, and the share."""
    if table.empty:
        return empty_figure(title, "No decedents in this period and scope.")
    shares = [
        _interval_text({"rate": r["share"], "lower": r["lower"], "upper": r["upper"]})
        if r["denominator_measure"]
        else ""
        for _, r in table.iterrows()
    ]
    fig = go.Figure(
        go.Table(
            columnwidth=[1.1, 3.2, 0.9, 1.9],
            header={
                "values": ["Cohort", "Decedents whose…", "Count", "Share (95% CI)"],
                "fill_color": "#1F4E79",
                "font": {"color": "white", "size": 13},
                "align": "left",
            },
            cells={
                "values": [
                    [cohort_label(str(c)) for c in table["cohort"]],
                    list(table["label"]),
                    [count_text(c) for c in table["count"]],
                    shares,
                ],
                "align": "left",
                "height": 28,
            },
        )
    )
    return themed(fig, title)  # its height: every row (theme.fit_table)


def documentation_figures(
    table: pd.DataFrame, title: str, *, phases: Sequence[Phase] = (), target: float | None = None
) -> list[go.Figure]:
    """A p-chart (or run chart) per group: every patient's conversations first, then each cohort's."""
    if table.empty:
        return [empty_figure(title, "No completed conversations in this period and scope.")]
    out = []
    for group, rows in table.groupby("cohort", sort=False):
        named = rows.assign(cohort=EVERYONE_LABEL if group == EVERYONE else str(group))
        out.append(control_figure(named, title, target=target, improvement="increase", phases=phases))
    return out


def documentation_funnel_figure(table: pd.DataFrame, title: str) -> go.Figure:
    return funnel_figure(table, title, group_label="department")


def _bars(rows: pd.DataFrame, title: str, what: str) -> go.Figure:
    body = rows[rows["group"] != ALL]
    if body.empty:
        return empty_figure(title, "No decedents in this period and scope.")
    shown = body[body["rate"].map(is_number)]
    up, down = _whiskers(shown)
    fig = go.Figure(
        go.Bar(
            x=shown["rate"].astype(float),
            y=shown["group"],
            orientation="h",
            marker_color="#0072B2",
            error_x={"type": "data", "array": up, "arrayminus": down, "color": "#333333"},
            text=[percent_text(r, 0) for r in shown["rate"]],
            textposition="inside",
            hovertext=[
                f"{r['group']}: {_interval_text(r)}<br>"
                f"{count_text(r['numerator'])} of {count_text(r['denominator'])} decedents"
                for _, r in shown.iterrows()
            ],
            hoverinfo="text",
            name=what,
        )
    )
    total = rows[rows["group"] == ALL]
    if not total.empty and is_number(total["rate"].iloc[0]):
        overall = float(total["rate"].iloc[0])
        fig.add_vline(
            x=overall,
            line={"color": "#333333", "dash": "dot", "width": 1.5},
            annotation_text=f"all decedents {percent_text(overall)}",
            annotation_position="top left",
        )
    fig.update_yaxes(
        categoryorder="array", categoryarray=list(reversed(list(shown["group"]))), automargin=True
    )
    note_hidden(fig, len(body) - len(shown), f"{what}(s)", y=-0.16)
    fig = themed(fig, title, height=120 + 36 * max(len(shown), 2))
    _share_axis(fig)
    return fig


def sic_by_department_figures(table: pd.DataFrame, title: str) -> list[go.Figure]:
    """Bars with intervals: by the department of the last conversation's clinician, and by unit."""
    if table.empty:
        return [empty_figure(title, "No decedents in this period and scope.")]
    return [
        _bars(table[table["breakdown"] == "department"], f"{title} — by department", "department"),
        _bars(table[table["breakdown"] == "unit"], f"{title} — by unit", "unit"),
    ]
