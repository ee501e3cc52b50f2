"""The shared look: colour-blind-safe palette, NHS "Making Data Count" colours, layout and hover text.

Hover and cell text is always built from the suppressed tables through ``count_text``, so a count
of 1-10 can only ever appear as "<11".
"""

from __future__ import annotations

import math
from functools import cache
from numbers import Real
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

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
SUPPRESSED_COLOR = "#BBBBBB"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
EMPTY_MESSAGE = "No patients in this period and scope: nothing to chart."


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


def themed(fig: go.Figure, title: str, *, height: int = 380, percent_axis: bool = False) -> go.Figure:
    """A figure's own title and height; the rest of the look is the shared ``template``."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 16}},
        template=None,  # not plotly's default either: the page supplies the shared template
        height=height,
    )
    if percent_axis:
        fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


@cache
def template() -> go.layout.Template:
    """The shared look: plotly's white theme with readable fonts, the legend on top and one set of
    margins. Applied where a figure is drawn rather than stored in each one: setting a template on
    a figure costs milliseconds of validation and adds ~8 KB to its JSON."""
    look = go.layout.Template(pio.templates["simple_white"])
    look.layout.update(
        font={"family": FONT, "size": 13, "color": "#222222"},
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "xanchor": "left"},
        hoverlabel={"font": {"family": FONT}},
    )
    return look


@cache
def template_json() -> str:
    """``template()`` as plotly JSON, sent once with a page of figures."""
    return pio.json.to_json_plotly(template().to_plotly_json())


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
