"""Code systems and codes sicdoc reasons about (see DESIGN.md section 4)."""

from __future__ import annotations

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

CANONICAL_BASE = "https://sicdoc.org/fhir"
SIC_CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sic"
SIC_DOMAIN_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sic-domain"
# Answer options of the SIC Questionnaire (participants, permission, code status, ...).
SIC_ANSWER_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/sic-answer"
SIC_QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/serious-illness-conversation"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"  # example MRN namespace used by the sample data

ADVANCE_CARE_PLANNING = "713603004"
SIC_LOCAL_CODE = "sic"
PALLIATIVE_REFERRAL_CODES = frozenset({"306237005", "306288008"})
# "Palliative Care Encounter" value set members (SNOMED), plus ICD-10-CM Z51.5.
PALLIATIVE_ENCOUNTER_SNOMED = frozenset(
    {"713281006", "441874000", "305686008", "305824005", "305284002", "305381007", "4901000124101"}
)
PALLIATIVE_ENCOUNTER_ICD = frozenset({"Z51.5", "Z515"})
RESUSCITATION_STATUS = "304251008"
FOR_RESUSCITATION = "304252001"
NOT_FOR_RESUSCITATION = "304253006"
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})
EMERGENCY_CLASS = "EMER"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
DISCHARGED_TO_HOSPICE = "hosp"
DISCHARGE_EXPIRED = "exp"
# End-of-life care (NQF 0210-0216 and the concordance signals): what each coded record stands for.
HOSPICE_CARE = "385763009"
CHEMOTHERAPY = "367336001"
CPR = "89666000"
MECHANICAL_VENTILATION = "40617009"
INTUBATION = "112798008"
# Kinds of the care events the projection writes (besides the procedures' below).
STAY_EVENT = "stay"
HOSPICE_EVENT = "hospice"
CARE_FOCUS_EVENT = "care_focus"
CARE_FOCUS_INVALID_EVENT = "care_focus_invalid"
CODE_STATUS_EVENT = "code_status"
CARE_EVENT_PROCEDURES = {
    CHEMOTHERAPY: "chemotherapy",
    CPR: "cpr",
    MECHANICAL_VENTILATION: "ventilation",
    INTUBATION: "intubation",
}
# The care focus: LOINC 75773-2 answered from answer list LL6264-7.
TREATMENT_PREFERENCES = "75773-2"
CARE_FOCUS_ANSWERS = {
    "LA33473-2": "Full treatments",
    "LA33474-0": "Selective treatments",
    "LA33475-7": "Comfort-focused treatments",
}
COMFORT_FOCUSED = "LA33475-7"
# The cohorts the QI metrics report on; which codes put a patient in one is in sicdoc.valuesets.
COHORTS = ("stroke", "heart_failure", "cancer")


def is_conversation(procedure: dict) -> bool:
    """A Procedure coded as advance care planning or with sicdoc's own SIC code."""
    for coding in (procedure.get("code") or {}).get("coding") or ():
        system, code = coding.get("system"), coding.get("code")
        if (system == SNOMED and code == ADVANCE_CARE_PLANNING) or (
            system == SIC_CODE_SYSTEM and code == SIC_LOCAL_CODE
        ):
            return True
    return False


def codings(concepts: object) -> list[tuple[str | None, str]]:
    """(system, code) of every coding in a CodeableConcept or a list of them."""
    items = concepts if isinstance(concepts, list) else [concepts]
    out = []
    for concept in items:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or ():
                if isinstance(coding, dict) and coding.get("code"):
                    out.append((coding.get("system"), str(coding["code"])))
    return out
