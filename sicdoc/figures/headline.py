"""Overview cards: the headline figures of each cohort with their 95% intervals, as a table."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.theme import cohort_label, count_text, empty_figure, is_number, percent_text, themed

COUNT_MEASURES = frozenset({"index_patients", "decedents"})
DAY_MEASURES = frozenset({"median_days_referral_to_death", "median_days_index_to_referral"})
# Medians in hours with their quartiles in lower/upper and n in denominator (M5).
HOUR_MEASURES = frozenset({"admission_to_consult_hours", "referral_to_consult_hours"})


def hours_cell(row: pd.Series) -> str:
    """ "18.5 h (IQR 6–30.2) of 120"; "hidden" when the median is."""
    if not is_number(row["value"]):
        return "hidden (small numbers)" if row["denominator"] not in (0, None) else "–"
    text = f"{row['value']:g} h"
    if is_number(row["lower"]) and is_number(row["upper"]):
        text += f" (IQR {row['lower']:g}–{row['upper']:g})"
    return text + f" of {count_text(row['denominator'])}"


def headline_cell(row: pd.Series) -> str:
    """One cell: a count, a median in days, or a percentage with its interval and denominator."""
    if row["measure"] in COUNT_MEASURES:
        return count_text(row["value"])
    if row["measure"] in HOUR_MEASURES:
        return hours_cell(row)
    if row["measure"] in DAY_MEASURES:
        return f"{row['value']:g} days" if is_number(row["value"]) else "hidden"
    if not is_number(row["value"]):
        return "hidden (small numbers)"
    text = percent_text(row["value"])
    if is_number(row["lower"]) and is_number(row["upper"]):
        text += f" ({percent_text(max(row['lower'], 0.0))}–{percent_text(min(row['upper'], 1.0))})"
    if row["denominator"] is not None and not (
        isinstance(row["denominator"], float) and pd.isna(row["denominator"])
    ):
        text += f" of {count_text(row['denominator'])}"
    return text


def headline_figure(table: pd.DataFrame, title: str = "Headline figures (95% intervals)") -> go.Figure:
    """A table: one row per measure, one column per cohort."""
    if table.empty:
        return empty_figure(title)
    cohorts = list(dict.fromkeys(table["cohort"]))
    measures = list(dict.fromkeys(table["measure"]))
    labels = table.drop_duplicates("measure").set_index("measure")["label"]
    cells = {c: {m: "–" for m in measures} for c in cohorts}
    for _, row in table.iterrows():
        cells[row["cohort"]][row["measure"]] = headline_cell(row)
    fig = go.Figure(
        go.Table(
            columnwidth=[3] + [2] * len(cohorts),
            header={
                "values": ["Measure", *(cohort_label(c) for c in cohorts)],
                "fill_color": "#1F4E79",
                "font": {"color": "white", "size": 13},
                "align": "left",
            },
            cells={
                "values": [
                    [labels[m] for m in measures],
                    *([cells[c][m] for m in measures] for c in cohorts),
                ],
                "align": "left",
                "fill_color": [["#F5F7FA", "white"] * len(measures)],
                "height": 28,
            },
        )
    )
    return themed(fig, title)  # its height: every row (theme.fit_table)
