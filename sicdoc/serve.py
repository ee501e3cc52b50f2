"""Serving through gunicorn (a production WSGI server), with the app built once by the caller."""

from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from sicdoc.collector import freeze_before_fork, tune_collector


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
    warm_dashboards(app)
    # Engines must not be shared across forked workers: drop pooled connections before forking.
    app.extensions["sicdoc.engine"].dispose()
    freeze_before_fork()
    _Gunicorn(
        app,
        {"bind": f"{host}:{port}", "workers": workers, "threads": 4, "accesslog": "-", "timeout": 120},
    ).run()


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
