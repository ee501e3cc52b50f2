"""Referral-to-death bands among decedents: each band's share of decedents, by cohort and by year of
death.

Grouped bars, not stacked: every band starts at zero with its share written over it, so a small band
is as readable as a large one and compares across cohorts and years (a thin slice of a stack is
neither). Shares rather than counts, so a part year (the first or last year of the period, or a year
not yet over) compares with a whole year; its axis label names the months it covers. Counts are in
the hover and the CSV. A hidden count gets no bar, only its "<11"/"suppressed" label at zero.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sicdoc.figures.theme import (
    BAND_COLORS,
    BAND_LABELS,
    cohort_label,
    count_text,
    empty_figure,
    flag,
    is_number,
    percent_text,
    themed,
)

BANDS = tuple(BAND_LABELS)
SHARE_AXIS = "share of decedents"
ROW_PX = 280
# Every bar label the same readable size, even over a bar narrower than the label (on paper).
UNIFORM_TEXT = {"minsize": 10, "mode": "show"}


def _share(count: object, total: object) -> float | None:
    if is_number(count) and is_number(total) and total > 0:
        return float(count) / float(total)
    return None


def _hidden(count: object) -> str:
    """The label of a bar that has no share: "<11", "hidden" (complementary suppression) or "–"."""
    return "hidden" if count == "suppressed" else count_text(count)


def _bar(x: list[str], counts: list, totals: list, band: str, where: list[str]) -> go.Bar:
    shares = [_share(c, t) for c, t in zip(counts, totals, strict=True)]
    return go.Bar(
        x=x,
        y=[s if s is not None else 0 for s in shares],
        name=BAND_LABELS[band],
        marker_color=BAND_COLORS[band],
        legendgroup=band,
        text=[
            percent_text(s, 0) if s is not None else _hidden(c) for s, c in zip(shares, counts, strict=True)
        ],
        textposition="outside",
        cliponaxis=False,
        hovertext=[
            f"{w}<br>{BAND_LABELS[band]}: {count_text(c)} of {count_text(t)} decedents"
            + (f" ({percent_text(s)})" if s is not None else "")
            for w, c, t, s in zip(where, counts, totals, shares, strict=True)
        ],
        hoverinfo="text",
    )


def _share_axis(fig: go.Figure, **where: int) -> None:
    fig.update_yaxes(tickformat=".0%", range=[0, 1.12], dtick=0.25, title=SHARE_AXIS, **where)


def bands_figure(
    table: pd.DataFrame, title: str = "Time from first palliative referral to death"
) -> go.Figure:
    """Grouped bars, a group per cohort, of each band's share of decedents (table: cohort, band,
    decedents, with an "All" row per cohort)."""
    body = table[table["band"] != "All"] if not table.empty else table
    totals = table[table["band"] == "All"] if not table.empty else table
    if body.empty or not any(is_number(v) and v > 0 for v in totals["decedents"]):
        return empty_figure(title, "No decedents in this period and scope.")
    cohorts = list(dict.fromkeys(body["cohort"]))
    x = [cohort_label(c) for c in cohorts]
    total = totals.set_index("cohort")["decedents"]
    fig = go.Figure()
    for band in BANDS:
        rows = body[body["band"] == band].set_index("cohort")
        fig.add_trace(
            _bar(x, [rows["decedents"].get(c) for c in cohorts], [total.get(c) for c in cohorts], band, x)
        )
    fig.update_layout(barmode="group", bargroupgap=0.08, uniformtext=UNIFORM_TEXT)
    fig = themed(fig, title)
    _share_axis(fig)
    return fig


def year_label(year: str, months: object, part: object) -> str:
    """A year's axis label; a part year says which months it covers."""
    if flag(part):
        return f"{year}<br>part year ({months})"
    return str(year)


def bands_by_year_figure(
    table: pd.DataFrame, title: str = "Time from first palliative referral to death, by year of death"
) -> go.Figure:
    """One row of grouped bars per cohort, a group per year of death (table: cohort, year, one
    column per band, decedents, and optionally months and part_year)."""
    body = table[table["year"] != "All"] if not table.empty else table
    if body.empty:
        return empty_figure(title, "No decedents in this period and scope.")
    cohorts = list(dict.fromkeys(body["cohort"]))
    fig = make_subplots(
        rows=len(cohorts),
        cols=1,
        subplot_titles=[cohort_label(c) for c in cohorts],
        vertical_spacing=0.1,  # room for the year labels above the next cohort's title
    )
    for i, cohort in enumerate(cohorts, 1):
        rows = body[body["cohort"] == cohort]
        months = rows["months"] if "months" in rows else [None] * len(rows)
        parts = rows["part_year"] if "part_year" in rows else [None] * len(rows)
        x = [year_label(y, m, p) for y, m, p in zip(rows["year"], months, parts, strict=True)]
        where = [f"{cohort_label(cohort)}, {label.replace('<br>', ' ')}" for label in x]
        for band in BANDS:
            bar = _bar(x, list(rows[band]), list(rows["decedents"]), band, where)
            bar.showlegend = i == 1
            fig.add_trace(bar, row=i, col=1)
        _share_axis(fig, row=i, col=1)
        fig.update_xaxes(type="category", row=i, col=1)
    fig.update_layout(barmode="group", bargroupgap=0.08, uniformtext=UNIFORM_TEXT)
    return themed(fig, title, height=80 + ROW_PX * len(cohorts))
