"""Keep the analytics projections in step with the resources, in the caller's transaction.

Each projected type has one function that turns the current version into rows; a delete or a
resource that no longer qualifies removes its rows. Conversations combine three resources (the
Procedure, its QuestionnaireResponse and its code-status Observation), so any of them refreshes the row.
Rows are collected and inserted with one statement per table, which matters for large bundles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.fhir.dates import calendar_date, instant
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
    Resource,
)
from sicdoc.store.care_events import (
    EVENT_SOURCES,
    discharge_disposition,
    encounter_events,
    episode_of_care_rows,
    location_rows,
    observation_rows,
    procedure_events,
)
from sicdoc.store.conversation_details import conversation_details, linked_records, noted_procedures
from sicdoc.store.resource_fields import Row, has_code, part_of_procedures, ref_id, ref_text
from sicdoc.store.rows import insert_rows
from sicdoc.valuesets import ValueSets

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


def _insert(session: Session, rows: list[Row]) -> None:
    by_table: dict[type[Base], list[dict[str, Any]]] = defaultdict(list)
    for table, row in rows:
        by_table[table].append(row)
    for table, batch in by_table.items():
        insert_rows(session, table.__table__, batch)


class Projector:
    """Projects resources with one value-set version; the store calls it for every write."""

    def __init__(self, value_sets: ValueSets):
        self.value_sets = value_sets
        self._handlers: dict[str, Callable[[dict], list[Row]]] = {
            "Patient": self._patient,
            "Condition": self._condition,
            "Encounter": self._encounter,
            "ServiceRequest": self._service_request,
            "Location": location_rows,
            "EpisodeOfCare": episode_of_care_rows,
            "Observation": observation_rows,
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
        rows = [
            row
            for rtype, _, content, _ in changes
            if content and rtype in self._handlers
            for row in self._handlers[rtype](content)
        ]
        _insert(session, rows)
        # A conversation takes its unit from its encounter's row, often one written just now.
        stays = {row["encounter_id"]: row for table, row in rows if table is EncounterFact}
        procedures = [content for rtype, _, content, _ in changes if rtype == "Procedure" and content]
        conversations = [r["id"] for r in procedures if codes.is_conversation(r)]
        parts = linked_records(session, conversations) if conversations else {}
        _insert(
            session,
            [row for content in procedures for row in self._procedure(session, content, stays, parts)],
        )
        _insert(session, [row for content in procedures for row in procedure_events(content)])
        written = {p["id"] for p in procedures}
        linked = {
            pid
            for rtype, _, content, _ in changes
            if rtype in ("QuestionnaireResponse", "Observation", "Composition") and content
            for pid in (noted_procedures(content) if rtype == "Composition" else part_of_procedures(content))
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
            site=(org.get("display") or ref_text(org) or None),
        )
        return [(PatientFact, row)]

    def _condition(self, r: dict) -> list[Row]:
        patient_id = ref_id(r.get("subject"), "Patient")
        if patient_id is None or has_code(r.get("verificationStatus"), {"entered-in-error", "refuted"}):
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
                        encounter_id=ref_id(r.get("encounter"), "Encounter"),
                    ),
                )
        return [(DiagnosisFact, row) for row in rows.values()]

    def _encounter(self, r: dict) -> list[Row]:
        patient_id = ref_id(r.get("subject"), "Patient")
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
            discharge_disposition=discharge_disposition(r),
        )
        rows: list[Row] = [(EncounterFact, row)]
        rows.extend(encounter_events(r, patient_id))
        if palliative:
            referral = next((ref_id(b, "ServiceRequest") for b in r.get("basedOn") or ()), None)
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
        patient_id = ref_id(r.get("subject"), "Patient")
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
            encounter_id=ref_id(r.get("encounter"), "Encounter"),
            requester_id=ref_text(r.get("requester")),
            site=None,
            unit=None,
        )
        return [(PalliativeReferral, row)]

    def _procedure(
        self,
        session: Session,
        r: dict,
        stays: dict[str, dict] | None = None,
        linked: dict[str, list[tuple[str, dict]]] | None = None,
    ) -> list[Row]:
        """The conversation row of a Procedure; ``stays`` (encounter rows by id) and ``linked``
        (``linked_records``) when the caller has them."""
        patient_id = ref_id(r.get("subject"), "Patient")
        if patient_id is None or not codes.is_conversation(r):
            return []
        when = r.get("performedDateTime") or (r.get("performedPeriod") or {}).get("start")
        performer = next((ref_text(p.get("actor")) for p in r.get("performer") or ()), None)
        encounter_id = ref_id(r.get("encounter"), "Encounter")
        unit = site = None
        if encounter_id and stays and encounter_id in stays:
            unit, site = stays[encounter_id]["unit"], stays[encounter_id]["site"]
        elif encounter_id:
            enc = session.get(EncounterFact, encounter_id)
            if enc is not None:
                unit, site = enc.unit, enc.site
        details = conversation_details(session, r["id"], patient_id, (linked or {}).get(r["id"]))
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

    def _refresh_conversations(self, session: Session, procedure_ids: set[str]) -> None:
        """A QuestionnaireResponse or Observation that is part of a conversation re-projects it."""
        rows: list[Row] = []
        for pid in sorted(procedure_ids):
            procedure = session.get(Resource, ("Procedure", pid))
            if procedure is not None and not procedure.deleted:
                session.execute(delete(Conversation).where(Conversation.procedure_id == pid))
                rows.extend(self._procedure(session, procedure.content))
        _insert(session, rows)


def _is_palliative_encounter(r: dict) -> bool:
    for system, code in codes.codings(r.get("type")) + codes.codings(r.get("reasonCode")):
        if system == codes.SNOMED and code in codes.PALLIATIVE_ENCOUNTER_SNOMED:
            return True
        if system == codes.ICD10CM and code in codes.PALLIATIVE_ENCOUNTER_ICD:
            return True
    return False
