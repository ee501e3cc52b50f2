"""What a clinician entered for one conversation, and the checks the SIC Questionnaire implies.

The same checks serve the web form (messages shown next to each field) and the sample generator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from sicdoc import questionnaires
from sicdoc.errors import InvalidInput, Issue

Answer = str | bool | int | list[str]

DEFAULT_MAX_LENGTH = 4000
DURATION_LINK_ID = "duration-minutes"
AGENT_NAME = "health-care-agent-name"
AGENT_DETAILS = ("health-care-agent-relationship", "health-care-agent-phone")
_MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
_MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
# A free-text answer must match the item's regex (a phone number); entryFormat is the example shown.
_REGEX = "http://hl7.org/fhir/StructureDefinition/regex"
_ENTRY_FORMAT = "http://hl7.org/fhir/StructureDefinition/entryFormat"
# FHIR strings may hold tabs and line breaks but no other control characters.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACE_RE = re.compile(r"\s")


@dataclass(frozen=True)
class ConversationAnswers:
    """One conversation as entered: who, when, where, and the answers by Questionnaire linkId.

    References are FHIR reference strings (``Patient/1``, ``urn:uuid:…`` or a conditional reference
    such as ``Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1234567893``). ``unit`` is a
    Location and ``site`` an Organization. The duration is the ``duration-minutes`` answer, so the
    form field and the record cannot disagree.
    """

    patient: str
    clinician: str
    performed_start: datetime
    answers: Mapping[str, Answer] = field(default_factory=dict)
    encounter: str | None = None
    clinician_display: str | None = None
    unit: str | None = None
    unit_display: str | None = None
    site: str | None = None
    site_display: str | None = None

    @property
    def duration_minutes(self) -> int | None:
        value = self.answers.get(DURATION_LINK_ID)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def performed_end(self) -> datetime:
        return self.performed_start + timedelta(minutes=self.duration_minutes or 0)


class InvalidAnswers(InvalidInput):
    """Answers that break the Questionnaire; ``errors`` maps linkId (or field name) to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__([Issue("invalid", f"{key}: {message}", key) for key, message in errors.items()])


def is_answered(value: Answer | None) -> TypeGuard[Answer]:
    """Blank strings and empty lists count as no answer, as an untouched form field would."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(is_answered(v) for v in value)
    return True


def answered(answers: ConversationAnswers) -> dict[str, Answer]:
    """The answered questions only, in form order, with text trimmed and blank choices dropped."""
    out: dict[str, Answer] = {}
    for link_id in questionnaires.questions():
        value = answers.answers.get(link_id)
        if not is_answered(value):
            continue
        if isinstance(value, str):
            value = value.strip()
        elif isinstance(value, list):
            value = [v.strip() if isinstance(v, str) else v for v in value if is_answered(v)]
        out[link_id] = value
    return out


def validate_answers(answers: ConversationAnswers) -> dict[str, str]:
    """Messages by linkId (or by field name for who/when/where); empty when the answers are valid."""
    errors: dict[str, str] = {}
    _check_context(answers, errors)
    items = questionnaires.questions()
    for link_id in answers.answers:
        if link_id not in items:
            errors[link_id] = "This is not a question of the serious illness conversation form."
    given = {k: v for k, v in answers.answers.items() if k in items and is_answered(v)}
    for link_id, item in items.items():
        if link_id not in given:
            if item.get("required"):
                errors[link_id] = "Please answer this question."
            continue
        message = _check_enabled(item, given) or _check_value(item, given[link_id])
        if message:
            errors[link_id] = message
    # A relationship or phone number with no name would be a contact for nobody in particular.
    if AGENT_NAME not in given:
        for link_id in AGENT_DETAILS:
            if link_id in given and link_id not in errors:
                errors[link_id] = "Give the health care agent's name too, or leave this blank."
    return errors


def _check_context(answers: ConversationAnswers, errors: dict[str, str]) -> None:
    for name in ("patient", "clinician"):
        value = getattr(answers, name)
        if not isinstance(value, str) or not value or _SPACE_RE.search(value):
            errors[name] = f"A {name} reference is required."
    for name in ("encounter", "unit", "site"):
        value = getattr(answers, name)
        if value is not None and (not isinstance(value, str) or not value or _SPACE_RE.search(value)):
            errors[name] = f"The {name} reference is not valid."
    start = answers.performed_start
    if not isinstance(start, datetime):
        errors["performed_start"] = "Enter the date and time the conversation started."
    elif start.tzinfo is None or start.utcoffset() is None:
        errors["performed_start"] = "The start time needs a time zone."


def _check_enabled(item: dict[str, Any], given: Mapping[str, Answer]) -> str | None:
    """An answer to a question the form hides (enableWhen not met) is refused rather than kept."""
    conditions = item.get("enableWhen")
    if not conditions:
        return None
    met = [given.get(c["question"]) == c.get("answerBoolean") for c in conditions if "answerBoolean" in c]
    if met and not (any(met) if item.get("enableBehavior") == "any" else all(met)):
        label = questionnaires.questions()[conditions[0]["question"]]["text"]
        return f"Answer this only when '{label}' is yes."
    return None


def _check_value(item: dict[str, Any], value: Answer) -> str | None:
    kind = item["type"]
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not item.get("repeats"):
        return "Choose only one answer."
    for v in values:
        message = _check_one(item, kind, v)
        if message:
            return message
    return None


def _check_one(item: dict[str, Any], kind: str, v: Any) -> str | None:
    if kind == "boolean":
        return None if isinstance(v, bool) else "Answer yes or no."
    if kind == "integer":
        low, high = _bound(item, _MIN_VALUE), _bound(item, _MAX_VALUE)
        if (
            not isinstance(v, int)
            or isinstance(v, bool)
            or (low is not None and v < low)
            or (high is not None and v > high)
        ):
            if low is not None and high is not None:
                return f"Enter a whole number from {low} to {high}."
            return "Enter a whole number."
        return None
    if not isinstance(v, str):
        return "Enter text." if kind in ("string", "text") else "Choose one of the listed answers."
    is_option = questionnaires.option_display(item["linkId"], v) is not None
    if kind == "choice":
        if not is_option:
            choices = ", ".join(o["valueCoding"]["code"] for o in item.get("answerOption", ()))
            return f"'{v}' is not one of the choices ({choices})."
        return None
    if is_option:  # an open-choice answer that is one of the options
        return None
    limit = item.get("maxLength", DEFAULT_MAX_LENGTH)
    text = v.strip()
    if len(text) > limit:
        return f"Keep this to {limit} characters or fewer (it has {len(text)})."
    if _CONTROL_RE.search(text):
        return "The text contains control characters that cannot be stored."
    pattern = _extension(item, _REGEX)
    if isinstance(pattern, str) and not re.fullmatch(pattern, text):
        example = _extension(item, _ENTRY_FORMAT)
        return f"Check the format, for example {example}." if example else "Check the format."
    return None


def _bound(item: dict[str, Any], url: str) -> int | None:
    value = _extension(item, url)
    return value if isinstance(value, int) else None


def _extension(item: dict[str, Any], url: str) -> Any:
    for ext in item.get("extension", ()):
        if ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None
