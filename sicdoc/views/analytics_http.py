"""Request glue shared by the dashboard, metrics API and worklist views: the service and the scope."""

from __future__ import annotations

from flask import current_app, request

from sicdoc.analytics.scope import Scope, parse_qi_scope, parse_scope
from sicdoc.dashboards.service import AnalyticsService, today_utc

SCOPE_PARAMS = ("cohort", "from", "to", "as_of", "site", "unit", "grouping")


def service() -> AnalyticsService:
    return current_app.extensions["sicdoc.analytics"]


def _params() -> dict[str, str | None]:
    return {name: request.args.get(name) for name in SCOPE_PARAMS}


def request_scope(default_months: int | None = None) -> Scope:
    """The day-level scope in the query string, for clinicians' pages (the worklist) only.

    Raises ``ScopeError`` with a message for the user.
    """
    return parse_scope(_params(), today=today_utc(), default_months=default_months)


def default_scope() -> Scope:
    """Every cohort and place, as of today: the scope of a patient's own "conversation due" notice."""
    return parse_scope({}, today=today_utc())


def qi_request_scope(default_months: int | None = None) -> Scope:
    """The scope of a QI answer in the query string: whole months only (``parse_qi_scope``)."""
    return parse_qi_scope(_params(), today=today_utc(), default_months=default_months)
