"""Web answers for refusals outside the rule table (a forged form, too many attempts) and for any
``SicdocError`` no blueprint answers itself: JSON, OperationOutcome or the error page by face."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import TooManyRequests

from sicdoc.db import get_session
from sicdoc.errors import ConfigurationError, SicdocError
from sicdoc.schemas.oauth import OAuthErrorSchema
from sicdoc.security import audit
from sicdoc.security.audit import AuditUnavailable
from sicdoc.views.guard import current_actor, error_response

CSRF_MESSAGE = "This form was missing its security token or it had expired; nothing was changed. Reload the page and try again."
LOGIN_THROTTLED = "Too many log-in attempts from your address. Wait a minute, then try again."


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(429, _throttled)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(DataError, _unstorable_value)
    app.register_error_handler(SicdocError, _refused)


def _refused(error: SicdocError) -> Response:
    if isinstance(error, ConfigurationError):
        # A wiring mistake: logged for whoever runs the server, never shown to the user.
        current_app.logger.error("configuration error on %s: %s", request.path, error)
        return error_response(
            SicdocError("Internal error; the request changed nothing", code="exception"), 500
        )
    return error_response(error)


def _unstorable_value(error: DataError) -> Response:
    """A value the database refused (a NUL the input checks missed, a number out of a column's range): 400.

    The statement failed, so its transaction is rolled back here; nothing of it was stored.
    """
    current_app.logger.warning("database refused a value on %s: %s", request.path, error.orig)
    session = g.get("db_session")
    if session is not None and session.in_transaction():
        session.rollback()
    return error_response(
        SicdocError(
            "A value in the request cannot be stored or compared; nothing was changed.", code="value"
        ),
        400,
    )


def _database_unavailable(error: OperationalError) -> Response:
    """A lost connection or a locked database: 503 (try again), never a 500 and never partial data."""
    current_app.logger.warning("database unavailable on %s: %s", request.path, error.orig)
    resp = error_response(
        SicdocError("The database is unavailable; nothing was changed. Try again shortly.", code="transient"),
        503,
    )
    resp.headers["Retry-After"] = "5"
    return resp


def _audit(action: str, detail: str) -> Response | None:
    try:
        audit.record(get_session(), current_actor(), action, "denied", detail=detail)
    except AuditUnavailable as exc:
        return error_response(exc)
    return None


def _csrf_refused(error: CSRFError) -> Response:
    failed = _audit("access", f"{request.method} {request.endpoint}: CSRF check failed ({error.description})")
    return failed or error_response(SicdocError(CSRF_MESSAGE, code="forbidden"), 400)


def _throttled(error: TooManyRequests) -> Response:
    action = "login" if request.endpoint == "auth.login" else "access"
    failed = _audit(action, f"{request.method} {request.endpoint}: rate limit {error.description}")
    if failed:
        return failed
    if request.endpoint == "auth.login":
        from sicdoc.views.auth import LoginForm

        resp = Response(render_template("auth/login.html", form=LoginForm(), error=LOGIN_THROTTLED), 429)
    elif request.blueprint == "oauth":
        body = {"error": "temporarily_unavailable", "error_description": "Too many token requests; slow down"}
        resp = jsonify(OAuthErrorSchema().dump(body))
        resp.status_code = 429
    else:
        resp = error_response(SicdocError("Too many requests; slow down", code="throttled"), 429)
    resp.headers["Retry-After"] = "60"
    return resp
