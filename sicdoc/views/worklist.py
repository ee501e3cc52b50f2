"""Clinician worklist (clinician role): living cohort patients due a serious illness conversation.

Paged, filtered by cohort, place, "in hospital now" and "my patients"; a patient can be snoozed
until a date with a reason, and snoozed patients are listed on their own.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from sicdoc.analytics.scope import Scope, ScopeError
from sicdoc.services import accounts
from sicdoc.services import worklist as snoozes
from sicdoc.services.conversations import AnswersRefused
from sicdoc.valuesets import COHORTS
from sicdoc.views.analytics_http import request_scope, service
from sicdoc.views.forms import local_now
from sicdoc.views.guard import unit
from sicdoc.views.identity import current_clinician

bp = Blueprint("worklist", __name__)
PAGE_SIZE = 50
PRIORITIES = {1: "metastatic cancer", 2: "2+ heart-failure admissions in a year", 3: "standard"}
# Query parameters of the worklist's own filters, kept across paging and snoozing.
VIEW_PARAMS = ("cohort", "site", "unit", "as_of", "in_hospital", "mine", "snoozed")


def _context() -> dict[str, Any]:
    return {"cohorts": COHORTS, "places": service().places(), "priorities": PRIORITIES}


@bp.errorhandler(ScopeError)
def _bad_scope(error: ScopeError) -> tuple[str, int]:
    """A filter that cannot be used is shown above the filters, with no rows."""
    return render_template(
        "worklist/index.html", error=str(error), rows=[], total=0, scope=None, view=_view(), **_context()
    ), 400


def _view() -> dict[str, Any]:
    return {name: request.args.get(name, "") for name in VIEW_PARAMS}


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ScopeError(f"page must be a whole number from 1, not '{raw[:20]}'")
    return int(raw)


def _mine() -> set[str]:
    """The clinician's patients: those viewed in this login and those whose conversations they started."""
    work = unit()
    recent = accounts.recent_patient_ids(work.session, g.get("session_cookie"))
    return set(recent) | snoozes.drafted_by(work, current_clinician().id)


def _render(status: int = 200, **extra: Any) -> tuple[str, int]:
    scope: Scope = request_scope()
    view = _view()
    page = _page()
    today = local_now().date()
    asleep = snoozes.active_snoozes(unit(), today)
    show_snoozed = view["snoozed"] == "1"
    mine = _mine() if view["mine"] == "1" else None
    only: set[str] | None
    if show_snoozed:
        only, hide = (set(asleep) if mine is None else mine & set(asleep)), set()
    else:
        only, hide = mine, set(asleep)
    table, total = service().worklist(
        scope,
        in_hospital=view["in_hospital"] == "1",
        only=only,
        hide=hide,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    rows = table.to_dict("records")
    unit().disclose("worklist", patients=[str(r["patient_id"]) for r in rows], resource_type="Patient")
    pages = max(1, -(-total // PAGE_SIZE))
    query = {k: v for k, v in view.items() if v}
    return render_template(
        "worklist/index.html",
        error=None,
        rows=rows,
        total=total,
        scope=scope,
        view=view,
        page=page,
        pages=pages,
        first=(page - 1) * PAGE_SIZE + 1,
        snoozes=asleep,
        snoozed_count=len(asleep),
        today=today,
        here=urlencode({**query, "page": page}),
        link=lambda n: "?" + urlencode({**query, "page": n}),
        due_link="?" + urlencode({k: v for k, v in query.items() if k != "snoozed"}),
        snoozed_link="?" + urlencode({**query, "snoozed": "1"}),
        snooze_errors=extra.pop("snooze_errors", {}),
        **_context(),
        **extra,
    ), status


@bp.get("/worklist")
def index() -> tuple[str, int]:
    return _render()


def _back() -> Response:
    """The worklist page the form was sent from: its filters and page ride on the form's action URL."""
    query = request.query_string.decode("ascii", "replace")
    return redirect(url_for("worklist.index") + ("?" + query if query else ""))


@bp.post("/worklist/snooze")
def snooze() -> Response | tuple[str, int]:
    patient_id = request.form.get("patient_id", "")
    raw_until = request.form.get("until", "").strip()
    try:
        until = date.fromisoformat(raw_until) if raw_until else None
    except ValueError:
        until = None
    try:
        if raw_until and until is None:
            raise AnswersRefused({"until": "Give the date as YYYY-MM-DD (the date picker does this)."})
        snoozes.snooze(
            unit(),
            patient_id,
            until,
            request.form.get("reason", ""),
            current_clinician().display,
            local_now().date(),
        )
    except AnswersRefused as refused:
        typed = {"until": raw_until, "reason": request.form.get("reason", "")}
        return _render(400, snooze_errors={patient_id: {"errors": refused.errors, "typed": typed}})
    flash(f"Snoozed until {until}: the patient is listed under “snoozed” until then.")
    return _back()


@bp.post("/worklist/wake")
def wake() -> Response:
    snoozes.wake(unit(), request.form.get("patient_id", ""), current_clinician().display, local_now().date())
    flash("The patient is back on the worklist.")
    return _back()
