"""Request glue shared by the dashboard, metrics API and worklist views: the service and the scope."""

from __future__ import annotations

from flask import current_app, request

from sicdoc.analytics.scope import Scope, parse_scope
from sicdoc.dashboards.service import AnalyticsService, today_utc

SCOPE_PARAMS = ("cohort", "from", "to", "as_of", "site", "unit")


def service() -> AnalyticsService:
    return current_app.extensions["sicdoc.analytics"]


def request_scope(default_months: int | None = None) -> Scope:
    """The scope in the query string (raises ``ScopeError`` with a message for the user)."""
    params = {name: request.args.get(name) for name in SCOPE_PARAMS}
    return parse_scope(params, today=today_utc(), default_months=default_months)
