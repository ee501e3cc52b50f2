"""``sicdoc metrics`` and ``sicdoc dashboards export``: QI answers at whole months, each audited."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sicdoc.cli import _app, _session, main

if TYPE_CHECKING:
    from sicdoc.analytics.scope import Scope

C = TypeVar("C", bound=Callable[..., Any])


def _audited(ctx: click.Context, action: str, detail: str) -> None:
    """Record a QI answer leaving the server; done before it is printed or written, so an answer the
    audit log cannot record is not given."""
    from sicdoc.security import audit

    with _session(ctx) as session:
        audit.record(session, audit.SYSTEM, action, "success", detail=detail[:500])


def _scope(
    cohort: str | None,
    period_from: str | None,
    period_to: str | None,
    as_of: str | None,
    *,
    site: str | None = None,
    unit: str | None = None,
    default_months: int | None = None,
    whole_months: bool = True,
    grouping: str | None = None,
) -> Scope:
    from sicdoc.analytics.scope import parse_qi_scope, parse_scope
    from sicdoc.dashboards.service import today_utc

    parse = parse_qi_scope if whole_months else parse_scope  # QI answers: whole months
    params = {
        "cohort": cohort,
        "from": period_from,
        "to": period_to,
        "as_of": as_of,
        "site": site,
        "unit": unit,
        "grouping": grouping,
    }
    return parse(params, today=today_utc(), default_months=default_months)  # ScopeError: see SicdocGroup


def _scope_options(command: C) -> C:
    for option in reversed(
        [
            click.option("--cohort", help="stroke, heart_failure or cancer (default: all three)."),
            click.option("--from", "period_from", metavar="YYYY-MM-DD", help="First day of the period."),
            click.option("--to", "period_to", metavar="YYYY-MM-DD", help="Last day of the period."),
            click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Data cut-off (default: today)."),
        ]
    ):
        command = option(command)
    return command


@main.command()
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@_scope_options
@click.option("--unsuppressed", is_flag=True, help="Show counts of 1-10 (operators only; never publish).")
@click.pass_context
def metrics(
    ctx: click.Context,
    fmt: str,
    cohort: str | None,
    period_from: str | None,
    period_to: str | None,
    as_of: str | None,
    unsuppressed: bool,
) -> None:
    """Print the QI metrics report (suppressed unless --unsuppressed)."""
    import csv
    import json

    from sicdoc.dashboards.export import report_rows
    from sicdoc.schemas.metrics import MetricsReportSchema

    # Operators on the server keep day-level cut-offs with --unsuppressed (see the README).
    scope = _scope(cohort, period_from, period_to, as_of, whole_months=not unsuppressed)
    report = _app(ctx).extensions["sicdoc.analytics"].report(scope, suppress=not unsuppressed)
    _audited(ctx, "qi-metrics", f"metrics ({fmt}): {scope.filters_text(suppressed=not unsuppressed)}")
    if fmt == "json":
        click.echo(json.dumps(MetricsReportSchema().dump(report), indent=2))
        return
    rows = report_rows(report)
    writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["cohort", "metric", "value"])
    writer.writeheader()
    writer.writerows(rows)


@main.group()
def dashboards() -> None:
    """QI dashboards."""


@dashboards.command("export")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@_scope_options
@click.option("--site", help="Only this site.")
@click.option("--unit", help="Only this unit.")
@click.option(
    "--grouping", metavar="month|quarter", help="Control charts by month (default) or calendar quarter."
)
@click.pass_context
def export_dashboards(
    ctx: click.Context,
    out: Path,
    cohort: str | None,
    period_from: str | None,
    period_to: str | None,
    as_of: str | None,
    site: str | None,
    unit: str | None,
    grouping: str | None,
) -> None:
    """Write every dashboard as a self-contained HTML file (opens offline) with its CSV tables."""
    from sicdoc.dashboards.export import export_dashboard

    service = _app(ctx).extensions["sicdoc.analytics"]
    for board in service.definitions.values():
        scope = _scope(
            cohort,
            period_from,
            period_to,
            as_of,
            site=site,
            unit=unit,
            default_months=board.default_period_months,
            grouping=grouping,
        )
        built = service.dashboard(board, scope)
        _audited(
            ctx, "qi-export", f"dashboard {board.id} to {out.name}: {scope.filters_text(suppressed=True)}"
        )
        written = export_dashboard(built, out)
        click.echo(f"wrote {written[0]} and {len(written) - 1} CSV tables")
