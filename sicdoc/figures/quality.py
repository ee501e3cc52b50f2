"""Data-quality panel: records with negative intervals, counted per cohort (never clipped)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from sicdoc.figures.theme import cohort_label, count_text, empty_figure, themed

FLAG_LABELS = {
    "referral_after_death": "Referral dated after death",
    "conversation_after_death": "Conversation dated after death",
    "consult_before_referral": "Consult dated before its referral",
    "diagnosis_after_death": "Diagnosis dated after death",
}


def quality_figure(
    table: pd.DataFrame, title: str = "Data quality: records with impossible dates"
) -> go.Figure:
    if table.empty:
        return empty_figure(title)
    cohorts = list(dict.fromkeys(table["cohort"]))
    flags = list(dict.fromkeys(table["flag"]))
    cell = {(r["cohort"], r["flag"]): count_text(r["records"]) for _, r in table.iterrows()}
    fig = go.Figure(
        go.Table(
            header={
                "values": ["Flag", *(cohort_label(c) for c in cohorts)],
                "fill_color": "#5B3A29",
                "font": {"color": "white"},
                "align": "left",
            },
            cells={
                "values": [
                    [FLAG_LABELS.get(f, f) for f in flags],
                    *([cell.get((c, f), "–") for f in flags] for c in cohorts),
                ],
                "align": "left",
                "height": 28,
            },
        )
    )
    return themed(fig, title)  # its height: every row (theme.fit_table)
