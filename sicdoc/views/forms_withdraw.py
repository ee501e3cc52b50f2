"""Taking something back: marking a signed note entered-in-error, and discarding a draft.

Both are confirmed on a page of their own (a plain form, so they work without scripts) and neither
deletes anything: the withdrawn note stays readable, marked, and the discarded draft keeps its row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from sicdoc.errors import Conflict
from sicdoc.services import charts
from sicdoc.services import conversations as svc
from sicdoc.services.conversations.drafts import discard_draft
from sicdoc.services.conversations.entered_in_error import (
    ENTERED_IN_ERROR,
    REASON_MAX,
    AlreadyWithdrawn,
    mark_entered_in_error,
    withdrawal,
)
from sicdoc.services.conversations.history import ConversationRecord, author_of
from sicdoc.views.forms import SAVED, bp, local, render_status, require_same
from sicdoc.views.guard import unit
from sicdoc.views.identity import current_clinician

Page = Response | tuple[str, int]


def _version() -> int | None:
    """The version the page was opened on, so a change made meanwhile is shown before it is undone."""
    value = request.form.get("version", "")
    if value and not value.isdigit():
        abort(400, description="The form's version field is not valid.")
    return int(value) if value else None


@bp.route("/conversations/<procedure_id>/entered-in-error", methods=["GET", "POST"])
def entered_in_error(procedure_id: str) -> Page:
    work = unit()
    record = svc.conversation_record(work, procedure_id)
    if request.method == "GET":
        return _confirm(record)
    require_same("patient_id", record.patient_id)
    reason = request.form.get("reason", "")
    try:
        mark_entered_in_error(work, procedure_id, current_clinician(), reason, expected_version=_version())
    except AlreadyWithdrawn as exc:
        return _confirm(record, 409, refused=str(exc))
    except svc.AnswersRefused as exc:
        return _confirm(record, 422, errors=exc.errors, reason=reason)
    except svc.DraftConflict as exc:
        fresh = svc.conversation_record(work, procedure_id)
        return _confirm(fresh, 409, refused=str(exc), reason=reason)
    flash("The note is marked entered in error. It no longer counts anywhere but stays readable here.", SAVED)
    return redirect(url_for("forms.conversation", procedure_id=procedure_id))


def _confirm(record: ConversationRecord, status: int = 200, **extra: Any) -> tuple[str, int]:
    work = unit()
    content = record.procedure.content or {}
    start = (content.get("performedPeriod") or {}).get("start") or content.get("performedDateTime")
    withdrawn = content.get("status") == ENTERED_IN_ERROR
    context: dict[str, Any] = {
        "record": record,
        "patient": charts.patient_card(work, record.patient_id),
        "when": local(datetime.fromisoformat(start)) if start else None,
        "author": author_of(work.session, content),
        "withdrawn": withdrawal(work, record.procedure.id) if withdrawn else None,
        "already": withdrawn,
        "errors": {},
        "reason": "",
        "reason_max": REASON_MAX,
        "local": local,
        **extra,
    }
    if withdrawn and status == 200:
        status = 409
    return render_status("forms/entered_in_error.html", status, **context)


@bp.route("/drafts/<draft_id>/discard", methods=["GET", "POST"])
def discard(draft_id: str) -> Page:
    work = unit()
    found = svc.get_draft(work, draft_id)
    if found.status != "draft":
        flash(f"This draft is already {found.status}; nothing was discarded.")
        return redirect(url_for("forms.patient_page", patient_id=found.patient_id))
    if request.method == "POST":
        require_same("patient_id", found.patient_id)
        try:
            discard_draft(work, draft_id, found.patient_id, _version())
        except Conflict as exc:
            return _discard_page(found, 409, refused=str(exc))
        flash("Draft discarded.", SAVED)
        return redirect(url_for("forms.patient_page", patient_id=found.patient_id))
    return _discard_page(found)


def _discard_page(draft: Any, status: int = 200, **extra: Any) -> tuple[str, int]:
    return render_status(
        "forms/discard_draft.html",
        status,
        draft=draft,
        patient=charts.patient_card(unit(), draft.patient_id),
        local=local,
        **extra,
    )
