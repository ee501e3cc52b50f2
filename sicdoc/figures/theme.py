"""The shared look: colour-blind-safe palette, NHS "Making Data Count" colours, layout and hover text.

Hover and cell text is always built from the suppressed tables through ``count_text``, so a count
of 1-10 can only ever appear as "<11".
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable
from functools import cache
from numbers import Real
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from sicdoc.figures.look import BASE, BOTTOM_PX, LAYOUT

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COHORT_COLORS = {"stroke": "#0072B2", "heart_failure": "#D55E00", "cancer": "#009E73"}
COHORT_LABELS = {"stroke": "Stroke", "heart_failure": "Heart failure", "cancer": "Cancer"}
BAND_COLORS = {
    "never": "#999999",
    "0-7": "#D55E00",
    "8-30": "#E69F00",
    "31-90": "#56B4E9",
    "gt90": "#0072B2",
}
BAND_LABELS = {
    "never": "never referred",
    "0-7": "0-7 days",
    "8-30": "8-30 days",
    "31-90": "31-90 days",
    "gt90": "over 90 days",
}
# NHS England "Making Data Count" icon colours.
MDC = {
    "common": "#7B7D7D",
    "improvement": "#289DE0",
    "concern": "#FAB428",
    "neutral": "#361475",
    "target": "#DE1B1B",
    "limit": "#7B7D7D",
}
# What each point colour of a control chart means, by the measure's direction of improvement.
_DIRECTED = (
    ("common", "common cause"),
    ("improvement", "special cause: better"),
    ("concern", "special cause: worse"),
)
SPECIAL_CAUSE_KEY = {
    "increase": _DIRECTED,
    "decrease": _DIRECTED,
    "neutral": (("common", "common cause"), ("neutral", "special cause")),
}
SUPPRESSED_COLOR = "#BBBBBB"
EMPTY_MESSAGE = "No patients in this period and scope: nothing to chart."
# Titles wrap at this many characters: a 16 px line of it fits the narrowest chart the page draws
# (480 px on screen, about 680 px on A4 or Letter), so no title is ever cut at the chart's edge.
TITLE_CHARS = 56
TITLE_LINE_PX = 22


def cohort_label(cohort: str) -> str:
    return COHORT_LABELS.get(cohort, cohort)


def is_number(value: object) -> TypeGuard[float | np.integer[Any] | np.floating[Any]]:
    """A real number that is not NaN (numpy's numbers included, booleans not)."""
    return isinstance(value, Real) and not isinstance(value, bool) and not math.isnan(value)


def flag(value: object) -> bool:
    """A rule flag that fired (True or numpy True; None and NaN are "not computed")."""
    return isinstance(value, bool | np.bool_) and bool(value)


def count_text(value: object) -> str:
    """A suppressed count for display: the number, "<11", "suppressed", or an en dash when absent."""
    if isinstance(value, str):
        return value
    if is_number(value):
        return f"{int(value):,}"
    return "–"


def percent_text(value: object, digits: int = 1) -> str:
    return f"{float(value) * 100:.{digits}f}%" if is_number(value) else "hidden"


def proportion_texts(rows: pd.DataFrame) -> list[tuple[object, str, str, str]]:
    """Each row's group, rate, numerator and denominator as display text (for hovers)."""
    columns = (rows["group"], rows["rate"], rows["numerator"], rows["denominator"])
    return [(g, percent_text(r), count_text(k), count_text(d)) for g, r, k, d in zip(*columns, strict=True)]


def legend_markers(fig: go.Figure, entries: Iterable[tuple[str, str]]) -> go.Figure:
    """Legend-only entries (colour, label) that say what point colours mean, so a reader of a printed
    chart needs no hover. Marked by ``meta`` rather than a legend group, which would stack them."""
    for colour, label in entries:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                meta="colour-key",
                marker={"color": colour, "size": 9, "line": {"color": "white", "width": 1}},
                hoverinfo="skip",
            )
        )
    return fig


def note_hidden(fig: go.Figure, hidden: int, what: str, y: float = -0.18) -> go.Figure:
    """Say under the plot how many groups small-cell suppression left out (nothing when none)."""
    if hidden:
        fig.add_annotation(
            text=f"{hidden} {what} not shown: small numbers (<11)",
            x=1,
            y=y,
            xref="paper",
            yref="paper",
            showarrow=False,
            xanchor="right",
            font={"size": 11},
        )
    return fig


def colour_key(fig: go.Figure, improvement: str) -> go.Figure:
    """The special-cause colours of a control chart, as legend entries."""
    key = SPECIAL_CAUSE_KEY.get(improvement, SPECIAL_CAUSE_KEY["neutral"])
    return legend_markers(fig, ((MDC[colour], label) for colour, label in key))


def wrap_title(text: str, width: int = TITLE_CHARS) -> str:
    """``text`` broken into lines of at most ``width`` characters (at spaces; a longer word keeps a
    line to itself), joined with plotly's ``<br>``: every word of the title stays visible. A line
    that is all ``<sup>`` (a subtitle, drawn smaller) wraps wider and keeps its tags on each line."""
    lines: list[str] = []
    for part in text.split("<br>"):
        small = part.startswith("<sup>") and part.endswith("</sup>") and part.count("<sup>") == 1
        inner = part[5:-6] if small else part
        wrapped = textwrap.wrap(
            inner, width * 10 // 7 if small else width, break_long_words=False, break_on_hyphens=False
        )
        lines.extend(f"<sup>{line}</sup>" if small else line for line in wrapped or [""])
    return "<br>".join(lines)


def title_lines(fig: go.Figure) -> list[str]:
    """The lines of a figure's title as drawn."""
    return (fig.layout.title.text or "").split("<br>")


def themed(fig: go.Figure, title: str, *, height: int = 380, percent_axis: bool = False) -> go.Figure:
    """A figure's own title (wrapped, with the top margin sized to its lines) and its height (grown
    by the extra title lines, so the plot area keeps its size; a table's from its rows); the rest
    of the look, the legend under the plot included, is the shared ``template``."""
    text = wrap_title(title)
    breaks = text.count("<br>")
    # plotly sets a title of several lines higher the more lines it has: the padding makes up for
    # it, so the first line is never cut at the top.
    pad = 24 + 6 * breaks
    extra = TITLE_LINE_PX * breaks + 6 * breaks
    fig.update_layout(
        title={
            "text": text,
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": pad},
            "font": {"size": 16},
        },
        template=None,  # not plotly's default either: the page supplies the shared template
        height=height + extra + BOTTOM_PX - 50,
        margin={"t": 48 + extra + TITLE_LINE_PX // 2},
    )
    if percent_axis:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    if fig.data and fig.data[0].type == "table":
        fit_table(fig)
    return fig


# A table is laid out a little narrower than the narrowest width it is drawn at (680 px on paper),
# with 13 px text of about 7.5 px a character, so its rows never need more room than this gives;
# the page then shortens the figure to the rows it drew (static/js/dashboards.js).
TABLE_PX = 600
CHAR_PX = 7.5
ROW_LINE_PX = 19
ROW_PAD_PX = 10


def table_rows_px(columns: list[list[str]], widths: list[float], width_px: int = TABLE_PX) -> list[int]:
    """Each row's height when its longest cell wraps in its column (at least plotly's 28 px)."""
    total = sum(widths)
    chars = [max(4, int((width_px * w / total - 2 * ROW_PAD_PX) / CHAR_PX)) for w in widths]
    rows = []
    for cells in zip(*columns, strict=True):
        lines = max(
            len(textwrap.wrap(str(text), n, break_long_words=True) or [""])
            for text, n in zip(cells, chars, strict=True)
        )
        rows.append(max(28, ROW_PAD_PX + ROW_LINE_PX * lines))
    return rows


def fit_table(fig: go.Figure) -> go.Figure:
    """Size a table figure to hold every row (header included) so nothing scrolls inside it: a
    scrolled table loses its last rows on paper. The page shortens it to its rows once drawn."""
    table = fig.data[0]
    columns = [[str(v) for v in column] for column in table.cells.values or []]
    if not columns:
        return fig
    widths = list(table.columnwidth) if table.columnwidth is not None else [1] * len(columns)
    header = table_rows_px([[str(h)] for h in table.header.values or [""] * len(columns)], widths)[0]
    body = sum(table_rows_px(columns, widths))
    fig.update_layout(height=fig.layout.margin.t + header + body + 30, margin={"b": 20, "l": 10, "r": 10})
    return fig


@cache
def template() -> go.layout.Template:
    """The shared look (``look.LAYOUT`` over plotly's white theme) as plotly's template object.
    Applied where a figure is drawn rather than stored in each one: setting a template on a figure
    costs milliseconds of validation and adds ~8 KB to its JSON."""
    look = go.layout.Template(pio.templates[BASE])
    look.layout.update(LAYOUT)
    return look


def with_template(fig: go.Figure) -> go.Figure:
    """A copy of ``fig`` that carries the shared template itself (for files that must draw alone)."""
    return go.Figure(fig).update_layout(template=template())


def empty_figure(title: str, message: str = EMPTY_MESSAGE) -> go.Figure:
    """An empty chart that says why it is empty (an empty period is not an error)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 14, "color": "#555555"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return themed(fig, title, height=220)
