"""Build a dashboard for one scope: the suppressed table and the figures of every panel.

Tables come from ``sicdoc.analytics.panels``, figures from ``sicdoc.figures``; nothing here knows
about the web or the database, so the app, the CLI export and the benchmark share one path.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.panels import PanelContext, panel_table
from sicdoc.analytics.scope import Scope
from sicdoc.dashboards.definitions import Dashboard
from sicdoc.figures.panels import panel_figures


@dataclass(frozen=True)
class BuiltPanel:
    spec: dict
    table: pd.DataFrame
    figures: tuple[go.Figure, ...]
    # Serialised once when built: a cached dashboard is then served without touching plotly.
    figure_json: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: dict, table: pd.DataFrame, figures: list[go.Figure]) -> BuiltPanel:
        return cls(spec, table, tuple(figures), tuple(fig.to_json() for fig in figures))


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
) -> tuple[dict, dict]:
    """(panel id -> suppressed table, suppressed metrics report)."""
    ctx = PanelContext(frames, scope, value_set_version, min_cell=board.min_cell)
    if clinicians is not None:
        ctx.clinicians = clinicians
    tables = {spec["id"]: panel_table(ctx, spec) for spec in board.panels}
    return tables, ctx.report


def build_dashboard(
    frames: Frames,
    scope: Scope,
    board: Dashboard,
    value_set_version: str,
    clinicians: ClinicianLabels | None = None,
) -> BuiltDashboard:
    tables, report = build_tables(frames, scope, board, value_set_version, clinicians)
    cohorts = list(scope.cohorts)
    panels = tuple(
        BuiltPanel.of(spec, tables[spec["id"]], panel_figures(spec, tables[spec["id"]], cohorts))
        for spec in board.panels
    )
    return BuiltDashboard(board, scope, panels, report)
