"""Finding a patient, the patient page (header, drafts, referral form, timeline) and referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app, flash, g, redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from sicdoc.services import accounts, chart_header, charts, patient_search, worklist
from sicdoc.services.conversations import AnswersRefused, list_drafts
from sicdoc.services.referrals import URGENCIES, record_referral
from sicdoc.views.analytics_http import default_scope
from sicdoc.views.forms import SAVED, bp, local, local_now, render_status, require_same
from sicdoc.views.guard import unit
from sicdoc.views.identity import current_clinician


@bp.get("/patients")
def find_patient() -> tuple[str, int]:
    query = request.args.get("q", "")
    work = unit()
    order = current_app.config["DATE_ORDER"]
    found = patient_search.find_patients(work, query, order) if query.strip() else None
    recent_ids = accounts.recent_patient_ids(work.session, g.get("session_cookie"))
    return render_status(
        "forms/search.html",
        200,
        query=query,
        found=found,
        date_example="12/07/1943" if order == "MDY" else "07/12/1943",
        mrn_example=next((c.mrn for c in charts.recently_updated(work, 1) if c.mrn), None),
        recent=charts.patient_cards(work, list(recent_ids)),
        updated=charts.recently_updated(work),
    )


def _remember(patient_id: str) -> None:
    """Recently viewed patients of this login, newest first, kept in its server-side session: noted
    with the page's audit records, so only a chart that was shown is listed."""
    raw = g.session_cookie
    unit().write_with_records(lambda session: accounts.remember_patient(session, raw, patient_id))


@bp.get("/patients/<patient_id>")
def patient_page(patient_id: str) -> tuple[str, int]:
    return _patient_page(patient_id)


def _patient_page(
    patient_id: str, referral: MultiDict[str, str] | None = None, errors: dict[str, str] | None = None
) -> tuple[str, int]:
    work = unit()
    patient = charts.patient_card(work, patient_id)  # 404 for an unknown patient
    _remember(patient_id)
    header = chart_header.header(work, patient_id)
    due = worklist.due(work, default_scope(), patient_id)
    conditions = charts.conditions(work, patient_id)
    context: dict[str, Any] = {
        "patient": patient,
        "header": header,
        "header_when": local(header.when),
        "drafts": list_drafts(work, patient_id),
        "timeline": charts.timeline(work, patient_id, conditions),
        "conditions": conditions,
        "urgencies": URGENCIES,
        "referral": referral
        or MultiDict({"authored_on": local_now().date().isoformat(), "urgency": "routine"}),
        "errors": errors or {},
        "local": local,
        "day": _day,
        "due": due,
        "snoozed": worklist.snooze_of(work, patient_id, local_now().date()),
    }
    return render_status("forms/patient.html", 422 if errors else 200, **context)


def _day(value: datetime | date | None) -> str:
    """A documented date as the site reads it."""
    if isinstance(value, datetime):
        return local(value).date().isoformat()
    return value.isoformat() if value else "date unknown"


@bp.post("/patients/<patient_id>/referrals")
def new_referral(patient_id: str) -> Response | tuple[str, int]:
    charts.patient_card(unit(), patient_id)
    require_same("patient_id", patient_id)
    form = request.form
    authored_on: date | None = None
    errors: dict[str, str] = {}
    try:
        authored_on = date.fromisoformat(form.get("authored_on", "").strip())
    except ValueError:
        errors["authored_on"] = "Enter the referral date as a date, for example 2026-03-02."
    try:
        if not errors:
            record_referral(
                unit(),
                patient_id,
                current_clinician(),
                authored_on=authored_on,
                reason=form.get("reason", ""),
                urgency=form.get("urgency", ""),
                condition_id=form.get("condition_id") or None,
                today=local_now().date(),
            )
    except AnswersRefused as exc:
        errors = exc.errors
    if errors:
        return _patient_page(patient_id, form, errors)
    flash("Palliative care referral recorded.", SAVED)
    return redirect(url_for("forms.patient_page", patient_id=patient_id) + "#timeline")
