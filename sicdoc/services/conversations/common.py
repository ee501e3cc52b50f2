"""What the conversation use cases share: the author, errors, answer checks and Provenance."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from sicdoc import codes, questionnaires
from sicdoc.conversation import Answer, ConversationAnswers, is_answered, validate_answers
from sicdoc.errors import Conflict, InvalidInput, Issue, NotFound, Unprocessable
from sicdoc.fhir.dates import calendar_date, format_instant
from sicdoc.services.bundles import BundleResult
from sicdoc.services.practitioners import CLINICIAN_SYSTEM
from sicdoc.store import read

CONVERSATION_SYSTEM = f"{codes.CANONICAL_BASE}/sid/conversation"
FORMS_CLIENT = "sicdoc-forms"  # bundle receipts of the forms are kept apart from EHR clients'
WHEN = "performed_start"
# A clock a few minutes fast on the clinician's computer should not block signing.
FUTURE_SLACK = timedelta(minutes=5)
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


class Author(Protocol):
    """The clinician acting: the web layer's identity, or a script's."""

    @property
    def id(self) -> str: ...

    @property
    def display(self) -> str: ...

    @property
    def practitioner_reference(self) -> str | None: ...


class AnswersRefused(Unprocessable):
    """Answers that cannot be stored; ``errors`` maps a linkId (or field name) to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__([Issue("invalid", message, key) for key, message in errors.items()])


class DraftConflict(Conflict):
    """Someone saved the draft (or amended the note) since this copy was opened."""

    def __init__(self, message: str, stored_version: int, saved_by: str | None = None):
        self.stored_version = stored_version
        self.saved_by = saved_by
        super().__init__(message)


def require_version(stored_version: int, expected: int | None, then: str) -> None:
    """Refuse a change made from a copy of the note older than the stored one; ``then`` says what to do."""
    if expected is not None and stored_version != expected:
        raise DraftConflict(
            f"This conversation was changed by someone else since you opened it (now version "
            f"{stored_version}). {then}",
            stored_version=stored_version,
        )


@dataclass(frozen=True)
class SignedConversation:
    procedure_id: str
    draft_id: str | None
    version: int


def clinician_reference(author: Author) -> tuple[str, list[dict[str, Any]]]:
    """The clinician's reference and, without a known Practitioner, a conditional create for one."""
    if author.practitioner_reference:
        return author.practitioner_reference, []
    criteria = f"identifier={CLINICIAN_SYSTEM}|{author.id}"
    entry = {
        "fullUrl": f"urn:uuid:{_uuid_for(author.id)}",
        "resource": {
            "resourceType": "Practitioner",
            "identifier": [{"system": CLINICIAN_SYSTEM, "value": author.id}],
            "name": [{"text": author.display}],
        },
        "request": {"method": "POST", "url": "Practitioner", "ifNoneExist": criteria},
    }
    return f"Practitioner?{criteria}", [entry]


def _uuid_for(value: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{CLINICIAN_SYSTEM}|{value}"))


def check_answers(
    session: Session,
    patient_id: str,
    answers: Mapping[str, Answer],
    when: datetime | None,
    now: datetime,
    *,
    complete: bool,
) -> dict[str, str]:
    """Field messages. A draft may leave questions unanswered; a note to sign may not."""
    patient = read(session, "Patient", patient_id).content or {}
    probe = ConversationAnswers(
        patient=f"Patient/{patient_id}",
        clinician="Practitioner/check",
        performed_start=when or now,
        answers=answers,
    )
    errors = {
        key: message
        for key, message in validate_answers(probe).items()
        if complete or key not in questionnaires.questions() or is_answered(answers.get(key))
    }
    if when is None:
        if complete:
            errors[WHEN] = "Enter the date and time the conversation started."
    elif when > now + FUTURE_SLACK:
        errors[WHEN] = "The conversation cannot be in the future."
    else:
        born = calendar_date(patient.get("birthDate"))
        if born is not None and when.date() < born:
            errors[WHEN] = f"The conversation cannot be before the patient's birth ({born.isoformat()})."
    return errors


def encounter_setting(session: Session, patient_id: str, encounter_id: str | None) -> dict[str, str | None]:
    """The encounter, unit and site of a conversation; an encounter of another patient is tampering."""
    if not encounter_id:
        return {}
    try:
        encounter = read(session, "Encounter", encounter_id).content or {}
    except NotFound:
        raise InvalidInput("The encounter chosen is not known.", expression="encounter") from None
    if (encounter.get("subject") or {}).get("reference") != f"Patient/{patient_id}":
        raise InvalidInput("The encounter chosen is not one of this patient's.", expression="encounter")
    unit = next((loc.get("location") or {} for loc in encounter.get("location") or ()), {})
    site = encounter.get("serviceProvider") or {}
    return {
        "encounter": f"Encounter/{encounter_id}",
        "unit": unit.get("reference"),
        "unit_display": unit.get("display") if unit.get("reference") else None,
        "site": site.get("reference"),
        "site_display": site.get("display") if site.get("reference") else None,
    }


def locations(result: BundleResult) -> list[tuple[str, str, int]]:
    """(type, id, version) of every resource a transaction wrote or found."""
    out = []
    for entry in result.response.get("entry") or ():
        location = ((entry or {}).get("response") or {}).get("location") or ""
        parts = location.split("/")
        if len(parts) == 4 and parts[2] == "_history":
            out.append((parts[0], parts[1], int(parts[3])))
    return out


def provenance(
    targets: list[tuple[str, str, int]],
    who: dict[str, str],
    activity: str,
    now: datetime,
    *,
    reason: str | None = None,
    revision_of: str | None = None,
) -> dict[str, Any]:
    """Who wrote which versions, when, and why. Versioned targets tie it to exactly what was written."""
    prov: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [{"reference": f"{t}/{i}/_history/{v}"} for t, i, v in targets],
        "recorded": format_instant(now),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": activity}]},
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "author", "display": "Author"}]},
                "who": who,
            }
        ],
    }
    if reason:
        prov["reason"] = [{"text": reason}]
    if revision_of:
        prov["entity"] = [{"role": "revision", "what": {"reference": revision_of}}]
    return prov


def performer(procedure: dict[str, Any]) -> dict[str, str]:
    for item in procedure.get("performer") or ():
        actor = item.get("actor") or {}
        if actor.get("reference"):
            return {k: v for k, v in actor.items() if k in ("reference", "display")}
    return {"display": "unknown"}
