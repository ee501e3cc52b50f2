"""The JSON API outside FHIR: ``GET /api/metrics`` (QI analyst role), the suppressed metrics report,
whole months only, and ``GET /api/openapi.json`` (public), the description of the JSON endpoints."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from sicdoc import __version__
from sicdoc.analytics.scope import ScopeError
from sicdoc.schemas import Invalid, check
from sicdoc.schemas.errors import ApiErrorSchema
from sicdoc.schemas.metrics import MetricsQuerySchema, MetricsReportSchema
from sicdoc.schemas.openapi import openapi_description
from sicdoc.views.analytics_http import qi_request_scope, service
from sicdoc.views.guard import cookie_name

bp = Blueprint("api", __name__, url_prefix="/api")


def _json(body: object, status: int = 200) -> Response:
    # json.dumps, not jsonify: jsonify sorts keys, and cohorts read best in their canonical order.
    return Response(json.dumps(body), status, mimetype="application/json")


@bp.get("/metrics")
def metrics() -> Response:
    try:
        check(MetricsQuerySchema(), request.args)
        scope = qi_request_scope()
    except (Invalid, ScopeError) as exc:
        return _json(ApiErrorSchema().dump({"error": "bad_request", "message": str(exc)}), 400)
    return _json(MetricsReportSchema().dump(service().report(scope, suppress=True)))


@bp.get("/openapi.json")
def openapi() -> Response:
    """Public: it describes the shape of the answers and how to authenticate, never any data."""
    cached = current_app.extensions.get("sicdoc.openapi")
    if cached is None:
        cached = current_app.extensions["sicdoc.openapi"] = openapi_description(
            base_url=current_app.config["BASE_URL"], session_cookie=cookie_name(), version=__version__
        )
    return _json(cached)
