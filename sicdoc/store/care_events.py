"""Care events: the dated records the end-of-life measures read, projected from their resources.

Stays at a location (one per ``Encounter.location``, for ICU stays), hospice enrolments (an
EpisodeOfCare or Encounter typed hospice care), completed chemotherapy and life-sustaining
treatment Procedures, care-focus Observations and code-status Observations recorded outside any
conversation; and each Location with whether its type is intensive care. Records that did not
happen or were withdrawn are never events.
"""

from __future__ import annotations

from typing import Any

from sicdoc import codes
from sicdoc.conversation.extract import SNOMED_CODE_STATUS
from sicdoc.conversation.quality import care_focus_of
from sicdoc.fhir.dates import calendar_date
from sicdoc.models import CareEvent, LocationFact
from sicdoc.store.resource_fields import Row, has_code, part_of_procedures, ref_id
from sicdoc.valuesets import icu_value_set

# Types whose resources may yield care events (keyed by source type and id, several per resource).
EVENT_SOURCES = frozenset({"Encounter", "EpisodeOfCare", "Procedure", "Observation"})
# Statuses of records that did not happen (or were withdrawn): never care events.
NOT_DONE = frozenset({"entered-in-error", "cancelled", "planned", "waitlist", "not-done", "preliminary"})


def location_rows(r: dict) -> list[Row]:
    found = codes.codings(r.get("type"))
    icu = icu_value_set()
    row = dict(
        location_id=r["id"],
        name=(r.get("name") or None) and str(r["name"])[:128],
        typed=bool(found),
        icu=any(icu.is_icu(system, code) for system, code in found),
    )
    return [(LocationFact, row)]


def episode_of_care_rows(r: dict) -> list[Row]:
    patient_id = ref_id(r.get("patient"), "Patient")
    if patient_id is None or r.get("status") in NOT_DONE or not is_hospice(r.get("type")):
        return []
    period = r.get("period") or {}
    return [event_row(r, patient_id, 0, codes.HOSPICE_EVENT, period.get("start"), period.get("end"))]


def observation_rows(r: dict) -> list[Row]:
    """A care focus, or a code status recorded outside any conversation."""
    patient_id = ref_id(r.get("subject"), "Patient")
    if patient_id is None or r.get("status") in NOT_DONE:
        return []
    when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start")
    when = when or r.get("effectiveInstant")
    procedure = next(iter(part_of_procedures(r)), None)
    focus = care_focus_of(r)
    if focus is not None:
        return [
            event_row(
                r, patient_id, 0, codes.CARE_FOCUS_EVENT, when, None, value=focus, procedure_id=procedure
            )
        ]
    if has_code(r.get("code"), {codes.TREATMENT_PREFERENCES}) and codes.codings(
        r.get("valueCodeableConcept")
    ):
        # A coded answer outside the care focus list (refused on write; kept visible if stored).
        wrong = codes.codings(r.get("valueCodeableConcept"))[0][1][:32]
        return [
            event_row(
                r,
                patient_id,
                0,
                codes.CARE_FOCUS_INVALID_EVENT,
                when,
                None,
                value=wrong,
                procedure_id=procedure,
            )
        ]
    if procedure is None and has_code(r.get("code"), {codes.RESUSCITATION_STATUS}):
        # SNOMED has one concept for DNR with or without DNI, so alone it reads as full or DNR.
        status = next(
            (
                SNOMED_CODE_STATUS[code]
                for system, code in codes.codings(r.get("valueCodeableConcept"))
                if system == codes.SNOMED and code in SNOMED_CODE_STATUS
            ),
            None,
        )
        if status is not None:
            return [event_row(r, patient_id, 0, codes.CODE_STATUS_EVENT, when, None, value=status)]
    return []


def is_hospice(concept: Any) -> bool:
    return any(s == codes.SNOMED and c == codes.HOSPICE_CARE for s, c in codes.codings(concept))


def discharge_disposition(r: dict) -> str | None:
    disposition = (r.get("hospitalization") or {}).get("dischargeDisposition")
    for system, code in codes.codings(disposition):
        if system == codes.DISCHARGE_DISPOSITION:
            return code[:32]
    return None


def event_row(
    r: dict,
    patient_id: str,
    n: int,
    kind: str,
    start: Any,
    end: Any,
    *,
    value: str | None = None,
    procedure_id: str | None = None,
    encounter_id: str | None = None,
    location_id: str | None = None,
) -> Row:
    row = dict(
        event_id=f"{r['resourceType']}/{r['id']}#{n}",
        source_type=r["resourceType"],
        source_id=r["id"],
        patient_id=patient_id,
        kind=kind,
        start_date=calendar_date(start) if isinstance(start, str) else None,
        end_date=calendar_date(end) if isinstance(end, str) else None,
        value=value,
        procedure_id=procedure_id,
        encounter_id=encounter_id,
        location_id=location_id,
    )
    return (CareEvent, row)


def encounter_events(r: dict, patient_id: str) -> list[Row]:
    """Where the patient stayed (one row per location, for ICU stays) and hospice encounters."""
    if r.get("status") in NOT_DONE:
        return []
    period = r.get("period") or {}
    rows: list[Row] = []
    for n, loc in enumerate(r.get("location") or ()):
        if not isinstance(loc, dict) or loc.get("status") == "planned":
            continue
        own = loc.get("period") or {}
        start, end = (
            (own.get("start"), own.get("end"))
            if own.get("start")
            else (period.get("start"), period.get("end"))
        )
        location_id = ref_id(loc.get("location"), "Location")
        rows.append(
            event_row(
                r, patient_id, n, codes.STAY_EVENT, start, end, encounter_id=r["id"], location_id=location_id
            )
        )
    if is_hospice(r.get("type")):
        rows.append(
            event_row(
                r,
                patient_id,
                1000,
                codes.HOSPICE_EVENT,
                period.get("start"),
                period.get("end"),
                encounter_id=r["id"],
            )
        )
    return rows


def procedure_events(r: dict) -> list[Row]:
    """Chemotherapy and life-sustaining treatment, when done (status completed)."""
    patient_id = ref_id(r.get("subject"), "Patient")
    if patient_id is None or r.get("status") != "completed":
        return []
    kinds = {
        codes.CARE_EVENT_PROCEDURES[c]
        for s, c in codes.codings(r.get("code"))
        if s == codes.SNOMED and c in codes.CARE_EVENT_PROCEDURES
    }
    if not kinds:
        return []
    period = r.get("performedPeriod") or {}
    start = r.get("performedDateTime") or period.get("start")
    encounter_id = ref_id(r.get("encounter"), "Encounter")
    return [
        event_row(r, patient_id, n, kind, start, period.get("end"), encounter_id=encounter_id)
        for n, kind in enumerate(sorted(kinds))
    ]
