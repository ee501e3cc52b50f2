"""``sicdoc analytics-worker``: the one process that builds shared analytics results (see
``sicdoc.dashboards.shared``). ``sicdoc serve`` starts it beside gunicorn in shared mode; with several
servers, each may run one and the lease lets one build at a time."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import click

from sicdoc.cli import _app, main


@main.command("analytics-worker")
@click.option(
    "--poll",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds between looks for requested or outdated results.",
)
@click.option("--once", is_flag=True, help="Build what is due now, then exit.")
@click.option("--with-parent", is_flag=True, hidden=True, help="Exit when the process that started it ends.")
@click.pass_context
def analytics_worker(ctx: click.Context, poll: float, once: bool, with_parent: bool) -> None:
    """Build the dashboards, metrics reports, worklists and case reviews web workers ask for, once per
    data version, and store them in the database for every web worker and server."""
    from sicdoc.collector import tune_collector
    from sicdoc.dashboards.shared import SharedResults
    from sicdoc.dashboards.worker import AnalyticsWorker

    tune_collector()
    app = _app(ctx)
    service = app.extensions["sicdoc.analytics"]
    shared = SharedResults.from_config(service.engine, app.config)
    worker = AnalyticsWorker(service, shared, poll_seconds=poll)
    for call in service.warm_calls():  # built first, so the first analyst of the day does not wait
        shared.request(call)
    if once:
        click.echo(f"built {worker.run_once()} analytics results")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if with_parent:
        _stop_with_parent(stop, poll)
    click.echo(f"analytics worker {worker.holder} started", err=True)
    worker.run(stop)


def _stop_with_parent(stop: threading.Event, poll: float) -> None:
    """Stop when the parent (``sicdoc serve``) is gone, even if it could not say so (SIGKILL)."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(max(poll, 1.0)):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
