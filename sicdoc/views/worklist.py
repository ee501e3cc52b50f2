"""Clinician worklist (clinician role): living cohort patients due a serious illness conversation."""

from __future__ import annotations

from flask import Blueprint, render_template

from sicdoc.analytics.scope import ScopeError
from sicdoc.valuesets import COHORTS
from sicdoc.views.analytics_http import request_scope, service
from sicdoc.views.guard import unit

bp = Blueprint("worklist", __name__)
REASONS = {
    "no_sic_after_index": "no conversation 30+ days after diagnosis",
    "no_sic_since_admission": "no conversation since a recent admission",
}
PRIORITIES = {1: "metastatic cancer", 2: "2+ heart-failure admissions in a year", 3: "due"}


@bp.get("/worklist")
def index() -> tuple[str, int]:
    analytics = service()
    context = {"cohorts": COHORTS, "places": analytics.places(), "reasons": REASONS, "priorities": PRIORITIES}
    try:
        scope = request_scope()
    except ScopeError as exc:
        return render_template(
            "worklist/index.html", error=str(exc), rows=[], total=0, scope=None, **context
        ), 400
    table, total = analytics.worklist(scope)
    rows = table.to_dict("records")
    unit().disclose("worklist", patients=[str(r["patient_id"]) for r in rows], resource_type="Patient")
    return render_template(
        "worklist/index.html", error=None, rows=rows, total=total, scope=scope, **context
    ), 200
