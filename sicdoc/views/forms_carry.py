"""Carry-forward on the conversation form: which note the form was started from, and the field marks.

The form keeps the source note's id in a hidden field, so every re-render (a refused post, a saved
draft) can still say which answers came from that note and have not been changed since.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from werkzeug.datastructures import MultiDict

from sicdoc.conversation.form import OTHER_SUFFIX, form_fields
from sicdoc.services.conversations.carry import (
    CARRIED_FROM,
    CarriedForward,
    carry_forward,
    last_conversation,
)
from sicdoc.services.conversations.common import AnswersRefused
from sicdoc.views.forms import local, raw_from_answers
from sicdoc.views.guard import unit


def carry_context(patient_id: str, raw: MultiDict[str, str]) -> dict[str, Any]:
    """Template context: ``carried`` (the source note) with its ``carried_day``, ``marks`` by linkId,
    ``carry_error`` and, for a form not started from a note, ``last_note`` (day, link) to start from."""
    source = raw.get(CARRIED_FROM)
    context: dict[str, Any] = {"carried": None, "marks": {}, "carry_error": None, "last_note": None}
    context["carried_day"] = None
    if source:
        try:
            carried = carry_forward(unit(), patient_id, source)
        except AnswersRefused as exc:
            context["carry_error"] = exc.errors[CARRIED_FROM]
            return context
        context["carried"] = carried
        context["carried_day"] = _day(carried)
        context["marks"] = marks(carried, raw)
        return context
    last = last_conversation(unit(), patient_id)
    if last is not None:
        procedure_id, when = last
        query: dict[str, Any] = {"from": procedure_id}  # "from" is a keyword, so not a plain argument
        link = url_for("forms.new_conversation", patient_id=patient_id, **query)
        context["last_note"] = (local(when).strftime("%Y-%m-%d") if when else "undated", link)
    return context


def carried_raw(carried: CarriedForward) -> MultiDict[str, str]:
    """The carried answers as form fields, with the source note's id alongside."""
    raw = raw_from_answers(carried.answers, None)
    raw.add(CARRIED_FROM, carried.procedure_id)
    return raw


def marks(carried: CarriedForward, raw: MultiDict[str, str]) -> dict[str, str]:
    """A hint per field whose value is still the one carried forward; an edited field loses it."""
    before = raw_from_answers(carried.answers, None)
    words = f"Carried forward from the {_day(carried)} note by {carried.author}: confirm or edit."
    out = {}
    for f in form_fields():
        keys = (f.link_id, f.link_id + OTHER_SUFFIX)
        if not any(k in before for k in keys):
            continue
        if all(sorted(before.getlist(k)) == sorted(_kept(raw.getlist(k))) for k in keys):
            out[f.link_id] = words
    return out


def _day(carried: CarriedForward) -> str:
    return local(carried.when).strftime("%Y-%m-%d") if carried.when else "undated"


def _kept(values: list[str]) -> list[str]:
    # A post normalises line breaks and an unanswered radio posts "", as the parsed answers do.
    return [v.replace("\r\n", "\n") for v in values if v.strip()]


def start_from(patient_id: str, source: str, raw: MultiDict[str, str]) -> None:
    """Fill a new form from the note ``source``. A refused source is kept in ``raw`` only so that
    ``carry_context`` reports it beside the form; nothing is filled from it."""
    try:
        carried = carry_forward(unit(), patient_id, source)
    except AnswersRefused:
        raw.setlist(CARRIED_FROM, [source])
        return
    for key, values in carried_raw(carried).lists():
        raw.setlist(key, values)


def check_source(patient_id: str, raw: MultiDict[str, str]) -> str | None:
    """The note a posted form was started from, after checking it is this patient's (else
    ``AnswersRefused``, before anything is stored)."""
    source = raw.get(CARRIED_FROM) or None
    if source:
        carry_forward(unit(), patient_id, source)
    return source
