"""The composition root: ``create_app`` wires configuration, database, store, blueprints and CLI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, request

from sicdoc import db
from sicdoc.config import load_config
from sicdoc.store import Projector, Store
from sicdoc.valuesets import load as load_value_sets


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    load_config(app, overrides)
    db.init_app(app)
    value_sets = load_value_sets(app.config.get("VALUE_SET_FILE"))
    app.extensions["sicdoc.value_sets"] = value_sets
    app.extensions["sicdoc.store"] = Store(Projector(value_sets))

    from sicdoc.views import fhir_api, forms

    app.register_blueprint(fhir_api.bp)
    forms.init_app(app)
    _protect_forms(app, fhir_api.bp)
    _register_fhir_fallbacks(app)
    return app


def _protect_forms(app: Flask, api: Blueprint) -> None:
    """CSRF tokens on every form post. The FHIR API is exempt: its clients send no cookies or tokens."""
    from flask_wtf.csrf import CSRFProtect

    csrf = app.extensions.get("csrf")
    if csrf is None:
        csrf = CSRFProtect(app)
    csrf.exempt(api)


def _register_fhir_fallbacks(app: Flask) -> None:
    """Errors raised before a blueprint is chosen (unknown URL, wrong method, body too large)."""
    from werkzeug.exceptions import HTTPException

    from sicdoc.views.fhir_api import _http_error

    @app.errorhandler(HTTPException)
    def _fallback(error: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/fhir"):
            return _http_error(error)
        return error

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | tuple[str, int]:
        app.logger.exception("unhandled error on %s", request.path)
        if request.path.startswith("/fhir"):
            from sicdoc.errors import SicdocError
            from sicdoc.views.fhir_api import outcome_response

            resp = outcome_response(
                SicdocError("Internal error; the request changed nothing", code="exception")
            )
            resp.status_code = 500
            return resp
        return "Internal error", 500
