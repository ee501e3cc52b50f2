"""``sicdoc dashboards export``: each dashboard as one self-contained HTML file plus its CSV tables."""

from __future__ import annotations

from pathlib import Path

from sicdoc.analytics.scope import Scope, slugify
from sicdoc.dashboards.build import BuiltDashboard
from sicdoc.dashboards.download import csv_name, table_csv
from sicdoc.figures.html import standalone_html


def export_dashboard(built: BuiltDashboard, out_dir: Path) -> list[Path]:
    """Write ``<name>.html`` and ``<name>/<panel CSV name>`` under ``out_dir``; return the paths written.

    ``<name>`` is ``export_name``: the dashboard and its filters, so exports of different scopes sit
    side by side and the same scope always writes the same files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    scope = built.scope
    intro = built.board.description  # the period, cut-off and cohorts are on the filters line
    if scope.granularity == "month":
        intro += " Whole months only."
    if scope.note:
        intro += f" {scope.note}"
    through = built.report.get("data_complete_through")
    intro += f" Data complete through {through or 'no date: there are no records'}."
    if built.report.get("data_note"):
        intro += f" {built.report['data_note']}"
    if built.empty:
        intro += " No patients fall in this period and scope, so the charts are empty."
    page = standalone_html(
        built.board.title,
        intro,
        [(p.spec["title"], list(p.figures)) for p in built.panels],
        filters=scope.filters_text(suppressed=True),
    )
    name = export_name(built.board.id, scope)
    written = [out_dir / f"{name}.html"]
    written[0].write_text(page, encoding="utf-8")
    tables = out_dir / name
    tables.mkdir(exist_ok=True)
    for panel in built.panels:
        path = tables / csv_name(panel.spec["id"], scope)
        path.write_text(table_csv(panel.table, scope, through), encoding="utf-8")
        written.append(path)
    return written


def export_name(board_id: str, scope: Scope) -> str:
    """The file name (without suffix) of a dashboard export: the board and its filters."""
    return f"sicdoc-dashboard-{slugify(board_id)}-{scope.slug(suppressed=True)}"


def report_rows(report: dict) -> list[dict[str, object]]:
    """The metrics report flattened for CSV: one row per cohort and metric (nested keys dotted); the
    report's ``reach`` over all admissions comes first, as cohort "all"."""
    rows: list[dict[str, object]] = []

    def walk(cohort: str, prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(cohort, f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(cohort, f"{prefix}.{('lower', 'upper')[i] if len(value) == 2 else i}", inner)
        else:
            rows.append(
                {
                    "as_of": report["as_of"],
                    "period_from": report["period"]["from"],
                    "period_to": report["period"]["to"],
                    "time_granularity": report.get("time_granularity"),
                    "data_complete_through": report.get("data_complete_through"),
                    "value_set_version": report["value_set_version"],
                    "cohort": cohort,
                    "metric": prefix,
                    "value": value,
                }
            )

    if report.get("reach") is not None:
        walk("all", "", report["reach"])
    if report.get("documentation_quality") is not None:
        walk("all", "documentation_quality", report["documentation_quality"])
    for cohort, metrics in report["cohorts"].items():
        walk(cohort, "", metrics)
    return rows
