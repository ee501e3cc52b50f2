"""Writes the integration tests make to a loaded population, through the service layer, and the
patients they pick for them."""

import uuid

import pandas as pd
from sqlalchemy import select

from sicdoc.codes import ADVANCE_CARE_PLANNING, SNOMED
from sicdoc.db import session_scope
from sicdoc.models import DiagnosisFact, Resource
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from tests.web.fhir_helpers import patient, stroke


def transact(app, *entries: tuple) -> None:
    """Apply a transaction of ``(method, url, resource)`` entries."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": method, "url": url}, **({"resource": body} if body else {})}
            for method, url, body in entries
        ],
    }
    with session_scope(app) as session:
        process_transaction(system_unit(session, app.extensions["sicdoc.store"]), bundle)


def conversation(patient_id: str, day: str) -> dict:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": ADVANCE_CARE_PLANNING}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "performedDateTime": day,
    }


def ward(name: str) -> dict:
    """A hospital unit (a Location), which belongs to no one patient."""
    role = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HU"}
    return {"resourceType": "Location", "name": name, "status": "active", "type": [{"coding": [role]}]}


def patient_with_stroke(app) -> tuple[str, str]:
    ref = f"urn:uuid:{uuid.uuid4()}"
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": ref,
                "resource": patient(str(uuid.uuid4())),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {**stroke("x", onset="2025-06-10"), "subject": {"reference": ref}},
                "request": {"method": "POST", "url": "Condition"},
            },
        ],
    }
    with session_scope(app) as session:
        answer = process_transaction(system_unit(session, app.extensions["sicdoc.store"]), bundle)
    patient_ref, condition_ref = (
        e["response"]["location"].split("/_history")[0] for e in answer.response["entry"]
    )
    return patient_ref.split("/")[1], condition_ref


def living_patients_not_due(app, table: pd.DataFrame) -> list[str]:
    with app.extensions["sicdoc.engine"].connect() as conn:
        with_diagnoses = set(conn.scalars(select(DiagnosisFact.patient_id)))
        patients = conn.execute(
            select(Resource.id, Resource.content).where(
                Resource.resource_type == "Patient", Resource.deleted.is_(False)
            )
        ).all()
    listed = set(table["patient_id"])
    return sorted(
        pid
        for pid, content in patients
        if pid not in listed and pid not in with_diagnoses and "deceasedDateTime" not in content
    )
