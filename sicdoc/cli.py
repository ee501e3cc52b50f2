"""The ``sicdoc`` command line: migrate, load, serve, the demo, people, integration clients and the audit log."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask

from sicdoc.errors import SicdocError


def _app(ctx: click.Context) -> Flask:
    from sicdoc.app import create_app

    obj = ctx.ensure_object(dict)
    if "app" not in obj:
        try:
            obj["app"] = create_app(obj.get("overrides"))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    return obj["app"]


@click.group()
@click.option("--database-url", envvar=None, help="Database URL (overrides SICDOC_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """sicdoc: serious illness conversations, FHIR R4 API and QI dashboards."""
    obj = ctx.ensure_object(dict)
    obj.setdefault("overrides", {})
    if database_url:
        obj["overrides"]["DATABASE_URL"] = database_url


@main.group()
def sample() -> None:
    """Synthetic sample populations."""


def _register_sample_commands() -> None:
    from sicdoc.sample.command import generate_command

    sample.add_command(generate_command)


_register_sample_commands()


def _scope(cohort: str | None, period_from: str | None, period_to: str | None, as_of: str | None, **extra):  # type: ignore[no-untyped-def]
    from sicdoc.analytics.scope import ScopeError, parse_qi_scope, parse_scope
    from sicdoc.dashboards.service import today_utc

    default_months = extra.pop("default_months", None)
    parse = parse_qi_scope if extra.pop("whole_months", True) else parse_scope  # QI answers: whole months
    params = {"cohort": cohort, "from": period_from, "to": period_to, "as_of": as_of, **extra}
    try:
        return parse(params, today=today_utc(), default_months=default_months)
    except ScopeError as exc:
        raise click.ClickException(str(exc)) from None


def _scope_options(command):  # type: ignore[no-untyped-def]
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

    # Operators on the server keep day-level cut-offs with --unsuppressed (see the README).
    scope = _scope(cohort, period_from, period_to, as_of, whole_months=not unsuppressed)
    report = _app(ctx).extensions["sicdoc.analytics"].report(scope, suppress=not unsuppressed)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
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
        )
        written = export_dashboard(service.dashboard(board, scope), out)
        click.echo(f"wrote {written[0]} and {len(written) - 1} CSV tables")


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date."""
    from sicdoc.db import session_scope
    from sicdoc.migrate import upgrade
    from sicdoc.services.catalog import publish_questionnaire

    app = _app(ctx)
    upgrade(app.config["DATABASE_URL"])
    with session_scope(app) as session:
        stored = publish_questionnaire(session, app.extensions["sicdoc.store"])
    click.echo(f"database is up to date; SIC Questionnaire at version {stored.version_id}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def load(ctx: click.Context, paths: tuple[Path, ...], quiet: bool) -> None:
    """Load FHIR transaction bundles from files, folders or NDJSON through the ingest service."""
    from tqdm import tqdm

    from sicdoc.collector import tune_collector
    from sicdoc.db import session_scope
    from sicdoc.loader import LoadReport, count_bundles, iter_bundles
    from sicdoc.services.bundles import process_transaction
    from sicdoc.services.unit import system_unit

    tune_collector()
    app = _app(ctx)
    missing = [p for p in paths if not p.exists()]
    report = LoadReport(rejected=[(str(p), "no such file or folder") for p in missing])
    present = [p for p in paths if p.exists()]
    store = app.extensions["sicdoc.store"]
    max_entries = app.config["FHIR_MAX_BUNDLE_ENTRIES"]
    with (
        session_scope(app) as session,
        tqdm(total=count_bundles(present), unit="bundle", disable=quiet, file=sys.stderr) as bar,
    ):
        for label, bundle in iter_bundles(present):
            bar.update(1)
            if isinstance(bundle, SicdocError):
                report.rejected.append((label, str(bundle)))
                continue
            try:
                # Receipts of the command line are kept under the empty client id, as they always were.
                result = process_transaction(
                    system_unit(session, store), bundle, client_id="", max_entries=max_entries
                )
            except SicdocError as exc:
                session.rollback()
                report.rejected.append((label, str(exc)[:500]))
                continue
            report.resources += result.created
            if result.created:
                report.loaded += 1
            else:
                report.unchanged += 1
    click.echo(
        f"loaded {report.loaded} bundles ({report.resources} resources), {report.unchanged} unchanged, "
        f"{len(report.rejected)} rejected"
    )
    for label, reason in report.rejected:
        click.echo(f"rejected {label}: {reason}", err=True)
    if report.rejected:
        sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the app with gunicorn."""
    from sicdoc.serve import run

    app = _app(ctx)
    run(app, host, port, workers)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--sample", default="sample_data", show_default=True, type=click.Path(path_type=Path))
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, sample: Path) -> None:
    """Migrate the embedded database, load the sample data and serve it (demo mode)."""
    ctx.ensure_object(dict)["overrides"]["DEMO"] = True
    ctx.invoke(migrate)
    if sample.is_dir() and (any(sample.rglob("*.json")) or any(sample.rglob("*.ndjson"))):
        try:
            ctx.invoke(load, paths=(sample,), quiet=False)
        except SystemExit:
            click.echo("some sample bundles were rejected (listed above); serving what loaded", err=True)
    app = _app(ctx)
    _demo_logins(app)
    from sicdoc.serve import demo_banner, run

    click.echo(demo_banner(app, host, port))
    run(app, host, port, workers=2)


def _demo_logins(app: Flask) -> None:
    """Demo mode: one person per role, with a fresh random password printed at every start."""
    import secrets

    from sicdoc.db import session_scope
    from sicdoc.errors import Conflict
    from sicdoc.services import accounts

    logins = []
    with session_scope(app) as session:
        for role, username in (("clinician", "clinician"), ("qi_analyst", "analyst"), ("admin", "admin")):
            password = secrets.token_urlsafe(12)
            try:
                accounts.create_user(session, username, password, role)
            except Conflict:
                accounts.set_password(session, username, password)
                accounts.set_role(session, username, role)
            logins.append((role, username, password))
    app.extensions["sicdoc.demo_logins"] = logins


def _session(ctx: click.Context):  # type: ignore[no-untyped-def]
    from sicdoc.db import session_scope

    return session_scope(_app(ctx))


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except SicdocError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def users() -> None:
    """People: clinician, qi_analyst or admin."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["clinician", "qi_analyst", "admin"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.pass_context
def users_create(ctx: click.Context, username: str, role: str, password_stdin: bool) -> None:
    """Create a person (prompts for the password unless --password-stdin)."""
    from sicdoc.services import accounts

    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session(ctx) as session:
        _run(lambda: accounts.create_user(session, username, password, role))
    click.echo(f"created {username} ({role})")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable a person and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.disable_user(session, username))
    click.echo(f"disabled {username}; their sessions are ended")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["clinician", "qi_analyst", "admin"]))
@click.pass_context
def users_set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change a person's role and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.set_role(session, username, role))
    click.echo(f"{username} is now {role}; their sessions are ended")


@users.command("unlock")
@click.argument("username")
@click.pass_context
def users_unlock(ctx: click.Context, username: str) -> None:
    """Lift a lock-out after repeated wrong passwords."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.unlock_user(session, username))
    click.echo(f"{username} is unlocked")


@main.group()
def clients() -> None:
    """Integration clients (OAuth 2.0 client credentials with SMART system scopes)."""


@clients.command("create")
@click.argument("name")
@click.option("--scopes", required=True, help='Space-separated, e.g. "system/*.read system/Patient.write".')
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--secret", is_flag=True, help="Issue a client secret instead of (or besides) a JWK set.")
@click.pass_context
def clients_create(ctx: click.Context, name: str, scopes: str, jwks_file: Path | None, secret: bool) -> None:
    """Register a client; prints its client_id (and its secret, this once)."""
    from sicdoc.services import accounts

    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.ClickException(f"{jwks_file} is not JSON: {exc}") from None
    with _session(ctx) as session:
        result = _run(lambda: accounts.create_client(session, name, scopes, jwks=jwks, with_secret=secret))
    client_id, client_secret = result
    click.echo(f"client_id: {client_id}")
    if client_secret:
        click.echo(f"client_secret: {client_secret}")
        click.echo("(the secret is shown only now; sicdoc keeps only its hash)", err=True)


@clients.command("revoke")
@click.argument("client_id")
@click.pass_context
def clients_revoke(ctx: click.Context, client_id: str) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.revoke_client(session, client_id))
    click.echo(f"revoked {client_id}")


@main.group("audit")
def audit_group() -> None:
    """The append-only audit log: anchor it with checkpoints, verify it."""


def _register_audit_commands() -> None:
    from sicdoc.audit_commands import checkpoint_command, verify_command

    audit_group.add_command(checkpoint_command)
    audit_group.add_command(verify_command)


_register_audit_commands()


if __name__ == "__main__":
    main()
