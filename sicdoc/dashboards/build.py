"""Build a dashboard for one scope: the suppressed table and the figures of every panel.

Tables come from ``sicdoc.analytics.panels``, figures from ``sicdoc.figures``; nothing here knows
about the web or the database, so the app, the CLI export and the benchmark share one path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.panels import PanelContext, panel_table
from sicdoc.analytics.panels.monthly import PHASE_COLUMN
from sicdoc.analytics.phases import panel_notes, quarter_of_day
from sicdoc.analytics.scope import Scope
from sicdoc.dashboards.definitions import Dashboard

if TYPE_CHECKING:
    import plotly.graph_objects as go


@dataclass(frozen=True)
class BuiltPanel:
    spec: dict
    table: pd.DataFrame
    figures: tuple[go.Figure, ...]
    # Serialised once when built: a cached dashboard is then served without touching plotly.
    figure_json: tuple[str, ...] = ()
    # Sentences the page shows above the charts (a phase outside the periods shown, no data).
    notes: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, spec: dict, table: pd.DataFrame, figures: list[go.Figure], notes: Sequence[str] = ()
    ) -> BuiltPanel:
        return cls(spec, table, tuple(figures), tuple(fig.to_json() for fig in figures), tuple(notes))


@dataclass(frozen=True)
class BuiltDashboard:
    board: Dashboard
    scope: Scope
    panels: tuple[BuiltPanel, ...]
    report: dict

    def panel(self, panel_id: str) -> BuiltPanel | None:
        return next((p for p in self.panels if p.spec["id"] == panel_id), None)

    @property
    def empty(self) -> bool:
        """Nobody in any measure: the page explains instead of drawing blank axes silently."""
        return all(m["index_patients"] == 0 and m["decedents"] == 0 for m in self.report["cohorts"].values())


def build_tables(
    frames: Frames,
    scope: Scope,
    board: Dashboard,
    value_set_version: str,
    clinicians: ClinicianLabels | None = None,
    departments: Mapping[str, str] | None = None,
) -> tuple[dict, dict]:
    """(panel id -> suppressed table, suppressed metrics report). ``departments``: the department
    of each recorded performer that has one (``store.frames.clinician_departments``)."""
    ctx = PanelContext(frames, scope, value_set_version, min_cell=board.min_cell, phases=board.phases)
    if clinicians is not None:
        ctx.clinicians = clinicians
    if departments is not None:
        ctx.departments = departments
    tables = {spec["id"]: panel_table(ctx, spec) for spec in board.panels}
    return tables, ctx.report


def build_dashboard(
    frames: Frames,
    scope: Scope,
    board: Dashboard,
    value_set_version: str,
    clinicians: ClinicianLabels | None = None,
    departments: Mapping[str, str] | None = None,
) -> BuiltDashboard:
    # Here, not at the top: a web worker unpickling a stored dashboard imports this module, and
    # draws nothing (it sends the figures' JSON), so it never loads plotly's figure classes.
    from sicdoc.figures.panels import panel_figures

    tables, report = build_tables(frames, scope, board, value_set_version, clinicians, departments)
    cohorts = list(scope.cohorts)
    period = period_text(scope)
    panels = []
    for spec in board.panels:
        table = tables[spec["id"]]
        figures = panel_figures(spec, table, cohorts, phases=board.phases, period_text=period)
        notes = panel_notes(table, board.phases, cohorts, period) if PHASE_COLUMN in table.columns else []
        panels.append(BuiltPanel.of(spec, table, figures, notes))
    return BuiltDashboard(board, scope, tuple(panels), report)


def period_text(scope: Scope) -> str:
    """The period asked, in months or quarters as the charts group it ("2025-01 to 2025-12")."""

    def name(day: date | None, missing: str) -> str:
        if day is None:
            return missing
        return quarter_of_day(day) if scope.grouping == "quarter" else day.isoformat()[:7]

    start, end = name(scope.period_from, "the start"), name(scope.period_to, "the end")
    return start if start == end else f"{start} to {end}"
