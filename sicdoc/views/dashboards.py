"""QI dashboards (QI analyst role): the dashboard pages and a CSV per panel table.

plotly.js is a static asset (views/assets.py), served from the installed plotly package under a hashed name.

Filters live in the query string, so a view can be shared as a link; everything shown is suppressed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from markupsafe import Markup

from sicdoc.analytics.scope import ScopeError
from sicdoc.dashboards.definitions import Dashboard
from sicdoc.dashboards.download import csv_name, table_csv
from sicdoc.figures.look import template_json
from sicdoc.valuesets import COHORTS
from sicdoc.views.analytics_http import qi_request_scope, service

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")


def figure_data(json_text: str) -> Markup:
    """Figure JSON made safe inside a <script type="application/json"> block (no "</script>")."""
    # <, > and & are escaped, so the text cannot end the script block or open markup.
    return Markup(json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


def _context(board: Dashboard) -> dict[str, Any]:
    analytics = service()
    return {
        "board": board,
        # The default board first, then the others in file order.
        "boards": sorted(analytics.definitions.values(), key=lambda b: b is not analytics.default_board),
        "cohorts": COHORTS,
        "places": analytics.places(),
        "figure_data": figure_data,
    }


@bp.errorhandler(ScopeError)
def _bad_scope(error: ScopeError) -> Response | tuple[str, int]:
    """A filter that cannot be used: the CSV answers in plain text, a page shows it above its filters."""
    if request.endpoint == "dashboards.panel_csv":
        return Response(f"{error}\n", status=400, mimetype="text/plain")
    analytics = service()
    board = (
        analytics.definitions.get((request.view_args or {}).get("board_id", "")) or analytics.default_board
    )
    return render_template(
        "dashboards/dashboard.html", error=str(error), built=None, scope=None, **_context(board)
    ), 400


def _render(board: Dashboard) -> tuple[str, int]:
    analytics = service()
    scope = qi_request_scope(board.default_period_months)
    view = analytics.dashboard_view(board, scope)

    query: dict[str, Any] = scope.query()  # url_for's own keywords are not strings
    csv_links = {p["id"]: url_for("dashboards.panel_csv", panel_id=p["id"], **query) for p in board.panels}
    return render_template(
        "dashboards/dashboard.html",
        error=None,
        built=view.built,
        stale_since=view.stale_since,
        figure_template=template_json(),
        scope=scope,
        csv_links=csv_links,
        **_context(board),
    ), 200


@bp.get("/")
def index() -> tuple[str, int]:
    return _render(service().default_board)


@bp.get("/<board_id>")
def show(board_id: str) -> tuple[str, int]:
    board = service().definitions.get(board_id)
    if board is None:
        abort(404)
    return _render(board)


@bp.get("/<panel_id>.csv")
def panel_csv(panel_id: str) -> Response:
    analytics = service()
    board = analytics.board_for_panel(panel_id)
    if board is None:
        abort(404)
    scope = qi_request_scope(board.default_period_months)
    built = analytics.dashboard(board, scope)
    panel = built.panel(panel_id)
    assert panel is not None
    name = csv_name(panel_id, scope)  # ASCII letters, digits, hyphens: safe in the header as is
    return Response(
        table_csv(panel.table, scope, built.report.get("data_complete_through")),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
