"""The conversation form (new, draft, sign), the read and print view, amendment and history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from sicdoc.conversation import Answer
from sicdoc.conversation.form import WHEN_FIELD, diff_answers, form_fields, parse_form, parse_when
from sicdoc.errors import Conflict, Unprocessable
from sicdoc.services import charts
from sicdoc.services import conversations as svc
from sicdoc.services.conversations import prognosis
from sicdoc.services.conversations.drafts import NothingToSave
from sicdoc.services.conversations.entered_in_error import ENTERED_IN_ERROR, withdrawal
from sicdoc.services.conversations.history import author_of, signed_late
from sicdoc.views.forms import (
    SAVED,
    bp,
    local,
    local_now,
    raw_from_answers,
    render_status,
    require_same,
    zone,
)
from sicdoc.views.forms_carry import CARRIED_FROM, carry_context, check_source, start_from
from sicdoc.views.guard import unit
from sicdoc.views.identity import current_clinician
from sicdoc.views.narrative import safe_narrative

Page = Response | tuple[str, int]


def _encounter() -> str | None:
    return request.form.get("encounter_id") or None


def _read_post() -> tuple[dict[str, Answer], datetime | None, dict[str, str]]:
    answers, errors = parse_form(request.form.getlist)
    text = request.form.get(WHEN_FIELD, "").strip()
    when = parse_when(text, zone()) if text else None
    if text and when is None:
        errors[WHEN_FIELD] = "Enter the date and time the conversation started."
    return answers, when, errors


def _version() -> int | None:
    value = request.form.get("version", "")
    if value and not value.isdigit():
        abort(400, description="The form's version field is not valid.")
    return int(value) if value else None


def _form(
    mode: str, patient_id: str, raw: MultiDict[str, str], status: int = 200, **extra: Any
) -> tuple[str, int]:
    context: dict[str, Any] = {
        "mode": mode,
        "patient": charts.patient_card(unit(), patient_id),
        "fields": form_fields(),
        "raw": raw,
        "errors": {},
        "conflict": None,
        "version": None,
        "encounters": charts.encounters(unit(), patient_id) if mode != "amend" else [],
        **extra,
    }
    if mode != "amend":
        context.update(carry_context(patient_id, raw))
        if context["carry_error"]:  # a tampered source: said beside the form, nothing filled from it
            context["errors"] = {CARRIED_FROM: context["carry_error"], **context["errors"]}
            status = 422 if status == 200 else status
    return render_status("forms/conversation_form.html", status, **context)


@bp.get("/patients/<patient_id>/conversations/new")
def new_conversation(patient_id: str) -> Page:
    raw = raw_from_answers({}, local_now().replace(second=0, microsecond=0))
    ongoing = [eid for eid, _, current in charts.encounters(unit(), patient_id) if current]
    if ongoing:  # most conversations happen during the current stay
        raw.add("encounter_id", ongoing[0])
    if request.args.get("from"):  # "Start from the last conversation"
        start_from(patient_id, request.args["from"], raw)
    return _form("new", patient_id, raw, action=url_for("forms.new_conversation", patient_id=patient_id))


@bp.post("/patients/<patient_id>/conversations/new")
def post_new_conversation(patient_id: str) -> Page:
    charts.patient_card(unit(), patient_id)
    require_same("patient_id", patient_id)
    return _save_or_sign(patient_id, None, url_for("forms.new_conversation", patient_id=patient_id))


@bp.get("/drafts/<draft_id>")
def draft(draft_id: str) -> Page:
    found = svc.get_draft(unit(), draft_id)
    if found.status == "discarded":
        flash("This draft was discarded.")
        return redirect(url_for("forms.patient_page", patient_id=found.patient_id))
    if found.status != "draft":
        flash("This conversation is signed and read-only. Amend it to change it.")
        return redirect(url_for("forms.conversation", procedure_id=found.procedure_id))
    raw = raw_from_answers(dict(found.answers), found.performed_start)
    if found.encounter_id:
        raw.add("encounter_id", found.encounter_id)
    if request.args.get("from"):  # a draft begun from an earlier note keeps its marks
        raw.add(CARRIED_FROM, request.args["from"])
    return _form(
        "draft",
        found.patient_id,
        raw,
        action=url_for("forms.draft", draft_id=draft_id),
        version=found.version,
        draft=found,
    )


@bp.post("/drafts/<draft_id>")
def post_draft(draft_id: str) -> Page:
    found = svc.get_draft(unit(), draft_id)
    require_same("patient_id", found.patient_id)
    return _save_or_sign(found.patient_id, draft_id, url_for("forms.draft", draft_id=draft_id))


def _save_or_sign(patient_id: str, draft_id: str | None, action: str) -> Page:
    answers, when, errors = _read_post()
    version = _version()
    mode = "draft" if draft_id else "new"
    again = {"action": action, "version": version}
    if errors:
        return _form(mode, patient_id, request.form, 422, errors=errors, **again)
    work, who = unit(), current_clinician()
    try:
        source = check_source(patient_id, request.form)
        if request.form.get("action") == "sign":
            signed = svc.sign_draft(
                work,
                patient_id,
                answers,
                who,
                draft_id,
                version,
                performed_start=when,
                encounter_id=_encounter(),
                late_reason=request.form.get("late_reason", ""),
                carried_from=source,
            )
            flash("Conversation signed.", SAVED)
            return redirect(url_for("forms.conversation", procedure_id=signed.procedure_id))
        saved = svc.save_draft(
            work, patient_id, answers, who, draft_id, version, performed_start=when, encounter_id=_encounter()
        )
        flash(f"Draft saved at {local(saved.updated):%H:%M}.", SAVED)
        query: dict[str, Any] = {"from": source} if source else {}  # a draft keeps its carried marks
        return redirect(url_for("forms.draft", draft_id=saved.id, **query))
    except NothingToSave as exc:  # the form says so; no empty draft is left listed
        flash(str(exc))
        return _form(mode, patient_id, request.form, 200, **again)
    except svc.AnswersRefused as exc:
        return _form(mode, patient_id, request.form, 422, errors=exc.errors, **again)
    except svc.DraftConflict as exc:
        stored = svc.get_draft(work, draft_id) if draft_id else None
        changes = diff_answers(dict(stored.answers), answers) if stored else []
        again["version"] = exc.stored_version  # saving again is now a deliberate choice
        return _form(mode, patient_id, request.form, 409, conflict=str(exc), changes=changes, **again)
    except Conflict as exc:
        return _form(mode, patient_id, request.form, 409, conflict=str(exc), **again)


@bp.get("/conversations/<procedure_id>")
def conversation(procedure_id: str) -> Page:
    work = unit()
    record = svc.conversation_record(work, procedure_id)
    note = (record.composition.content or {}) if record.composition else {}
    sections = [
        (s.get("title") or "", safe_narrative((s.get("text") or {}).get("div")))
        for s in note.get("section") or ()
    ]
    content = record.procedure.content or {}
    start = (content.get("performedPeriod") or {}).get("start") or content.get("performedDateTime")
    return render_status(
        "forms/conversation.html",
        200,
        record=record,
        patient=charts.patient_card(work, record.patient_id),
        sections=sections,
        note=note,
        when=local(datetime.fromisoformat(start)) if start else None,
        author={"display": author_of(work.session, content)},
        late=signed_late(work, procedure_id),
        withdrawn=withdrawal(work, procedure_id),
        local=local,
    )


@bp.route("/conversations/<procedure_id>/amend", methods=["GET", "POST"])
def amend(procedure_id: str) -> Page:
    work = unit()
    record = svc.conversation_record(work, procedure_id)
    action = url_for("forms.amend", procedure_id=procedure_id)
    content = record.procedure.content or {}
    if record.questionnaire_response is None:
        raise Unprocessable("This conversation has no form answers in sicdoc, so it cannot be amended here.")
    if content.get("status") == ENTERED_IN_ERROR:
        raise Conflict("This note was marked entered in error, so it can no longer be amended.")
    start = (content.get("performedPeriod") or {}).get("start")
    earlier: dict[str, Any] = {  # the prognosis comments so far, read-only above the field that adds to them
        "comments": prognosis.entries(str(record.answers.get(prognosis.PROGNOSIS_COMMENT) or "")),
        "signed_by": author_of(work.session, content),
        "signed_when": local(datetime.fromisoformat(start)) if start else None,
    }
    if request.method == "GET":
        raw = raw_from_answers(record.answers, datetime.fromisoformat(start) if start else None)
        raw.poplist(prognosis.PROGNOSIS_COMMENT)
        return _form(
            "amend", record.patient_id, raw, action=action, version=record.procedure.version_id, **earlier
        )
    require_same("patient_id", record.patient_id)
    answers, when, errors = _read_post()
    added = str(answers.pop(prognosis.PROGNOSIS_COMMENT, None) or "")
    version = _version()
    again = {"action": action, "version": version, **earlier}
    if errors:
        return _form("amend", record.patient_id, request.form, 422, errors=errors, **again)
    try:
        done = svc.amend_conversation(
            work,
            procedure_id,
            answers,
            current_clinician(),
            request.form.get("reason", ""),
            expected_version=version,
            performed_start=when,
            prognosis_addition=added,
            zone=zone(),
        )
    except svc.AnswersRefused as exc:
        return _form("amend", record.patient_id, request.form, 422, errors=exc.errors, **again)
    except svc.DraftConflict as exc:
        again["version"] = exc.stored_version
        return _form("amend", record.patient_id, request.form, 409, conflict=str(exc), **again)
    flash(f"Amendment saved as version {done.version}.", SAVED)
    return redirect(url_for("forms.conversation", procedure_id=procedure_id))


@bp.get("/conversations/<procedure_id>/history")
def history(procedure_id: str) -> Page:
    work = unit()
    record = svc.conversation_record(work, procedure_id)
    return render_status(
        "forms/history.html",
        200,
        record=record,
        patient=charts.patient_card(work, record.patient_id),
        entries=svc.conversation_history(work, procedure_id),
        local=local,
    )
