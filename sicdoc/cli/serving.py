"""``sicdoc migrate``, ``load``, ``reindex``, ``serve`` and ``demo``: the database, its data and the server."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.exc import OperationalError

from sicdoc.cli import _app, main
from sicdoc.errors import SicdocError
from sicdoc.loader import DEFAULT_BATCH, LoadReport

# The exit status of a load stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


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
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Bundles per database transaction (each bundle still loads all or nothing).",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes: on PostgreSQL they write batches side by side; on SQLite they parse and "
    "validate ahead of its one writer.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def load(ctx: click.Context, paths: tuple[Path, ...], batch_size: int, jobs: int, quiet: bool) -> None:
    """Load FHIR transaction bundles from files, folders or NDJSON through the ingest service."""
    from tqdm import tqdm

    from sicdoc.collector import tune_collector
    from sicdoc.loader import bundle_files, load_paths, total_bytes

    tune_collector()
    app = _app(ctx)
    size = total_bytes(bundle_files([p for p in paths if p.exists()]))
    with tqdm(total=size, unit="B", unit_scale=True, disable=quiet, file=sys.stderr) as bar:
        seen = [0, time.perf_counter()]

        def advance(consumed: int, patients: int) -> None:
            seen[0] += patients
            rate = seen[0] / max(time.perf_counter() - seen[1], 1e-9)
            bar.set_postfix_str(f"{seen[0]:,} patients, {rate:,.0f} patients/s", refresh=False)
            bar.update(consumed)

        report = LoadReport()
        try:
            load_paths(app, paths, batch_size=batch_size, jobs=jobs, progress=advance, report=report)
        except SicdocError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError:
            # The open batch rolled back; what committed before it is whole and counted. The group
            # then names the database's reason in one line (alone, when nothing was stored).
            bar.close()
            _list_rejected(report)
            if report.loaded or report.unchanged:
                _resume_hint("stopped", report)
            raise
        except KeyboardInterrupt:
            # Raised once the batch in hand committed: the report counts every stored bundle.
            bar.close()
            _list_rejected(report)
            _resume_hint("interrupted", report)
            sys.exit(INTERRUPTED)
    click.echo(
        f"loaded {report.loaded} bundles ({report.resources} resources), {report.unchanged} unchanged, "
        f"{len(report.rejected)} rejected; {report.patients:,} patients in {report.seconds:,.1f} s "
        f"({report.patients_per_second:,.0f} patients/s)"
    )
    _list_rejected(report)
    if report.rejected:
        sys.exit(1)


def _list_rejected(report: LoadReport) -> None:
    """The bundles a load rejected, each with its reason (a load stopped early: those of the batches
    it stored, which running it again rejects again unless they are mended)."""
    for label, reason in report.rejected:
        click.echo(f"rejected {label}: {reason}", err=True)


def _resume_hint(how: str, report: LoadReport) -> None:
    click.echo(
        f"{how}: {report.loaded} bundles loaded, {report.unchanged} unchanged; run the same command again to continue",
        err=True,
    )


@main.command()
@click.option("--type", "resource_type", metavar="TYPE", help="Only this resource type.")
@click.option("--resume", is_flag=True, help="Continue the runs an interruption left unfinished.")
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Resources per transaction.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def reindex(
    ctx: click.Context, resource_type: str | None, resume: bool, batch_size: int, quiet: bool
) -> None:
    """Rebuild search indexes, compartments and projections from the stored resources, in batches."""
    from tqdm import tqdm

    from sicdoc.db import session_scope
    from sicdoc.services import reindex as rebuild
    from sicdoc.services.unit import system_unit

    if resume and resource_type:
        raise click.ClickException("--resume continues every unfinished run; it takes no --type")
    app = _app(ctx)
    with session_scope(app) as session:
        uow = system_unit(session, app.extensions["sicdoc.store"])
        try:
            steps = rebuild.unfinished(uow) if resume else rebuild.plan(uow, resource_type)
        except SicdocError as exc:
            raise click.ClickException(str(exc)) from None
        if not steps:
            click.echo("nothing to resume" if resume else "nothing to reindex")
            return
        total = rebuild.remaining(session, steps)
        with tqdm(total=total, unit="resource", disable=quiet, file=sys.stderr) as bar:
            try:
                done = rebuild.run(uow, steps, batch_size=batch_size, on_batch=bar.update)
            except (SicdocError, KeyboardInterrupt) as exc:
                reason = str(exc) or "interrupted"
                raise click.ClickException(
                    f"{reason}; finished batches are kept, `sicdoc reindex --resume` continues"
                ) from None
    which = steps[0].resource_type if len(steps) == 1 else f"{len(steps)} types"
    click.echo(f"reindexed {done} resources ({which})")


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
        except SystemExit as exc:
            if exc.code == INTERRUPTED:  # Ctrl-C stops the demo too
                raise
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
    from sicdoc.security.roles import Role
    from sicdoc.services import accounts

    logins = []
    with session_scope(app) as session:
        for role, username in (
            (Role.CLINICIAN, "clinician"),
            (Role.QI_ANALYST, "analyst"),
            (Role.ADMIN, "admin"),
        ):
            password = secrets.token_urlsafe(12)
            try:
                accounts.create_user(session, username, password, role)
            except Conflict:
                accounts.set_password(session, username, password)
                accounts.set_role(session, username, role)
            logins.append((role, username, password))
    app.extensions["sicdoc.demo_logins"] = logins
