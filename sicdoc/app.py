"""The composition root: ``create_app`` wires configuration, database, store, blueprints and CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

from sicdoc import db
from sicdoc.config import load_config
from sicdoc.store import Projector, Store
from sicdoc.valuesets import load as load_value_sets

if TYPE_CHECKING:
    from sicdoc.dashboards.service import AnalyticsService


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    # /static/ is served by views/assets.py (hashed names, long cache, gzip), not by Flask's own route.
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    load_config(app, overrides)
    db.init_app(app)
    value_sets = load_value_sets(app.config.get("VALUE_SET_FILE"))
    app.extensions["sicdoc.value_sets"] = value_sets
    app.extensions["sicdoc.store"] = Store(
        Projector(value_sets),
        unique_systems=app.config["UNIQUE_IDENTIFIER_SYSTEMS"],
        local_bases=_fhir_bases(app),
    )
    app.extensions["sicdoc.analytics"] = _analytics(app, value_sets.version)

    from flask_wtf.csrf import CSRFProtect

    from sicdoc.views import (
        admin,
        assets,
        auth,
        case_review,
        dashboards,
        fhir_api,
        forms,
        guard,
        home,
        limits,
        metrics_api,
        oauth,
        worklist,
    )

    guard.init_app(app)
    assets.init_app(app)
    csrf = CSRFProtect(app)
    limits.init_app(app)
    _trust_proxies(app)
    for blueprint in (
        fhir_api.bp,
        oauth.bp,
        auth.bp,
        home.bp,
        admin.bp,
        dashboards.bp,
        metrics_api.bp,
        worklist.bp,
        case_review.bp,
    ):
        app.register_blueprint(blueprint)
    # Bearer-token and client-authenticated endpoints: no cookie is accepted, so there is nothing to forge.
    csrf.exempt(fhir_api.bp)
    csrf.exempt(oauth.bp)
    forms.init_app(app)
    _register_fhir_fallbacks(app)
    from sicdoc.views.errors import register as register_web_errors

    register_web_errors(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For/-Proto only from the configured number of trusted proxies (none by default)."""
    proxies = int(app.config["PROXY_FIX"])
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]


def _fhir_bases(app: Flask) -> tuple[str, ...]:
    """This server's FHIR base, whose absolute references are local (none yet in demo mode without one)."""
    url = app.config.get("BASE_URL")
    return (f"{url}/fhir",) if url else ()


def _analytics(app: Flask, value_set_version: str) -> AnalyticsService:
    from pathlib import Path

    from sicdoc.dashboards.definitions import DefinitionError, load_definitions
    from sicdoc.dashboards.service import AnalyticsService

    try:
        definitions = load_definitions(Path(app.config["DASHBOARDS_DIR"]))
    except DefinitionError as exc:
        raise RuntimeError(f"dashboard definitions in {app.config['DASHBOARDS_DIR']}: {exc}") from None
    service = AnalyticsService(app.extensions["sicdoc.engine"], definitions, value_set_version)
    service.set_max_age(float(app.config["DASHBOARD_CACHE_SECONDS"]))
    service.set_clinician_labels(
        app.config["QI_CLINICIAN_LABELS"], str(app.config.get("QI_PSEUDONYM_KEY") or app.config["SECRET_KEY"])
    )
    if app.config["ANALYTICS_MODE"] == "shared":
        from sicdoc.dashboards.shared import SharedResults

        service.use_shared(SharedResults.from_config(service.engine, app.config))
    return service


def _register_fhir_fallbacks(app: Flask) -> None:
    """Errors raised before a blueprint is chosen (unknown URL, wrong method, body too large)."""
    from werkzeug.exceptions import HTTPException

    from sicdoc.views.fhir_api import _http_error

    @app.errorhandler(HTTPException)
    def _fallback(error: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/fhir"):
            return _http_error(error)
        return error

    _watch_writes(app)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | tuple[str, int]:
        app.logger.exception("unhandled error on %s", request.path)
        session = g.get("db_session")
        if session is not None and session.in_transaction():
            session.rollback()  # whatever was not committed is undone here
        committed = session is not None and session.info.get(_COMMITTED, False)
        message = (
            "Internal error; part of the request may have been stored: read it back before retrying"
            if committed
            else "Internal error; the request changed nothing"
        )
        if request.path.startswith("/fhir"):
            from sicdoc.errors import SicdocError
            from sicdoc.views.fhir_api import outcome_response

            resp = outcome_response(SicdocError(message, code="exception"))
            resp.status_code = 500
            return resp
        return message, 500


# Tables whose rows are not the request's data: the audit log and the security bookkeeping.
_NOT_DATA = frozenset(
    {
        "audit_event",
        "audit_event_patient",
        "audit_unkeyed_prefix",
        "app_user",
        "user_session",
        "integration_client",
        "used_jti",
        "access_token",
        "rate_limit_counter",
    }
)
_WRITING, _COMMITTED = "sicdoc.writing", "sicdoc.committed"


def _watch_writes(app: Flask) -> None:
    """Note in each session whether a transaction that wrote data was committed.

    The last-resort error handler may then say "changed nothing" only when that is true.
    """
    from sqlalchemy import event
    from sqlalchemy.orm import ORMExecuteState, Session

    maker = app.extensions["sicdoc.sessionmaker"]

    @event.listens_for(maker, "do_orm_execute")
    def _executed(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            if getattr(table, "name", None) not in _NOT_DATA:
                state.session.info[_WRITING] = True

    @event.listens_for(maker, "after_flush")
    def _flushed(session: Session, _context: object) -> None:
        changed = [*session.new, *session.dirty, *session.deleted]
        if any(getattr(obj, "__tablename__", None) not in _NOT_DATA for obj in changed):
            session.info[_WRITING] = True

    @event.listens_for(maker, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(_WRITING, False):
            session.info[_COMMITTED] = True

    @event.listens_for(maker, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_WRITING, None)
