"""Keep the analytics projections in step with the resources, in the caller's transaction.

Each projected type has one function that turns the current version into rows; a delete or a
resource that no longer qualifies removes its rows. Conversations combine three resources (the
Procedure, its QuestionnaireResponse and its code-status Observation), so any of them refreshes the row.
Rows are collected and inserted with one statement per table, which matters for large bundles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.conversation import documented_domains
from sicdoc.conversation.extract import SNOMED_CODE_STATUS, code_status_of
from sicdoc.conversation.form import answers_from_items
from sicdoc.conversation.quality import Score, care_focus_of, score_answers, score_records
from sicdoc.fhir.dates import calendar_date, instant
from sicdoc.fhir.validation import reference_parts
from sicdoc.models import (
    Base,
    CareEvent,
    Conversation,
    DiagnosisFact,
    EncounterFact,
    LocationFact,
    PalliativeConsult,
    PalliativeReferral,
    PatientFact,
    ReferenceIndex,
    Resource,
)
from sicdoc.valuesets import ValueSets, icu_value_set

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"
PROJECTED = frozenset(
    {
        "Patient",
        "Condition",
        "Encounter",
        "ServiceRequest",
        "Procedure",
        "QuestionnaireResponse",
        "Observation",
        "EpisodeOfCare",
        "Location",
        "Composition",
    }
)
# Types whose resources may yield care events (keyed by source type and id, several per resource).
EVENT_SOURCES = frozenset({"Encounter", "EpisodeOfCare", "Procedure", "Observation"})
# Statuses of records that did not happen (or were withdrawn): never care events.
NOT_DONE = frozenset({"entered-in-error", "cancelled", "planned", "waitlist", "not-done", "preliminary"})
# (table, row) pairs waiting to be inserted.
Row = tuple[type[Base], dict[str, Any]]
# (resource type, id, current content or None when deleted, whether rows may already exist)
Change = tuple[str, str, dict[str, Any] | None, bool]

_KEYS: dict[str, list[tuple[type, Any]]] = {
    "Patient": [(PatientFact, PatientFact.patient_id)],
    "Condition": [(DiagnosisFact, DiagnosisFact.condition_id)],
    "Encounter": [
        (EncounterFact, EncounterFact.encounter_id),
        (PalliativeConsult, PalliativeConsult.encounter_id),
    ],
    "ServiceRequest": [(PalliativeReferral, PalliativeReferral.service_request_id)],
    "Procedure": [(Conversation, Conversation.procedure_id)],
    "Location": [(LocationFact, LocationFact.location_id)],
}


def _ref_id(ref: Any, expected: str | None = None) -> str | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = reference_parts(ref["reference"])
    if parts is None or (expected and parts[0] != expected):
        return None
    return parts[1]


def _ref_text(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return ref.get("reference") or ref.get("display")
    return None


def _extension_text(resource: dict, url: str) -> str | None:
    for ext in resource.get("extension") or ():
        if ext.get("url") == url:
            for sub in ext.get("extension") or ():
                if sub.get("url") == "text" and sub.get("valueString"):
                    return sub["valueString"][:64]
            for sub in ext.get("extension") or ():
                if sub.get("url") == "ombCategory" and sub.get("valueCoding"):
                    return (sub["valueCoding"].get("display") or sub["valueCoding"].get("code"))[:64]
    return None


def _has_code(concept: Any, wanted: set[str]) -> bool:
    return any(code in wanted for _, code in codes.codings(concept))


def _insert(session: Session, rows: list[Row]) -> None:
    by_table: dict[type[Base], list[dict[str, Any]]] = defaultdict(list)
    for table, row in rows:
        by_table[table].append(row)
    for table, batch in by_table.items():
        session.execute(insert(table.__table__), batch)


class Projector:
    """Projects resources with one value-set version; the store calls it for every write."""

    def __init__(self, value_sets: ValueSets):
        self.value_sets = value_sets
        self._handlers: dict[str, Callable[[dict], list[Row]]] = {
            "Patient": self._patient,
            "Condition": self._condition,
            "Encounter": self._encounter,
            "ServiceRequest": self._service_request,
            "Location": self._location,
            "EpisodeOfCare": self._episode_of_care,
            "Observation": self._observation,
        }

    def apply(self, session: Session, resource_type: str, resource_id: str, content: dict | None) -> None:
        self.apply_many(session, [(resource_type, resource_id, content, True)])

    def apply_many(self, session: Session, changes: list[Change]) -> None:
        """Project many writes; conversations come last so their encounter's unit is known."""
        changes = [c for c in changes if c[0] in PROJECTED]
        stale: dict[str, list[str]] = defaultdict(list)
        for rtype, rid, _, existed in changes:
            if existed and rtype in _KEYS:
                stale[rtype].append(rid)
        for rtype, ids in stale.items():
            for table, key in _KEYS[rtype]:
                session.execute(delete(table).where(key.in_(ids)))
        events: dict[str, list[str]] = defaultdict(list)
        for rtype, rid, _, existed in changes:
            if existed and rtype in EVENT_SOURCES:
                events[rtype].append(rid)
        for rtype, ids in events.items():
            session.execute(
                delete(CareEvent).where(CareEvent.source_type == rtype, CareEvent.source_id.in_(ids))
            )
        _insert(
            session,
            [
                row
                for rtype, _, content, _ in changes
                if content and rtype in self._handlers
                for row in self._handlers[rtype](content)
            ],
        )
        procedures = [content for rtype, _, content, _ in changes if rtype == "Procedure" and content]
        _insert(session, [row for content in procedures for row in self._procedure(session, content)])
        _insert(session, [row for content in procedures for row in _procedure_events(content)])
        written = {p["id"] for p in procedures}
        linked = {
            pid
            for rtype, _, content, _ in changes
            if rtype in ("QuestionnaireResponse", "Observation", "Composition") and content
            for pid in (
                _noted_procedures(content) if rtype == "Composition" else _part_of_procedures(content)
            )
            if pid not in written
        }
        if linked:
            self._refresh_conversations(session, linked)

    def _patient(self, r: dict) -> list[Row]:
        language = next(
            (
                code
                for comm in r.get("communication") or ()
                for _, code in codes.codings(comm.get("language"))
            ),
            None,
        )
        deceased = r.get("deceasedDateTime")
        org = r.get("managingOrganization") or {}
        row = dict(
            patient_id=r["id"],
            birth_date=calendar_date(r.get("birthDate")),
            sex=r.get("gender"),
            race=_extension_text(r, US_CORE_RACE),
            ethnicity=_extension_text(r, US_CORE_ETHNICITY),
            language=language,
            deceased_date=calendar_date(deceased) if isinstance(deceased, str) else None,
            site=(org.get("display") or _ref_text(org) or None),
        )
        return [(PatientFact, row)]

    def _condition(self, r: dict) -> list[Row]:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None or _has_code(r.get("verificationStatus"), {"entered-in-error", "refuted"}):
            return []
        when = r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start") or r.get("recordedDate")
        rows: dict[str, dict] = {}
        for system, code in codes.codings(r.get("code")):
            for match in self.value_sets.classify(system, code):
                rows.setdefault(
                    match.cohort,
                    dict(
                        condition_id=r["id"],
                        cohort=match.cohort,
                        patient_id=patient_id,
                        code_system=system or "",
                        code=code,
                        subtype=match.subtype,
                        metastatic=match.metastatic,
                        hematologic=match.hematologic,
                        diagnosis_date=calendar_date(when),
                        encounter_id=_ref_id(r.get("encounter"), "Encounter"),
                    ),
                )
        return [(DiagnosisFact, row) for row in rows.values()]

    def _encounter(self, r: dict) -> list[Row]:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None:
            return []
        period = r.get("period") or {}
        unit = None
        for loc in r.get("location") or ():
            unit = (loc.get("location") or {}).get("display") or unit
        site = (r.get("serviceProvider") or {}).get("display")
        palliative = _is_palliative_encounter(r)
        row = dict(
            encounter_id=r["id"],
            patient_id=patient_id,
            class_code=(r.get("class") or {}).get("code"),
            status=r.get("status"),
            admit_at=instant(period.get("start")),
            admit_date=calendar_date(period.get("start")),
            discharge_at=instant(period.get("end")),
            discharge_date=calendar_date(period.get("end")),
            site=site,
            unit=unit,
            palliative=palliative,
            discharge_disposition=_discharge_disposition(r),
        )
        rows: list[Row] = [(EncounterFact, row)]
        rows.extend(_encounter_events(r, patient_id))
        if palliative:
            referral = next((_ref_id(b, "ServiceRequest") for b in r.get("basedOn") or ()), None)
            consult = dict(
                encounter_id=r["id"],
                patient_id=patient_id,
                status=r.get("status"),
                start_at=row["admit_at"],
                start_date=row["admit_date"],
                referral_id=referral,
                site=site,
                unit=unit,
            )
            rows.append((PalliativeConsult, consult))
        return rows

    def _service_request(self, r: dict) -> list[Row]:
        patient_id = _ref_id(r.get("subject"), "Patient")
        code = next(
            (
                c
                for s, c in codes.codings(r.get("code"))
                if s == codes.SNOMED and c in codes.PALLIATIVE_REFERRAL_CODES
            ),
            None,
        )
        if patient_id is None or code is None:
            return []
        row = dict(
            service_request_id=r["id"],
            patient_id=patient_id,
            code=code,
            status=r.get("status"),
            authored_at=instant(r.get("authoredOn")),
            authored_date=calendar_date(r.get("authoredOn")),
            encounter_id=_ref_id(r.get("encounter"), "Encounter"),
            requester_id=_ref_text(r.get("requester")),
            site=None,
            unit=None,
        )
        return [(PalliativeReferral, row)]

    def _procedure(self, session: Session, r: dict) -> list[Row]:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None or not codes.is_conversation(r):
            return []
        when = r.get("performedDateTime") or (r.get("performedPeriod") or {}).get("start")
        performer = next((_ref_text(p.get("actor")) for p in r.get("performer") or ()), None)
        encounter_id = _ref_id(r.get("encounter"), "Encounter")
        unit = site = None
        if encounter_id:
            enc = session.get(EncounterFact, encounter_id)
            if enc is not None:
                unit, site = enc.unit, enc.site
        details = _conversation_details(session, r["id"], patient_id)
        row = dict(
            procedure_id=r["id"],
            patient_id=patient_id,
            status=r.get("status"),
            performed_at=instant(when),
            performed_date=calendar_date(when),
            clinician_id=performer,
            encounter_id=encounter_id,
            site=site,
            unit=unit,
            domains=details.domains,
            code_status=details.code_status,
            care_focus=details.care_focus,
            quality_domains=details.quality.stored,
            quality_source=details.quality.source,
        )
        return [(Conversation, row)]

    def _location(self, r: dict) -> list[Row]:
        found = codes.codings(r.get("type"))
        icu = icu_value_set()
        row = dict(
            location_id=r["id"],
            name=(r.get("name") or None) and str(r["name"])[:128],
            typed=bool(found),
            icu=any(icu.is_icu(system, code) for system, code in found),
        )
        return [(LocationFact, row)]

    def _episode_of_care(self, r: dict) -> list[Row]:
        patient_id = _ref_id(r.get("patient"), "Patient")
        if patient_id is None or r.get("status") in NOT_DONE or not _is_hospice(r.get("type")):
            return []
        period = r.get("period") or {}
        return [_event(r, patient_id, 0, "hospice", period.get("start"), period.get("end"))]

    def _observation(self, r: dict) -> list[Row]:
        """A care focus, or a code status recorded outside any conversation."""
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None or r.get("status") in NOT_DONE:
            return []
        when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start")
        when = when or r.get("effectiveInstant")
        procedure = next(iter(_part_of_procedures(r)), None)
        focus = care_focus_of(r)
        if focus is not None:
            return [_event(r, patient_id, 0, "care_focus", when, None, value=focus, procedure_id=procedure)]
        if _has_code(r.get("code"), {codes.TREATMENT_PREFERENCES}) and codes.codings(
            r.get("valueCodeableConcept")
        ):
            # A coded answer outside the care focus list (refused on write; kept visible if stored).
            wrong = codes.codings(r.get("valueCodeableConcept"))[0][1][:32]
            return [
                _event(
                    r, patient_id, 0, "care_focus_invalid", when, None, value=wrong, procedure_id=procedure
                )
            ]
        if procedure is None and _has_code(r.get("code"), {codes.RESUSCITATION_STATUS}):
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
                return [_event(r, patient_id, 0, "code_status", when, None, value=status)]
        return []

    def _refresh_conversations(self, session: Session, procedure_ids: set[str]) -> None:
        """A QuestionnaireResponse or Observation that is part of a conversation re-projects it."""
        rows: list[Row] = []
        for pid in sorted(procedure_ids):
            procedure = session.get(Resource, ("Procedure", pid))
            if procedure is not None and not procedure.deleted:
                session.execute(delete(Conversation).where(Conversation.procedure_id == pid))
                rows.extend(self._procedure(session, procedure.content))
        _insert(session, rows)


def _part_of_procedures(r: dict) -> list[str]:
    return [pid for ref in r.get("partOf") or () if (pid := _ref_id(ref, "Procedure"))]


def _is_palliative_encounter(r: dict) -> bool:
    for system, code in codes.codings(r.get("type")) + codes.codings(r.get("reasonCode")):
        if system == codes.SNOMED and code in codes.PALLIATIVE_ENCOUNTER_SNOMED:
            return True
        if system == codes.ICD10CM and code in codes.PALLIATIVE_ENCOUNTER_ICD:
            return True
    return False


class _Details(NamedTuple):
    domains: str | None
    code_status: str | None
    care_focus: str | None
    quality: Score


def _noted_procedures(r: dict) -> list[str]:
    """The conversations a note (Composition) records, from its events' details."""
    return [
        pid
        for event in r.get("event") or ()
        for ref in event.get("detail") or ()
        if (pid := _ref_id(ref, "Procedure"))
    ]


def _notes_of(session: Session, procedure_id: str, patient_id: str) -> list[dict]:
    """The patient's notes that record this conversation (only read when it has no response)."""
    same = and_(
        ReferenceIndex.resource_type == Resource.resource_type, ReferenceIndex.resource_id == Resource.id
    )
    notes = session.scalars(
        select(Resource.content)
        .join(ReferenceIndex, same)
        .where(
            ReferenceIndex.resource_type == "Composition",
            ReferenceIndex.param == "patient",
            ReferenceIndex.target_type == "Patient",
            ReferenceIndex.target_id == patient_id,
            Resource.deleted.is_(False),
        )
    ).all()
    return [n for n in notes if procedure_id in _noted_procedures(n)]


def _conversation_details(session: Session, procedure_id: str, patient_id: str) -> _Details:
    """Documented domains, code status and care focus (from the QuestionnaireResponse, else its
    Observations) and the documentation-quality score of one conversation."""
    same = and_(
        ReferenceIndex.resource_type == Resource.resource_type, ReferenceIndex.resource_id == Resource.id
    )
    linked = session.execute(
        select(Resource.resource_type, Resource.content)
        .join(ReferenceIndex, same)
        .where(
            ReferenceIndex.param == "part-of",
            ReferenceIndex.target_type == "Procedure",
            ReferenceIndex.target_id == procedure_id,
            Resource.deleted.is_(False),
        )
    ).all()
    domains: list[str] = []
    answered = observed = None
    answers: dict[str, Any] | None = None
    focus_answered = focus_observed = None
    observations: list[dict] = []
    for resource_type, content in linked:
        if resource_type == "QuestionnaireResponse":
            domains.extend(d for d in documented_domains(content.get("item")) if d not in domains)
            answers = answers_from_items(content.get("item"))
            status = answers.get("code-status")
            answered = status if isinstance(status, str) else answered
            focus = answers.get("care-focus")
            focus_answered = focus if isinstance(focus, str) and focus in codes.CARE_FOCUS_ANSWERS else None
        elif resource_type == "Observation" and content.get("status") != "entered-in-error":
            # (an entered-in-error Observation was withdrawn by an amendment)
            observations.append(content)
            if _has_code(content.get("code"), {codes.RESUSCITATION_STATUS}):
                observed = code_status_of(content.get("valueCodeableConcept")) or observed
            focus_observed = care_focus_of(content) or focus_observed
    # The answer is the source of truth; the Observations speak for conversations posted without one.
    code_status = answered or observed
    if answers is not None:
        quality = score_answers(answers, care_focus_observed=focus_observed is not None)
    else:
        quality = score_records(observations, _notes_of(session, procedure_id, patient_id))
    return _Details(
        domains=",".join(domains)[:512] or None,
        code_status=code_status[:32] if code_status else None,
        care_focus=focus_answered or focus_observed,
        quality=quality,
    )


def _is_hospice(concept: Any) -> bool:
    return any(s == codes.SNOMED and c == codes.HOSPICE_CARE for s, c in codes.codings(concept))


def _discharge_disposition(r: dict) -> str | None:
    disposition = (r.get("hospitalization") or {}).get("dischargeDisposition")
    for system, code in codes.codings(disposition):
        if system == codes.DISCHARGE_DISPOSITION:
            return code[:32]
    return None


def _event(
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


def _encounter_events(r: dict, patient_id: str) -> list[Row]:
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
        location_id = _ref_id(loc.get("location"), "Location")
        rows.append(
            _event(r, patient_id, n, "stay", start, end, encounter_id=r["id"], location_id=location_id)
        )
    if _is_hospice(r.get("type")):
        rows.append(
            _event(
                r, patient_id, 1000, "hospice", period.get("start"), period.get("end"), encounter_id=r["id"]
            )
        )
    return rows


def _procedure_events(r: dict) -> list[Row]:
    """Chemotherapy and life-sustaining treatment, when done (status completed)."""
    patient_id = _ref_id(r.get("subject"), "Patient")
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
    encounter_id = _ref_id(r.get("encounter"), "Encounter")
    return [
        _event(r, patient_id, n, kind, start, period.get("end"), encounter_id=encounter_id)
        for n, kind in enumerate(sorted(kinds))
    ]
