"""One synthetic patient as one FHIR R4 transaction Bundle (plain dicts, no fhir.resources).

Resources of the patient reference each other by urn:uuid fullUrls drawn from the patient's rng;
the shared world is referenced conditionally (see ``sicdoc.sample.shared``). Conversations come
from ``sicdoc.conversation.build_conversation_bundle``, the same builder the web form uses.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sicdoc import codes
from sicdoc.conversation import ConversationAnswers, build_conversation_bundle
from sicdoc.conversation.bundle import conditional_entry as entry
from sicdoc.sample import shared
from sicdoc.sample.catalog import LANGUAGES, SID
from sicdoc.sample.population import CareProcedure, Diagnosis, Hospice, PatientPlan, Referral, Stay, Talk
from sicdoc.sample.shared import local_iso, location_ref, org_ref, practitioner_ref

ENCOUNTER_SYSTEM = f"{SID}/encounter"
CONDITION_SYSTEM = f"{SID}/condition"
REFERRAL_SYSTEM = f"{SID}/service-request"
CONVERSATION_SYSTEM = f"{SID}/conversation"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
HTEST = {"system": f"{TERMINOLOGY}/v3-ActReason", "code": "HTEST", "display": "test health data"}
MR_TYPE = {"coding": [{"system": f"{TERMINOLOGY}/v2-0203", "code": "MR", "display": "Medical record number"}]}
CLASSES = {
    True: {"system": codes.ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
    False: {"system": codes.ACT_CODE, "code": "AMB", "display": "ambulatory"},
}
EMERGENCY = {"system": codes.ACT_CODE, "code": codes.EMERGENCY_CLASS, "display": "emergency"}
EPISODE_SYSTEM = f"{SID}/episode-of-care"
PROCEDURE_SYSTEM = f"{SID}/procedure"
HOSPICE_TYPE = {"system": codes.SNOMED, "code": codes.HOSPICE_CARE, "display": "Hospice care"}
PROCEDURE_CODES = {
    "chemotherapy": (codes.CHEMOTHERAPY, "Chemotherapy"),
    "cpr": (codes.CPR, "Cardiopulmonary resuscitation"),
    "ventilation": (codes.MECHANICAL_VENTILATION, "Artificial respiration"),
    "intubation": (codes.INTUBATION, "Intubation of respiratory tract"),
}
DISPOSITIONS = {"home": "Home", "hosp": "Hospice", "snf": "Skilled nursing facility", "exp": "Expired"}
PALLIATIVE_CONSULT = {
    "system": codes.SNOMED,
    "code": "713281006",
    "display": "Consultation for palliative care",
}
Z515 = {"system": codes.ICD10CM, "code": "Z51.5", "display": "Encounter for palliative care"}
REFERRAL_DISPLAY = {
    "306237005": "Referral to palliative care service",
    "306288008": "Referral to palliative care physician",
}
PATIENT_REFERRAL = {"system": codes.SNOMED, "code": "3457005", "display": "Patient referral"}


def _participant(role: str, display: str, ref: dict[str, str]) -> dict[str, Any]:
    return {
        "type": [
            {"coding": [{"system": f"{TERMINOLOGY}/v3-ParticipationType", "code": role, "display": display}]}
        ],
        "individual": ref,
    }


def patient_bundle(rng: random.Random, p: PatientPlan) -> dict[str, Any]:
    """The transaction Bundle of one patient: shared world first, then the patient's record."""

    def new_url() -> str:
        return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    patient_url = new_url()
    stays = sorted(p.stays, key=lambda s: s.start)
    urls: dict[object, str] = {s: new_url() for s in stays}
    urls.update((d, new_url()) for d in p.diagnoses)
    urls.update((r, new_url()) for r in p.referrals)
    mine = [entry(patient_url, _patient(p), codes.MRN_SYSTEM, p.mrn)]
    for k, stay in enumerate(stays, 1):
        mine.append(
            entry(urls[stay], _encounter(p, stay, patient_url, urls, k), ENCOUNTER_SYSTEM, f"{p.mrn}-enc-{k}")
        )
    for k, dx in enumerate(p.diagnoses, 1):
        mine.append(
            entry(urls[dx], _condition(p, dx, patient_url, urls, k), CONDITION_SYSTEM, f"{p.mrn}-dx-{k}")
        )
    for k, ref in enumerate(p.referrals, 1):
        mine.append(
            entry(urls[ref], _referral(p, ref, patient_url, urls, k), REFERRAL_SYSTEM, f"{p.mrn}-ref-{k}")
        )
    for k, talk in enumerate(sorted(p.talks, key=lambda t: t.start), 1):
        mine.extend(_conversation(p, talk, patient_url, urls, k))
    for k, episode in enumerate(p.hospice, 1):
        mine.append(
            entry(new_url(), _episode(p, episode, patient_url, k), EPISODE_SYSTEM, f"{p.mrn}-eoc-{k}")
        )
    for k, done in enumerate(p.procedures, 1):
        mine.append(
            entry(new_url(), _procedure(p, done, patient_url, urls, k), PROCEDURE_SYSTEM, f"{p.mrn}-proc-{k}")
        )
    units = {seg.unit: None for s in stays for seg in s.places}
    clinicians = {s.clinician: None for s in stays} | {r.requester: None for r in p.referrals}
    clinicians |= {t.clinician: None for t in p.talks}
    world = [shared.org_entry(p.site)]
    world += [shared.location_entry(u) for u in units]
    world += [shared.practitioner_entry(c) for c in clinicians]
    world += [shared.practitioner_role_entry(c) for c in clinicians]
    return {"resourceType": "Bundle", "type": "transaction", "entry": world + mine}


def _patient(p: PatientPlan) -> dict[str, Any]:
    race, eth = p.race, p.ethnicity
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"security": [HTEST]},
        "extension": [
            {
                "url": f"{US_CORE}/us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": race[0], "code": race[1], "display": race[2]},
                    },
                    {"url": "text", "valueString": race[2]},
                ],
            },
            {
                "url": f"{US_CORE}/us-core-ethnicity",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": eth[0], "code": eth[1], "display": eth[2]},
                    },
                    {"url": "text", "valueString": eth[2]},
                ],
            },
        ],
        "identifier": [{"use": "usual", "type": MR_TYPE, "system": codes.MRN_SYSTEM, "value": p.mrn}],
        "active": True,
        "name": [{"use": "official", "family": p.family, "given": [p.given]}],
        "gender": p.gender,
        "birthDate": p.birth_date.isoformat(),
        "communication": [
            {
                "language": {
                    "coding": [
                        {"system": "urn:ietf:bcp:47", "code": p.language, "display": LANGUAGES[p.language]}
                    ]
                },
                "preferred": True,
            }
        ],
        "managingOrganization": org_ref(p.site),
    }
    if p.death is not None:
        patient["deceasedDateTime"] = local_iso(p.site, p.death)
    return patient


def _encounter(
    p: PatientPlan, stay: Stay, patient_url: str, urls: dict[object, str], k: int
) -> dict[str, Any]:
    period = {"start": local_iso(p.site, stay.start)}
    if stay.end is not None:
        period["end"] = local_iso(p.site, stay.end)
    consult = stay.referral is not None
    who = (
        _participant("CON", "consultant", practitioner_ref(stay.clinician))
        if consult
        else _participant("ATND", "attender", practitioner_ref(stay.clinician))
    )
    enc: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": ENCOUNTER_SYSTEM, "value": f"{p.mrn}-enc-{k}"}],
        "status": "finished" if stay.end is not None else "in-progress",
        "class": EMERGENCY if stay.emergency else CLASSES[stay.inpatient],
        "subject": {"reference": patient_url},
        "participant": [who],
        "period": period,
        "location": _locations(p, stay),
        "serviceProvider": org_ref(p.site),
    }
    if consult:
        enc["type"] = [{"coding": [PALLIATIVE_CONSULT]}]
        enc["reasonCode"] = [{"coding": [Z515]}]
        enc["basedOn"] = [{"reference": urls[stay.referral]}]
        if stay.part_of is not None:
            enc["partOf"] = {"reference": urls[stay.part_of]}
    if stay.disposition:
        enc["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [
                    {
                        "system": f"{TERMINOLOGY}/discharge-disposition",
                        "code": stay.disposition,
                        "display": DISPOSITIONS[stay.disposition],
                    }
                ]
            }
        }
    return enc


def _locations(p: PatientPlan, stay: Stay) -> list[dict[str, Any]]:
    """One entry for a stay at one unit; one per unit, each with its period, when it moved."""
    if not stay.segments:
        return [{"location": location_ref(stay.unit), "status": "completed" if stay.end else "active"}]
    out = []
    for seg in stay.segments:
        period = {"start": local_iso(p.site, seg.start)}
        if seg.end is not None:
            period["end"] = local_iso(p.site, seg.end)
        status = "completed" if seg.end is not None else "active"
        out.append({"location": location_ref(seg.unit), "status": status, "period": period})
    return out


def _episode(p: PatientPlan, episode: Hospice, patient_url: str, k: int) -> dict[str, Any]:
    period = {"start": local_iso(p.site, episode.start)}
    if episode.end is not None:
        period["end"] = local_iso(p.site, episode.end)
    return {
        "resourceType": "EpisodeOfCare",
        "identifier": [{"system": EPISODE_SYSTEM, "value": f"{p.mrn}-eoc-{k}"}],
        "status": "finished" if episode.end is not None else "active",
        "type": [{"coding": [HOSPICE_TYPE], "text": "Hospice care"}],
        "patient": {"reference": patient_url},
        "period": period,
    }


def _procedure(
    p: PatientPlan, done: CareProcedure, patient_url: str, urls: dict[object, str], k: int
) -> dict[str, Any]:
    code, display = PROCEDURE_CODES[done.kind]
    procedure: dict[str, Any] = {
        "resourceType": "Procedure",
        "identifier": [{"system": PROCEDURE_SYSTEM, "value": f"{p.mrn}-proc-{k}"}],
        "status": "completed",
        "code": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient_url},
        "performedDateTime": local_iso(p.site, done.when),
    }
    if done.stay is not None:
        procedure["encounter"] = {"reference": urls[done.stay]}
    return procedure


def _condition(
    p: PatientPlan, dx: Diagnosis, patient_url: str, urls: dict[object, str], k: int
) -> dict[str, Any]:
    system, code, display = dx.coding
    category = (
        ("encounter-diagnosis", "Encounter Diagnosis")
        if dx.stay
        else ("problem-list-item", "Problem List Item")
    )
    condition: dict[str, Any] = {
        "resourceType": "Condition",
        "identifier": [{"system": CONDITION_SYSTEM, "value": f"{p.mrn}-dx-{k}"}],
        "clinicalStatus": {"coding": [{"system": f"{TERMINOLOGY}/condition-clinical", "code": "active"}]},
        "verificationStatus": {
            "coding": [{"system": f"{TERMINOLOGY}/condition-ver-status", "code": "confirmed"}]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": f"{TERMINOLOGY}/condition-category",
                        "code": category[0],
                        "display": category[1],
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": patient_url},
        "onsetDateTime": local_iso(p.site, dx.onset),
        "recordedDate": local_iso(p.site, dx.onset + timedelta(hours=2)),
    }
    if dx.stay is not None:
        condition["encounter"] = {"reference": urls[dx.stay]}
    return condition


def _referral(
    p: PatientPlan, ref: Referral, patient_url: str, urls: dict[object, str], k: int
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": REFERRAL_SYSTEM, "value": f"{p.mrn}-ref-{k}"}],
        "status": "completed" if ref.completed else "active",
        "intent": "order",
        "category": [{"coding": [PATIENT_REFERRAL]}],
        "code": {
            "coding": [{"system": codes.SNOMED, "code": ref.code, "display": REFERRAL_DISPLAY[ref.code]}]
        },
        "subject": {"reference": patient_url},
        "authoredOn": local_iso(p.site, ref.authored),
        "requester": practitioner_ref(ref.requester),
    }
    if ref.stay is not None:
        request["encounter"] = {"reference": urls[ref.stay]}
    if ref.reason is not None:
        request["reasonReference"] = [{"reference": urls[ref.reason]}]
    return request


def _conversation(
    p: PatientPlan, talk: Talk, patient_url: str, urls: dict[object, str], k: int
) -> list[dict[str, Any]]:
    unit = location_ref(talk.unit) if talk.unit else None
    site = org_ref(p.site)
    doctor = practitioner_ref(talk.clinician)
    answers = ConversationAnswers(
        patient=patient_url,
        clinician=doctor["reference"],
        clinician_display=doctor["display"],
        performed_start=shared.aware(p.site, talk.start),
        answers=talk.answers,
        encounter=urls[talk.stay] if talk.stay is not None else None,
        unit=unit["reference"] if unit else None,
        unit_display=unit["display"] if unit else None,
        site=site["reference"],
        site_display=site["display"],
    )
    bundle = build_conversation_bundle(
        answers, conversation_id=f"{p.mrn}-sic-{k}", identifier_system=CONVERSATION_SYSTEM
    )
    return bundle["entry"]
