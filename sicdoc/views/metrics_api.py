"""``GET /api/metrics`` (QI analyst role): the suppressed metrics report as JSON, whole months only."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify

from sicdoc.analytics.scope import ScopeError
from sicdoc.views.analytics_http import qi_request_scope, service

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int]:
    try:
        scope = qi_request_scope()
    except ScopeError as exc:
        return jsonify({"error": "bad_request", "message": str(exc)}), 400
    # json.dumps, not jsonify: jsonify sorts keys, and cohorts read best in their canonical order.
    return Response(json.dumps(service().report(scope, suppress=True)), mimetype="application/json")
