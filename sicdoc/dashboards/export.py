"""``sicdoc dashboards export``: each dashboard as one self-contained HTML file plus its CSV tables."""

from __future__ import annotations

from pathlib import Path

from sicdoc.dashboards.build import BuiltDashboard
from sicdoc.dashboards.download import table_csv
from sicdoc.figures.html import standalone_html


def export_dashboard(built: BuiltDashboard, out_dir: Path) -> list[Path]:
    """Write ``<id>.html`` and ``<id>/<panel>.csv`` under ``out_dir``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scope = built.scope
    period = f"{scope.period_from or 'start'} to {scope.period_to or 'end'}"
    intro = (
        f"{built.board.description} Period {period}, data as of {scope.as_of}; cohorts "
        f"{', '.join(c.replace('_', ' ') for c in scope.cohorts)}."
    )
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
        built.board.title, intro, [(p.spec["title"], list(p.figures)) for p in built.panels]
    )
    written = [out_dir / f"{built.board.id}.html"]
    written[0].write_text(page, encoding="utf-8")
    tables = out_dir / built.board.id
    tables.mkdir(exist_ok=True)
    for panel in built.panels:
        path = tables / f"{panel.spec['id']}.csv"
        path.write_text(table_csv(panel.table, scope, through), encoding="utf-8")
        written.append(path)
    return written


def report_rows(report: dict) -> list[dict[str, object]]:
    """The metrics report flattened for CSV: one row per cohort and metric (nested keys dotted)."""
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

    for cohort, metrics in report["cohorts"].items():
        walk(cohort, "", metrics)
    return rows
