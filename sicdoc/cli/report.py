"""``sicdoc report``: the monthly QI report as a standalone HTML file or an A4 PDF."""

from __future__ import annotations

from pathlib import Path

import click

from sicdoc.cli import _app, _session, main
from sicdoc.cli.qi import _scope


@main.command("report")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month to report on (it must be over).")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The file to write: FILE.html (opens offline) or FILE.pdf (A4, printed with Chromium).",
)
@click.option("--cohort", help="stroke, heart_failure or cancer (default: all three).")
@click.option("--site", help="Only this site.")
@click.option("--unit", help="Only this unit.")
@click.option(
    "--from",
    "period_from",
    metavar="YYYY-MM-DD",
    help="First day of the period (default: the dashboard's default number of months to the month).",
)
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Data cut-off (default: the month's last day).")
@click.pass_context
def report(
    ctx: click.Context,
    month: str,
    out: Path,
    cohort: str | None,
    site: str | None,
    unit: str | None,
    period_from: str | None,
    as_of: str | None,
) -> None:
    """Write the monthly QI report: headline figures, signals and a short text (suppressed figures)."""
    from datetime import UTC, datetime

    from sicdoc.dashboards.service import today_utc
    from sicdoc.reporting.html import render_html
    from sicdoc.reporting.monthly import monthly_report, report_dashboard
    from sicdoc.reporting.pdf import find_chromium, html_to_pdf, write_atomically
    from sicdoc.reporting.request import (
        ReportInputError,
        check_data,
        check_scope,
        output_format,
        parse_month,
        report_period,
    )
    from sicdoc.security import audit

    asked = parse_month(month, today=today_utc())
    kind = output_format(out)
    app = _app(ctx)
    chromium = find_chromium(app.config.get("CHROMIUM")) if kind == "pdf" else None
    service = app.extensions["sicdoc.analytics"]
    board = service.default_board
    start, end = report_period(asked, period_from, board.default_period_months)
    scope = _scope(cohort, start, end, as_of or end, site=site, unit=unit)
    check_scope(scope, asked)
    version = service.version()
    check_data(service.frames(version), scope, asked)
    built = report_dashboard(service.frames(version), scope, board, service.value_set_version)
    if built.empty:
        raise ReportInputError(f"no patients to report on: {scope.filters_text()}")
    page = render_html(monthly_report(built, asked.text), datetime.now(UTC))
    data = html_to_pdf(page, chromium) if chromium else page.encode("utf-8")
    # Audited before the file appears: a report the audit log cannot record is not written.
    with _session(ctx) as session:
        audit.record(
            session,
            audit.SYSTEM,
            "qi-report",
            "success",
            detail=f"monthly report {asked.text} ({kind}) to {out.name}: {scope.filters_text(suppressed=True)}"[
                :500
            ],
        )
    write_atomically(out, data)
    click.echo(f"wrote {out} ({kind}, {len(data):,} bytes)")
