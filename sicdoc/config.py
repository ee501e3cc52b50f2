"""Configuration: safe defaults, then ``SICDOC_*`` environment variables, then test overrides.

This is the only module that reads the environment, and it does so once, from ``create_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask


class Config:
    # An embedded SQLite file under the app's instance folder unless a URL is given.
    DATABASE_URL: str | None = None
    SECRET_KEY: str | None = None
    # Public base URL of the FHIR endpoint, used in Location headers and bundle links when set.
    FHIR_BASE_URL: str | None = None
    # Request limits for the FHIR API.
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    FHIR_MAX_JSON_DEPTH = 64
    FHIR_MAX_BUNDLE_ENTRIES = 5000
    # Demo mode prints demo log-ins and allows the sample loader at start.
    DEMO = False
    # People's sessions: idle timeout and absolute lifetime; cookies Secure unless turned off
    # (None: on, except in demo and test mode, which serve plain http on 127.0.0.1).
    SESSION_IDLE_MINUTES = 15
    SESSION_MAX_HOURS = 12
    SECURE_COOKIES: bool | None = None
    # Rate limits (Flask-Limiter syntax) and their storage; use a shared Redis with several workers.
    LOGIN_RATE_LIMIT = "10/minute"
    TOKEN_RATE_LIMIT = "60/minute"  # noqa: S105 - a rate, not a secret
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Integration clients: bearer token lifetime (at most 300 s) and the token URL clients sign as ``aud``.
    ACCESS_TOKEN_SECONDS = 300
    TOKEN_URL: str | None = None
    # CSRF tokens on every form (Flask-WTF); valid for the life of a session.
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    # IANA time zone in which clinicians type and read dates and times on the forms.
    TIME_ZONE = "UTC"
    # Folder of dashboard definitions (*.json); the repository's dashboards/ by default.
    DASHBOARDS_DIR: str = str(Path(__file__).resolve().parent.parent / "dashboards")
    # Seconds a cached dashboard may be reused while the data version is unchanged.
    DASHBOARD_CACHE_SECONDS = 300


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, ``SICDOC_*`` variables and ``overrides``, in that order."""
    app.config.from_object(Config)
    app.config.from_prefixed_env("SICDOC")
    if overrides:
        app.config.update(overrides)
    if app.config.get("SECURE_COOKIES") is None:
        app.config["SECURE_COOKIES"] = not (app.config.get("TESTING") or app.config.get("DEMO"))
    # Flask's own signed cookie carries only the CSRF token; it gets the same flags as the session cookie.
    app.config.update(
        SESSION_COOKIE_NAME="__Host-sicdoc-csrf" if app.config["SECURE_COOKIES"] else "sicdoc_csrf",
        SESSION_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = f"sqlite:///{app.instance_path}/sicdoc.sqlite3"
    if not app.config.get("SECRET_KEY"):
        if not (app.config.get("TESTING") or app.config.get("DEMO")):
            raise RuntimeError("SICDOC_SECRET_KEY must be set outside demo and test mode")
        app.config["SECRET_KEY"] = "demo-only-secret-key"  # noqa: S105 - demo and tests only
