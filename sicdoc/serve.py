"""Serving through gunicorn (a production WSGI server), with the app built once by the caller.

In shared analytics mode the analytics worker (``sicdoc analytics-worker``) runs beside gunicorn as a
child process with the server's settings; it is stopped when gunicorn exits.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from sicdoc.allocator import cap_malloc_arenas, fix_mmap_threshold
from sicdoc.collector import freeze_survivors, tune_collector
from sicdoc.config import child_environment

# How the analytics worker is started: the same interpreter and package as the server.
WORKER_COMMAND = (
    sys.executable,
    "-c",
    "from sicdoc.cli import main; main(['analytics-worker', '--with-parent'])",
)


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]):
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def run(app: Flask, host: str, port: int, workers: int = 2) -> None:
    use_demo_address(app, host, port)
    tune_collector()
    # Before any worker thread allocates; the forked workers inherit both.
    cap_malloc_arenas()
    fix_mmap_threshold()
    shared = app.config.get("ANALYTICS_MODE") == "shared"
    if not shared:  # in shared mode the web workers hold no analytics to warm
        warm_dashboards(app)
    # Engines must not be shared across forked workers: drop pooled connections before forking.
    app.extensions["sicdoc.engine"].dispose()
    freeze_survivors()
    worker = start_analytics_worker(app) if shared else None
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": 4,
        "accesslog": "-",
        "timeout": 120,
    }
    if worker is not None:
        options["on_exit"] = lambda _arbiter: stop_analytics_worker(worker)
    try:
        _Gunicorn(app, options).run()
    finally:
        if worker is not None:
            stop_analytics_worker(worker)


def start_analytics_worker(app: Flask) -> subprocess.Popen:
    """The analytics worker as a child process with this server's resolved settings (demo mode's
    secret key included, which signs the results it stores)."""
    return subprocess.Popen(WORKER_COMMAND, env=child_environment(app.config))  # noqa: S603 - fixed command


def stop_analytics_worker(worker: subprocess.Popen, timeout: float = 15.0) -> None:
    if worker.poll() is not None:
        return
    worker.terminate()
    try:
        worker.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def warm_dashboards(app: Flask) -> None:
    """Build the default dashboard once before the workers fork: each worker then starts with the
    statistics stack imported and that view cached (it is rebuilt as soon as the data changes)."""
    analytics = app.extensions.get("sicdoc.analytics")
    if analytics is None:
        return
    try:
        analytics.warm()
    except Exception:  # a failed warm-up only costs the first viewer time
        app.logger.exception("could not build the default dashboard ahead of the first view")


def use_demo_address(app: Flask, host: str, port: int) -> None:
    """Demo mode without SICDOC_BASE_URL: the public base URL is the address the demo serves on."""
    if app.config.get("DEMO") and not app.config.get("BASE_URL"):
        name = f"[{host}]" if ":" in host else host
        app.config["BASE_URL"] = f"http://{name}:{port}"


def demo_banner(app: Flask, host: str, port: int) -> str:
    use_demo_address(app, host, port)
    url = app.config["BASE_URL"]
    lines = [
        "",
        f"sicdoc is serving at {url}/  (FHIR R4 API at {url}/fhir/metadata)",
        f"database: {app.config['DATABASE_URL']}",
    ]
    logins = app.extensions.get("sicdoc.demo_logins") or []
    if logins:
        lines.append("demo log-ins (demo mode only):")
        lines.extend(f"  {role:<11} {user} / {password}" for role, user, password in logins)
    lines.append("")
    return "\n".join(lines)
