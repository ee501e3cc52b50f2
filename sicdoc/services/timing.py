"""When a conversation or a referral can have happened: not after the patient's death, within its stay.

The one home of these date rules. The clinician forms refuse a date that breaks them, because the
clinician can correct it at once. The FHIR API stores what an EHR sends and answers with a warning
instead: EHR data arrives late and is corrected at its source, and refusing it would lose the record.

Dates are compared as calendar days as written in the record (DESIGN.md section 5): a conversation on
the day of death, or on the day of admission or discharge, is within bounds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sicdoc import codes
from sicdoc.errors import Issue
from sicdoc.fhir.dates import calendar_date, format_instant
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored
from sicdoc.store.reads import read_optional

WHEN = "performed_start"
ENCOUNTER = "encounter_id"
LATE_REASON = "late_reason"
LATE_REASON_MAX = 1000
# No HL7 code says "documented after the fact", so a code of sicdoc's own marks a late entry. It sits on
# the Provenance of the signing (reason), beside when the conversation happened (occurredDateTime) and
# when it was recorded (recorded): Provenance is where R4 keeps why and when a record was written, and
# the Composition and Procedure then stay as they would be for a note written the same day.
LATE_ENTRY = {
    "system": f"{codes.CANONICAL_BASE}/CodeSystem/documentation-timing",
    "code": "late-entry",
    "display": "Late entry",
}


@dataclass(frozen=True)
class Stay:
    """An encounter's period as calendar days; no end means the stay is ongoing."""

    start: date | None
    end: date | None

    def holds(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def words(self) -> str:
        start = self.start.isoformat() if self.start else "an unknown date"
        return f"{start} to {self.end.isoformat()}" if self.end else f"{start}, still ongoing"


@dataclass
class Lookup:
    """Death dates and stays read once per request, however many resources name them."""

    uow: UnitOfWork
    _found: dict[tuple[str, str], Stored | None] = field(default_factory=dict, init=False, repr=False)

    def resource(self, rtype: str, rid: str) -> Stored | None:
        key = (rtype, rid)
        if key not in self._found:
            self._found[key] = read_optional(self.uow.session, rtype, rid)
        return self._found[key]

    def death(self, patient_id: str) -> date | None:
        found = self.resource("Patient", patient_id)
        return calendar_date((found.content or {}).get("deceasedDateTime")) if found else None

    def stay(self, encounter_id: str) -> Stay | None:
        found = self.resource("Encounter", encounter_id)
        if found is None:
            return None
        period = (found.content or {}).get("period") or {}
        return Stay(calendar_date(period.get("start")), calendar_date(period.get("end")))

    def disclose(self, rtype: str, rid: str) -> None:
        """A warning tells the client what the record says, so it is audited as a read."""
        found = self.resource(rtype, rid)
        if found is not None:
            self.uow.disclose("read", [found], resource_type=rtype, resource_id=rid)


# ---- the forms: field messages ------------------------------------------------------------------


def conversation_errors(
    uow: UnitOfWork, patient_id: str, when: datetime, encounter_id: str | None
) -> dict[str, str]:
    """Messages for a conversation dated after the death, or outside the stay it is linked to."""
    lookup, day = Lookup(uow), when.date()
    died = lookup.death(patient_id)
    if died is not None and day > died:
        return {
            WHEN: f"The conversation cannot be after the patient's death ({died.isoformat()}). "
            "A note written now about an earlier conversation takes the date it happened."
        }
    stay = lookup.stay(encounter_id) if encounter_id else None
    if stay is not None and not stay.holds(day):
        return {
            ENCOUNTER: f"The conversation ({day.isoformat()}) is outside this stay ({stay.words()}). "
            "Choose the stay it happened in, or none."
        }
    return {}


def referral_error(uow: UnitOfWork, patient_id: str, day: date) -> str | None:
    died = Lookup(uow).death(patient_id)
    if died is not None and day > died:
        return f"The referral cannot be after the patient's death ({died.isoformat()})."
    return None


def late_entry(uow: UnitOfWork, patient_id: str, when: datetime, now: datetime) -> date | None:
    """The death date when a note about a conversation before death is signed after it, else None.

    Such a note is a late entry: allowed, because the conversation date is what matters, but it needs
    a reason and is marked, so a reader knows it was written after the patient died.
    """
    died = Lookup(uow).death(patient_id)
    return died if died is not None and when.date() <= died < now.date() else None


def late_reason_error(died: date, reason: str) -> str | None:
    if not reason:
        return (
            f"The patient died on {died.isoformat()}, so this note is a late entry: "
            "give the reason it is documented now."
        )
    if len(reason) > LATE_REASON_MAX:
        return f"Keep the reason to {LATE_REASON_MAX} characters or fewer (it has {len(reason)})."
    return None


def mark_late(provenance: dict[str, Any], reason: str, when: datetime) -> dict[str, Any]:
    """The signing Provenance of a late entry: coded as late, with the reason and the conversation time."""
    provenance["occurredDateTime"] = format_instant(when)
    provenance["reason"] = [{"coding": [LATE_ENTRY], "text": reason}]
    return provenance


def is_late(provenance: dict[str, Any]) -> bool:
    return any(
        (s, c) == (LATE_ENTRY["system"], LATE_ENTRY["code"])
        for s, c in codes.codings(provenance.get("reason"))
    )


# ---- the FHIR API: warnings ---------------------------------------------------------------------


def date_warnings(lookup: Lookup, resource: dict[str, Any]) -> list[Issue]:
    """Warning issues for a stored conversation, note or palliative referral whose date breaks a rule.

    Only what the client may read is checked: a warning about a death date it could not read
    would disclose it.
    """
    rtype = resource.get("resourceType")
    if rtype not in ("Procedure", "Composition", "ServiceRequest"):
        return []
    patient_id = _ref_id(resource.get("subject"), "Patient")
    found: list[Issue] = []
    for path, value in _dates(resource):
        day = calendar_date(value)
        if day is None:
            continue
        if patient_id and lookup.uow.may_read("Patient"):
            died = lookup.death(patient_id)
            if died is not None and day > died:
                lookup.disclose("Patient", patient_id)
                found.append(
                    _warning(
                        f"{path} ({day.isoformat()}) is after the patient's death ({died.isoformat()})", path
                    )
                )
                continue
        encounter_id = _ref_id(resource.get("encounter"), "Encounter")
        if rtype != "ServiceRequest" and encounter_id and lookup.uow.may_read("Encounter"):
            stay = lookup.stay(encounter_id)
            if stay is not None and not stay.holds(day):
                lookup.disclose("Encounter", encounter_id)
                found.append(
                    _warning(
                        f"{path} ({day.isoformat()}) is outside Encounter/{encounter_id} ({stay.words()})",
                        path,
                    )
                )
    return found


def _dates(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The dates the rules apply to: when the conversation happened, or when the referral was made.

    A Composition's own ``date`` is when it was written, which may rightly be after the death (a late
    entry); its ``event.period`` is the conversation it documents.
    """
    rtype = resource["resourceType"]
    if rtype == "Procedure" and codes.is_conversation(resource):
        start = (resource.get("performedPeriod") or {}).get("start")
        if isinstance(start, str):
            yield "Procedure.performedPeriod.start", start
        elif isinstance(resource.get("performedDateTime"), str):
            yield "Procedure.performedDateTime", resource["performedDateTime"]
    elif rtype == "Composition":
        for i, event in enumerate(resource.get("event") or ()):
            start = ((event or {}).get("period") or {}).get("start")
            if isinstance(start, str):
                yield f"Composition.event[{i}].period.start", start
    elif (
        rtype == "ServiceRequest"
        and _palliative_referral(resource)
        and isinstance(resource.get("authoredOn"), str)
    ):
        yield "ServiceRequest.authoredOn", resource["authoredOn"]


def _palliative_referral(resource: dict[str, Any]) -> bool:
    return any(
        s == codes.SNOMED and c in codes.PALLIATIVE_REFERRAL_CODES
        for s, c in codes.codings(resource.get("code"))
    )


def _ref_id(ref: Any, rtype: str) -> str | None:
    value = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(value, str):
        return None
    kind, _, rest = value.partition("/")
    rid = rest.split("/", 1)[0]
    return rid if kind == rtype and rid else None


def _warning(message: str, path: str) -> Issue:
    return Issue(
        "business-rule",
        f"{message}. Stored as sent; check the date at its source.",
        path,
        severity="warning",
    )
