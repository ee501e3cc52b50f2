"""Configuration: safe defaults, then ``SICDOC_*`` environment variables, then test overrides.

This is the only module that reads the environment, and it does so once, from ``create_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    # The clinician the forms act as until log-in arrives (see sicdoc.views.identity).
    DEMO_CLINICIAN = "Dr Demo"
    # IANA time zone in which clinicians type and read dates and times on the forms.
    TIME_ZONE = "UTC"


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, ``SICDOC_*`` variables and ``overrides``, in that order."""
    app.config.from_object(Config)
    app.config.from_prefixed_env("SICDOC")
    if overrides:
        app.config.update(overrides)
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = f"sqlite:///{app.instance_path}/sicdoc.sqlite3"
    if not app.config.get("SECRET_KEY"):
        if not (app.config.get("TESTING") or app.config.get("DEMO")):
            raise RuntimeError("SICDOC_SECRET_KEY must be set outside demo and test mode")
        app.config["SECRET_KEY"] = "demo-only-secret-key"  # noqa: S105 - demo and tests only
