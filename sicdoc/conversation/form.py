"""The SIC Questionnaire as web-form fields, and form posts back into answers (no web framework here).

The form, its validation (``validate_answers``) and the resources built on signing all read the same
Questionnaire, so a question added there appears, validates and is stored without touching this code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sicdoc import questionnaires
from sicdoc.conversation.answers import DEFAULT_MAX_LENGTH, Answer, is_answered
from sicdoc.conversation.domains import answer_words

OTHER_SUFFIX = "-other"
WHEN_FIELD = "performed_start"


@dataclass(frozen=True)
class FormField:
    """One question as the form shows it. ``control`` picks the template macro."""

    link_id: str
    label: str
    help: str | None
    control: str  # checkboxes | radio | yesno | textarea | text | number
    options: tuple[tuple[str, str], ...] = ()
    required: bool = False
    max_length: int = DEFAULT_MAX_LENGTH
    open_choice: bool = False  # check boxes plus free text for the patient's own words
    minimum: int | None = None
    maximum: int | None = None


def form_fields() -> list[FormField]:
    """Every question in Questionnaire (conversation guide) order."""
    helps = questionnaires.help_texts()
    return [_field(item, helps.get(link_id)) for link_id, item in questionnaires.questions().items()]


def _field(item: dict[str, Any], help_text: str | None) -> FormField:
    kind = item["type"]
    options = tuple(
        (o["valueCoding"]["code"], o["valueCoding"].get("display", o["valueCoding"]["code"]))
        for o in item.get("answerOption", ())
        if "valueCoding" in o
    )
    common = {
        "link_id": item["linkId"],
        "label": item["text"],
        "help": help_text,
        "required": bool(item.get("required")),
        "max_length": item.get("maxLength", DEFAULT_MAX_LENGTH),
    }
    if kind in ("choice", "open-choice"):
        control = "checkboxes" if item.get("repeats") or kind == "open-choice" else "radio"
        return FormField(control=control, options=options, open_choice=kind == "open-choice", **common)
    if kind == "boolean":
        return FormField(control="yesno", **common)
    if kind == "integer":
        bounds = {e["url"].rsplit("/", 1)[-1]: e.get("valueInteger") for e in item.get("extension", ())}
        return FormField(
            control="number", minimum=bounds.get("minValue"), maximum=bounds.get("maxValue"), **common
        )
    return FormField(control="textarea" if kind == "text" else "text", **common)


def parse_form(getlist: Callable[[str], list[str]]) -> tuple[dict[str, Answer], dict[str, str]]:
    """Answers by linkId from a form post, and messages for values that are not even well-formed.

    ``getlist`` is the post's multi-value accessor. Blank fields are left out. Line breaks are
    normalised so the stored text does not depend on the browser.
    """
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for f in form_fields():
        values = [_clean(v) for v in getlist(f.link_id)]
        if f.control == "checkboxes":
            chosen: list[str] = [v for v in values if v.strip()]
            if f.open_choice:
                other = _clean(_first(getlist(f.link_id + OTHER_SUFFIX)))
                if other.strip():
                    chosen.append(other)
            if chosen:
                answers[f.link_id] = chosen
            continue
        value = _first(values)
        if not value.strip():
            continue
        if f.control == "yesno":
            if value not in ("yes", "no"):
                errors[f.link_id] = "Answer yes or no."
            else:
                answers[f.link_id] = value == "yes"
        elif f.control == "number":
            try:
                answers[f.link_id] = int(value.strip())
            except ValueError:
                errors[f.link_id] = "Enter a whole number of minutes, for example 30."
        else:
            answers[f.link_id] = value
    return answers, errors


def parse_when(value: str, zone: tzinfo) -> datetime | None:
    """A ``datetime-local`` value read in the site's time zone; None when it is not a date and time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def answers_from_items(items: Iterable[dict[str, Any]] | None) -> dict[str, Answer]:
    """Answers by linkId from QuestionnaireResponse items (the reverse of the signing step)."""
    known = questionnaires.questions()
    out: dict[str, Answer] = {}
    for item in items or ():
        link_id = item.get("linkId")
        if not isinstance(link_id, str) or link_id not in known:
            continue
        values: list[Any] = []
        for answer in item.get("answer") or ():
            if "valueCoding" in answer:
                values.append(answer["valueCoding"].get("code"))
            else:
                values.extend(
                    answer[k] for k in ("valueString", "valueBoolean", "valueInteger") if k in answer
                )
        if not values:
            continue
        repeats = known[link_id].get("repeats") or known[link_id]["type"] == "open-choice"
        out[link_id] = values if repeats else values[0]
    return out


def other_text(link_id: str, value: Answer | None) -> str:
    """The free-text part of an open-choice answer (what is not one of the options)."""
    values = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    return "\n".join(v for v in values if questionnaires.option_display(link_id, v) is None)


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


def diff_answers(before: Mapping[str, Answer], after: Mapping[str, Answer]) -> list[Change]:
    """What changed between two sets of answers, by question label, in form order."""
    changes = []
    for link_id, item in questionnaires.questions().items():
        old, new = before.get(link_id), after.get(link_id)
        old_words = _words(link_id, old)
        new_words = _words(link_id, new)
        if old_words != new_words:
            changes.append(Change(item["text"], old_words, new_words))
    return changes


def _words(link_id: str, value: Answer | None) -> str:
    return "; ".join(answer_words(link_id, value)) if is_answered(value) else ""


def _first(values: list[str]) -> str:
    return values[0] if values else ""


def _clean(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")
