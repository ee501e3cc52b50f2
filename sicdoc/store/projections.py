"""Keep the analytics projections in step with the resources, in the caller's transaction.

Each projected type has one function that turns the current version into rows; a delete or a
resource that no longer qualifies removes its rows. Conversations combine three resources (the
Procedure, its QuestionnaireResponse and its code-status Observation), so any of them refreshes the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.conversation import documented_domains
from sicdoc.fhir.dates import calendar_date, instant
from sicdoc.fhir.validation import reference_parts
from sicdoc.models import (
    Conversation,
    DiagnosisFact,
    EncounterFact,
    PalliativeConsult,
    PalliativeReferral,
    PatientFact,
    ReferenceIndex,
    Resource,
)
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
    }
)


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


class Projector:
    """Projects resources with one value-set version; the store calls ``apply`` for every write."""

    def __init__(self, value_sets: ValueSets):
        self.value_sets = value_sets
        self._handlers: dict[str, Callable[[Session, dict], None]] = {
            "Patient": self._patient,
            "Condition": self._condition,
            "Encounter": self._encounter,
            "ServiceRequest": self._service_request,
            "Procedure": self._procedure,
            "QuestionnaireResponse": self._linked_to_procedure,
            "Observation": self._linked_to_procedure,
        }

    def apply(self, session: Session, resource_type: str, resource_id: str, content: dict | None) -> None:
        """Re-project one resource; ``content`` None means it was deleted."""
        if resource_type not in PROJECTED:
            return
        self._remove(session, resource_type, resource_id)
        if content is not None:
            self._handlers[resource_type](session, content)
        elif resource_type in ("QuestionnaireResponse", "Observation"):
            pass  # the linked conversation keeps its row; a later Procedure write refreshes it

    def _remove(self, session: Session, resource_type: str, rid: str) -> None:
        if resource_type == "Patient":
            session.execute(delete(PatientFact).where(PatientFact.patient_id == rid))
        elif resource_type == "Condition":
            session.execute(delete(DiagnosisFact).where(DiagnosisFact.condition_id == rid))
        elif resource_type == "Encounter":
            session.execute(delete(EncounterFact).where(EncounterFact.encounter_id == rid))
            session.execute(delete(PalliativeConsult).where(PalliativeConsult.encounter_id == rid))
        elif resource_type == "ServiceRequest":
            session.execute(delete(PalliativeReferral).where(PalliativeReferral.service_request_id == rid))
        elif resource_type == "Procedure":
            session.execute(delete(Conversation).where(Conversation.procedure_id == rid))

    def _patient(self, session: Session, r: dict) -> None:
        language = None
        for comm in r.get("communication") or ():
            for _system, code in codes.codings(comm.get("language")):
                language = code
                break
            if language:
                break
        deceased = r.get("deceasedDateTime")
        session.execute(
            insert(PatientFact).values(
                patient_id=r["id"],
                birth_date=calendar_date(r.get("birthDate")),
                sex=r.get("gender"),
                race=_extension_text(r, US_CORE_RACE),
                ethnicity=_extension_text(r, US_CORE_ETHNICITY),
                language=language,
                deceased_date=calendar_date(deceased) if isinstance(deceased, str) else None,
                site=(r.get("managingOrganization") or {}).get("display")
                or _ref_text(r.get("managingOrganization")),
            )
        )

    def _condition(self, session: Session, r: dict) -> None:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None or _has_code(r.get("verificationStatus"), {"entered-in-error", "refuted"}):
            return
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
        if rows:
            session.execute(insert(DiagnosisFact), list(rows.values()))

    def _encounter(self, session: Session, r: dict) -> None:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None:
            return
        period = r.get("period") or {}
        unit = None
        for loc in r.get("location") or ():
            unit = (loc.get("location") or {}).get("display") or unit
        site = (r.get("serviceProvider") or {}).get("display")
        cls = r.get("class") or {}
        palliative = _is_palliative_encounter(r)
        row = dict(
            encounter_id=r["id"],
            patient_id=patient_id,
            class_code=cls.get("code"),
            status=r.get("status"),
            admit_at=instant(period.get("start")),
            admit_date=calendar_date(period.get("start")),
            discharge_at=instant(period.get("end")),
            discharge_date=calendar_date(period.get("end")),
            site=site,
            unit=unit,
            palliative=palliative,
        )
        session.execute(insert(EncounterFact).values(**row))
        if palliative:
            referral = next((_ref_id(b, "ServiceRequest") for b in r.get("basedOn") or ()), None)
            session.execute(
                insert(PalliativeConsult).values(
                    encounter_id=r["id"],
                    patient_id=patient_id,
                    status=r.get("status"),
                    start_at=row["admit_at"],
                    start_date=row["admit_date"],
                    referral_id=referral,
                    site=site,
                    unit=unit,
                )
            )

    def _service_request(self, session: Session, r: dict) -> None:
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
            return
        session.execute(
            insert(PalliativeReferral).values(
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
        )

    def _procedure(self, session: Session, r: dict) -> None:
        patient_id = _ref_id(r.get("subject"), "Patient")
        if patient_id is None or not codes.is_conversation(r):
            return
        when = r.get("performedDateTime") or (r.get("performedPeriod") or {}).get("start")
        performer = next((_ref_text(p.get("actor")) for p in r.get("performer") or ()), None)
        encounter_id = _ref_id(r.get("encounter"), "Encounter")
        unit = site = None
        if encounter_id:
            enc = session.get(EncounterFact, encounter_id)
            if enc is not None:
                unit, site = enc.unit, enc.site
        domains, code_status = _conversation_details(session, r["id"])
        session.execute(
            insert(Conversation).values(
                procedure_id=r["id"],
                patient_id=patient_id,
                status=r.get("status"),
                performed_at=instant(when),
                performed_date=calendar_date(when),
                clinician_id=performer,
                encounter_id=encounter_id,
                site=site,
                unit=unit,
                domains=domains,
                code_status=code_status,
            )
        )

    def _linked_to_procedure(self, session: Session, r: dict) -> None:
        """A QuestionnaireResponse or Observation that is part of a conversation refreshes its row."""
        for ref in r.get("partOf") or ():
            procedure_id = _ref_id(ref, "Procedure")
            if procedure_id is None:
                continue
            procedure = session.get(Resource, ("Procedure", procedure_id))
            if procedure is not None and not procedure.deleted:
                self._remove(session, "Procedure", procedure_id)
                self._procedure(session, procedure.content)


def _has_code(concept: Any, wanted: set[str]) -> bool:
    return any(code in wanted for _, code in codes.codings(concept))


def _is_palliative_encounter(r: dict) -> bool:
    for system, code in codes.codings(r.get("type")) + codes.codings(r.get("reasonCode")):
        if system == codes.SNOMED and code in codes.PALLIATIVE_ENCOUNTER_SNOMED:
            return True
        if system == codes.ICD10CM and code in codes.PALLIATIVE_ENCOUNTER_ICD:
            return True
    return False


def _conversation_details(session: Session, procedure_id: str) -> tuple[str | None, str | None]:
    """Documented domains (from the QuestionnaireResponse) and code status (from its Observation)."""
    linked = session.execute(
        select(Resource.resource_type, Resource.content)
        .join(
            ReferenceIndex,
            (ReferenceIndex.resource_type == Resource.resource_type)
            & (ReferenceIndex.resource_id == Resource.id),
        )
        .where(
            ReferenceIndex.param == "part-of",
            ReferenceIndex.target_type == "Procedure",
            ReferenceIndex.target_id == procedure_id,
            Resource.deleted.is_(False),
        )
    ).all()
    domains: list[str] = []
    code_status = None
    for resource_type, content in linked:
        if resource_type == "QuestionnaireResponse":
            domains.extend(d for d in documented_domains(content.get("item")) if d not in domains)
        elif (
            resource_type == "Observation"
            and content.get("status") != "entered-in-error"  # withdrawn by an amendment
            and _has_code(content.get("code"), {codes.RESUSCITATION_STATUS})
        ):
            value = codes.codings(content.get("valueCodeableConcept"))
            if value:
                code_status = {codes.FOR_RESUSCITATION: "full", codes.NOT_FOR_RESUSCITATION: "dnr"}.get(
                    value[0][1], value[0][1]
                )
    return (",".join(domains)[:512] or None), code_status
