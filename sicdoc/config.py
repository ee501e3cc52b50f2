"""Configuration: safe defaults, then ``SICDOC_*`` environment variables, then test overrides.

This is the only module that reads the environment, and it does so once, from ``create_app``.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

from sicdoc import codes
from sicdoc.shipped import shipped_folder

# sicdoc's own business identifier systems (https://sicdoc.org/fhir/sid/<name>): forms, referrals,
# clinicians and the sample data.
_SICDOC_IDENTIFIERS = (
    "encounter",
    "condition",
    "service-request",
    "referral",
    "conversation",
    "clinician",
    "organization",
    "location",
)


class Config:
    # An embedded SQLite file under the app's instance folder unless a URL is given.
    DATABASE_URL: str | None = None
    SECRET_KEY: str | None = None
    # Key of the audit log's HMAC chain (32 characters or more). Keep it outside the database.
    AUDIT_KEY: str | None = None
    # The public URL people and clients reach sicdoc at, e.g. https://sicdoc.example.org. The FHIR base
    # (BASE_URL/fhir) and the token URL (BASE_URL/auth/token) derive from it; the Host header never counts.
    # Required outside demo mode (where it is the address the demo serves on) and test mode.
    BASE_URL: str | None = None
    # Number of trusted reverse proxies in front of sicdoc whose X-Forwarded-For/-Proto are believed
    # (werkzeug's ProxyFix); 0 ignores those headers.
    PROXY_FIX = 0
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
    # Rate limits ("10/minute" syntax of the limits library), counted per client address. The counters
    # live in the application's own database ("database://"), shared by every worker and server;
    # "redis://host:6379/0" uses Redis instead ("memory://" counts per process, for one process only).
    LOGIN_RATE_LIMIT = "10/minute"
    TOKEN_RATE_LIMIT = "60/minute"  # noqa: S105 - a rate, not a secret
    RATELIMIT_STORAGE_URI = "database://"
    RATELIMIT_KEY_PREFIX = "sicdoc"
    RATELIMIT_HEADERS_ENABLED = True
    # Per-account lock-out: this many wrong passwords in a row lock the account for this many minutes.
    LOCKOUT_FAILURES = 5
    LOCKOUT_MINUTES = 15
    # Integration clients: bearer token lifetime (at most 300 s).
    ACCESS_TOKEN_SECONDS = 300
    # CSRF tokens on every form (Flask-WTF); valid for the life of a session.
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    # IANA time zone in which clinicians type and read dates and times on the forms.
    TIME_ZONE = "UTC"
    # How the site writes dates with slashes: MDY (12/07/1943 is 7 December) or DMY (7 December is 07/12/1943).
    DATE_ORDER = "MDY"
    # Folder of dashboard definitions (*.json); by default the repository's dashboards/, which a wheel
    # carries inside the package.
    DASHBOARDS_DIR: str = str(shipped_folder("dashboards"))
    # Chromium (an operating-system package) that prints ``sicdoc report --out FILE.pdf``; None: the
    # ``chromium`` on the PATH, else /usr/bin/chromium.
    CHROMIUM: str | None = None
    # Seconds a cached dashboard may be reused while the data version is unchanged.
    DASHBOARD_CACHE_SECONDS = 300
    # Where dashboards, metrics reports, worklists and case reviews are computed: "local" (in each
    # process that serves them) or "shared" (once, by the analytics worker, stored in the database for
    # every web worker and server to read; ``sicdoc serve`` starts the worker).
    ANALYTICS_MODE = "local"
    # Shared mode: longest a request waits for a result the worker has not built yet (then 503).
    ANALYTICS_WAIT_SECONDS = 20
    # How QI outputs name clinicians: "name" (the stored Practitioner's name) or "pseudonym" (a stable
    # keyed pseudonym such as "Clinician K7Q2MXA4"); never a resource id. Pseudonyms are keyed with
    # QI_PSEUDONYM_KEY, or with a key derived from SECRET_KEY when that is not set.
    QI_CLINICIAN_LABELS = "name"
    QI_PSEUDONYM_KEY: str | None = None
    # Identifier systems whose values are unique per resource type (space-separated URIs): a second
    # resource of the same type with the same system|value is refused (409). Other identifiers (SSN,
    # driver's licence, claim numbers) stay searchable but may repeat. Default: the sample MRN system
    # and sicdoc's own identifier systems.
    UNIQUE_IDENTIFIER_SYSTEMS = " ".join(
        [codes.MRN_SYSTEM, *(f"{codes.CANONICAL_BASE}/sid/{name}" for name in _SICDOC_IDENTIFIERS)]
    )


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
        if app.config.get("TESTING"):
            app.config["SECRET_KEY"] = "test-only-secret-key"  # noqa: S105 - tests only
        elif app.config.get("DEMO"):
            # A fresh key at every start: forms and cookies signed by an earlier demo never verify.
            app.config["SECRET_KEY"] = secrets.token_urlsafe(32)
        else:
            raise RuntimeError("SICDOC_SECRET_KEY must be set outside demo and test mode")
    _check_base_url(app)
    _check_whole_numbers(
        app,
        "PROXY_FIX",
        "LOCKOUT_FAILURES",
        "LOCKOUT_MINUTES",
        "MAX_CONTENT_LENGTH",
        "FHIR_MAX_JSON_DEPTH",
        "FHIR_MAX_BUNDLE_ENTRIES",
        "ACCESS_TOKEN_SECONDS",
        "DASHBOARD_CACHE_SECONDS",
    )
    _check_analytics_mode(app)
    _check_time_zone(app)
    _check_date_order(app)
    if app.config.get("QI_CLINICIAN_LABELS") not in ("name", "pseudonym"):
        raise RuntimeError(
            f"SICDOC_QI_CLINICIAN_LABELS must be 'name' or 'pseudonym', not '{app.config.get('QI_CLINICIAN_LABELS')}'"
        )
    app.config["AUDIT_KEY"] = _audit_key(app)
    app.config["UNIQUE_IDENTIFIER_SYSTEMS"] = unique_identifier_systems(
        app.config.get("UNIQUE_IDENTIFIER_SYSTEMS")
    )


def unique_identifier_systems(value: Any) -> frozenset[str]:
    """The configured unique identifier systems: space-separated URIs (or any iterable of them)."""
    items = (value or "").split() if value is None or isinstance(value, str) else value
    systems = frozenset(str(item).strip() for item in items if str(item).strip())
    too_long = sorted(s for s in systems if len(s) > 255)
    if too_long:
        raise RuntimeError(f"SICDOC_UNIQUE_IDENTIFIER_SYSTEMS: '{too_long[0]}' is longer than 255 characters")
    return systems


_AUDIT_KEY_FILE = "audit-key"
_TEST_AUDIT_KEY = "sicdoc-test-audit-key-never-used-outside-tests"


def _audit_key(app: Flask) -> str:
    """The audit chain's key: configured; fixed in tests; in demo mode kept in the instance folder."""
    key = app.config.get("AUDIT_KEY")
    if key is not None and key != "":
        key = str(key)  # from_prefixed_env turns an all-digit value into a number
    elif app.config.get("TESTING"):
        key = _TEST_AUDIT_KEY
    elif app.config.get("DEMO"):
        key = _instance_audit_key(Path(app.instance_path))
    else:
        raise RuntimeError(
            "SICDOC_AUDIT_KEY must be set outside demo and test mode: a random secret of 32 characters or "
            "more, kept outside the database (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
        )
    if len(key) < 32:
        raise RuntimeError("SICDOC_AUDIT_KEY must be at least 32 characters long")
    return key


def _instance_audit_key(folder: Path) -> str:
    """The demo's audit key: generated once into ``<instance>/audit-key`` (mode 0600) and reused.

    The demo database outlives a restart, so its audit log must still verify with the same key.
    """
    path = folder / _AUDIT_KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        draft = folder / f".{_AUDIT_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)  # atomic: workers starting together all end up with the first key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} does not hold an audit key; restore it from a backup")
    return key


_REPLACED = ("FHIR_BASE_URL", "TOKEN_URL")


def _check_base_url(app: Flask) -> None:
    """One public base URL, given by configuration (never taken from the request's Host header)."""
    cfg = app.config
    replaced = [f"SICDOC_{name}" for name in _REPLACED if cfg.get(name)]
    if replaced:
        raise RuntimeError(
            f"{' and '.join(replaced)} are no longer read: set SICDOC_BASE_URL to the public address "
            "(the FHIR base and the token URL are derived from it)"
        )
    url = cfg.get("BASE_URL")
    if not url:
        if cfg.get("TESTING"):
            cfg["BASE_URL"] = "http://localhost"
        elif not cfg.get("DEMO"):  # demo mode: the address it serves on, set by sicdoc.serve
            raise RuntimeError(
                "SICDOC_BASE_URL must be set outside demo and test mode: the public address of this "
                "server, e.g. https://sicdoc.example.org (the FHIR base and token URL derive from it)"
            )
        return
    cfg["BASE_URL"] = normalise_base_url(str(url))


def public_base_url(config: Mapping[str, Any]) -> str:
    """The configured public base URL (no trailing slash); the FHIR base and token URL hang off it."""
    url = config.get("BASE_URL")
    if not url:
        raise RuntimeError("SICDOC_BASE_URL is not set; set it to the public address of this server")
    return str(url)


def normalise_base_url(url: str) -> str:
    """``scheme://host[:port][/path]`` without a trailing slash; RuntimeError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise RuntimeError(
            f"SICDOC_BASE_URL must be an http(s) address such as https://sicdoc.example.org, not '{url}'"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _check_time_zone(app: Flask) -> None:
    """The forms read and show times in this zone: an unknown name must stop the start, not a form."""
    name = str(app.config.get("TIME_ZONE") or "")
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise RuntimeError(
            f"SICDOC_TIME_ZONE must be an IANA time zone such as Europe/London, not '{name}'"
        ) from None


def _check_date_order(app: Flask) -> None:
    order = str(app.config.get("DATE_ORDER") or "").upper()
    if order not in ("MDY", "DMY"):
        raise RuntimeError(f"SICDOC_DATE_ORDER must be MDY or DMY, not '{app.config.get('DATE_ORDER')}'")
    app.config["DATE_ORDER"] = order


def _check_analytics_mode(app: Flask) -> None:
    mode = str(app.config.get("ANALYTICS_MODE") or "").strip().lower()
    if mode not in ("local", "shared"):
        raise RuntimeError(
            f"SICDOC_ANALYTICS_MODE must be 'local' or 'shared', not '{app.config.get('ANALYTICS_MODE')}'"
        )
    app.config["ANALYTICS_MODE"] = mode
    value = app.config.get("ANALYTICS_WAIT_SECONDS")
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise RuntimeError(
            f"SICDOC_ANALYTICS_WAIT_SECONDS must be a number of seconds from 0 to 3600, not '{value}'"
        )
    app.config["ANALYTICS_WAIT_SECONDS"] = seconds


# The settings a process started beside the server (the analytics worker) must share with it to build
# the same results: given as the server resolved them, so demo mode's fresh secret key and settings
# passed as overrides reach it too.
_SHARED_WITH_CHILDREN = (
    "DATABASE_URL",
    "SECRET_KEY",
    "AUDIT_KEY",
    "BASE_URL",
    "DEMO",
    "TESTING",
    "VALUE_SET_FILE",
    "DASHBOARDS_DIR",
    "DASHBOARD_CACHE_SECONDS",
    "QI_CLINICIAN_LABELS",
    "QI_PSEUDONYM_KEY",
    "ANALYTICS_MODE",
    "ANALYTICS_WAIT_SECONDS",
)


def child_environment(config: Mapping[str, Any]) -> dict[str, str]:
    """This process's environment plus its resolved settings, for a child process that builds what
    this one serves. Values are JSON, which ``from_prefixed_env`` reads back unchanged."""
    env = dict(os.environ)
    for name in _SHARED_WITH_CHILDREN:
        value = config.get(name)
        if value is not None:
            env[f"SICDOC_{name}"] = json.dumps(value)
    return env


def _check_whole_numbers(app: Flask, *names: str) -> None:
    for name in names:
        value = app.config.get(name)
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value)
        if number is None or number < 0:
            raise RuntimeError(f"SICDOC_{name} must be a whole number of 0 or more, not '{value}'")
        app.config[name] = number
