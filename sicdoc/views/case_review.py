"""End-of-life case review (clinician role): decedents whose care at the end of life went against
the care focus or code status last documented for them, for morbidity-and-mortality review.

Filtered by the death date (from/to; by default the last 12 complete months) and the patient's site.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, render_template, request

from sicdoc.analytics.case_review import (
    COMFORT_SIGNAL,
    DNR_CPR_SIGNAL,
    DNR_DNI_INTUBATION_SIGNAL,
    Documentation,
)
from sicdoc.analytics.frames import Where
from sicdoc.analytics.scope import EARLIEST, MAX_TEXT, last_complete_month_end, months_before
from sicdoc.dashboards.service import today_utc
from sicdoc.questionnaires import option_display
from sicdoc.services import case_review
from sicdoc.views.analytics_http import service
from sicdoc.views.guard import unit

bp = Blueprint("reviews", __name__)
DEFAULT_MONTHS = 12
SIGNAL_LABELS = {
    COMFORT_SIGNAL: "Comfort-focused care, then ICU, CPR or mechanical ventilation in the last 30 days",
    DNR_CPR_SIGNAL: "DNR, then CPR on a later day",
    DNR_DNI_INTUBATION_SIGNAL: "DNR/DNI, then intubation on a later day",
}
EVENT_LABELS = {
    "icu": "ICU stay",
    "cpr": "CPR",
    "ventilation": "Mechanical ventilation",
    "intubation": "Intubation",
}
PLACE_LABELS = {
    "icu": "In the ICU",
    "hospital": "In hospital",
    "not_in_hospital": "Not in hospital (no inpatient stay recorded on the day)",
}
TOPIC_LABELS = {"care_focus": "Care focus", "code_status": "Code status"}


def _filters(today: date) -> tuple[Where, dict[str, str], dict[str, str]]:
    """The period and site asked for, the values as typed, and a message per field that cannot be used."""
    typed = {name: request.args.get(name, "").strip() for name in ("from", "to", "site")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = typed[name]
        days[name] = None
        if not raw:
            continue
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            errors[name] = f"Give the date as YYYY-MM-DD (the date picker does this), not “{raw[:40]}”."
            continue
        if day < EARLIEST:
            errors[name] = f"The date must be {EARLIEST.isoformat()} or later."
        else:
            days[name] = day
    start, end = days["from"], days["to"]
    if start and end and start > end:
        errors["to"] = "The end of the period must not be before its start."
    if len(typed["site"]) > MAX_TEXT:
        errors["site"] = f"A site name is at most {MAX_TEXT} characters."
    if start is None and end is None and not errors:
        # The last 12 complete months: a month still running would be reviewed half-way.
        end = last_complete_month_end(today)
        start = months_before(end.replace(day=1), DEFAULT_MONTHS - 1)
    return Where(start, end, typed["site"] or None), typed, errors


def _value(doc: Documentation) -> str:
    link = "care-focus" if doc.topic == "care_focus" else "code-status"
    return option_display(link, doc.value) or doc.value


@bp.get("/reviews/end-of-life")
def end_of_life() -> tuple[str, int]:
    today = today_utc()
    where, typed, errors = _filters(today)
    context: dict[str, Any] = {
        "where": where,
        "typed": typed,
        "errors": errors,
        "sites": service().places()["sites"],
        "today": today,
        "signal_labels": SIGNAL_LABELS,
        "event_labels": EVENT_LABELS,
        "place_labels": PLACE_LABELS,
        "topic_labels": TOPIC_LABELS,
        "value_of": _value,
    }
    if errors:
        return render_template("reviews/end_of_life.html", review=None, **context), 400
    review = case_review.end_of_life_cases(unit(), service(), where, today)
    return render_template("reviews/end_of_life.html", review=review, **context), 200
