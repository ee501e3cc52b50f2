"""The ``sicdoc`` command line: migrate, load, serve and the demo."""

from __future__ import annotations

import sys
from pathlib import Path

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


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Bring the database schema up to date."""
    from sicdoc.migrate import upgrade

    app = _app(ctx)
    upgrade(app.config["DATABASE_URL"])
    click.echo("database is up to date")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def load(ctx: click.Context, paths: tuple[Path, ...], quiet: bool) -> None:
    """Load FHIR transaction bundles from files, folders or NDJSON through the ingest service."""
    from tqdm import tqdm

    from sicdoc.db import session_scope
    from sicdoc.loader import LoadReport, count_bundles, iter_bundles
    from sicdoc.security.audit import SYSTEM
    from sicdoc.services.bundles import ingest_transaction

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
                results = ingest_transaction(session, store, bundle, max_entries, actor=SYSTEM)
            except SicdocError as exc:
                session.rollback()
                report.rejected.append((label, str(exc)[:500]))
                continue
            created = sum(1 for r in results if r.status.startswith("201"))
            report.resources += created
            if created:
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
    from sicdoc.serve import demo_banner, run

    click.echo(demo_banner(app, host, port))
    run(app, host, port, workers=2)
