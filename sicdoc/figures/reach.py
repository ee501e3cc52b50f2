"""The reach panel (M5): penetration by month (all admissions and each cohort; each unit), and the
median (IQR) hours from admission and from referral to the first palliative consult."""

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

ALL_COLOR = "#444444"
PERIOD = "period"


def _hover(rows: pd.DataFrame) -> list[str]:
    return [
        f"{m}: {percent_text(p)} ({count_text(k)} patients / {count_text(a)} admissions)"
        + ("" if c else " — month not complete")
        for m, p, k, a, c in zip(
            rows["month"],
            rows["penetration"],
            rows["consulted_patients"],
            rows["admissions"],
            rows["complete"],
            strict=True,
        )
    ]


def _lines(table: pd.DataFrame, breakdown: str, title: str) -> go.Figure:
    rows = table[(table["breakdown"] == breakdown) & (table["month"] != PERIOD)]
    if rows.empty:
        return empty_figure(title, "No admissions in this period and scope.")
    fig = go.Figure()
    for group, part in rows.groupby("group", sort=False):
        label = "All admissions" if group == "all" else cohort_label(str(group))
        colour = ALL_COLOR if group == "all" else COHORT_COLORS.get(str(group))
        values = [p if is_number(p) else None for p in part["penetration"]]
        # Months not complete yet (a stay still open) are drawn hollow: a consult may still come.
        symbols = ["circle" if c else "circle-open" for c in part["complete"]]
        fig.add_trace(
            go.Scatter(
                x=list(part["month"]),
                y=values,
                mode="lines+markers",
                name=label,
                line={"color": colour} if colour else {},
                marker={"symbol": symbols, "size": 7},
                text=_hover(part),
                hovertemplate="%{text}<extra>" + label + "</extra>",
                connectgaps=False,
            )
        )
    return themed(fig, title, percent_axis=True)


def _timeliness(table: pd.DataFrame, title: str) -> go.Figure:
    rows = table[(table["breakdown"] == "cohort") & (table["month"] == PERIOD)]
    if rows.empty:
        return empty_figure(title, "No admissions in this period and scope.")

    def cell(row: pd.Series, measure: str) -> str:
        median = row[f"{measure}_median_hours"]
        if not is_number(median):
            return "hidden (small numbers)" if row[f"{measure}_n"] not in (0, None) else "–"
        low, high = row[f"{measure}_q1_hours"], row[f"{measure}_q3_hours"]
        return f"{median:g} h (IQR {low:g}–{high:g}) of {count_text(row[f'{measure}_n'])}"

    labels = ["All admissions" if g == "all" else cohort_label(str(g)) for g in rows["group"]]
    fig = go.Figure(
        go.Table(
            header={
                "values": [
                    "Group",
                    "Penetration",
                    "Admission to first consult",
                    "Referral to consult",
                ],
                "fill_color": "#1F4E79",
                "font": {"color": "white", "size": 13},
                "align": "left",
            },
            cells={
                "values": [
                    labels,
                    [
                        f"{percent_text(p)} ({count_text(k)} / {count_text(a)})"
                        for p, k, a in zip(
                            rows["penetration"], rows["consulted_patients"], rows["admissions"], strict=True
                        )
                    ],
                    [cell(r, "admission_to_consult") for _, r in rows.iterrows()],
                    [cell(r, "referral_to_consult") for _, r in rows.iterrows()],
                ],
                "align": "left",
                "height": 28,
            },
        )
    )
    return themed(fig, title, height=80 + 30 * len(rows))


def reach_figures(table: pd.DataFrame, title: str) -> list[go.Figure]:
    """Penetration by month per cohort and per unit, and the hours to consult over the period."""
    return [
        _lines(table, "cohort", f"{title} — penetration by month of admission"),
        _lines(table, "unit", f"{title} — penetration by unit"),
        _timeliness(table, f"{title} — median hours to the first palliative consult"),
    ]
