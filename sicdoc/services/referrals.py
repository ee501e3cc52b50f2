"""Palliative-care referrals from the form: a ServiceRequest (SNOMED 306237005) through the bundle service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sicdoc import codes
from sicdoc.errors import InvalidInput
from sicdoc.fhir.dates import calendar_date, format_instant, utc_now
from sicdoc.services import timing
from sicdoc.services.bundles import process_transaction
from sicdoc.services.conversations.common import (
    FORMS_CLIENT,
    AnswersRefused,
    Author,
    clinician_reference,
    locations,
)
from sicdoc.services.unit import UnitOfWork

REFERRAL_SYSTEM = f"{codes.CANONICAL_BASE}/sid/referral"
URGENCIES = {"routine": "Routine", "urgent": "Urgent", "asap": "As soon as possible"}
REASON_MAX = 4000
PALLIATIVE_REFERRAL = {
    "system": codes.SNOMED,
    "code": "306237005",
    "display": "Referral to palliative care service",
}
PATIENT_REFERRAL = {"system": codes.SNOMED, "code": "3457005", "display": "Patient referral"}


def record_referral(
    uow: UnitOfWork,
    patient_id: str,
    author: Author,
    *,
    authored_on: date | None,
    reason: str,
    urgency: str,
    condition_id: str | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> str:
    """Store the referral and return the ServiceRequest id. ``today`` is the site's calendar date.

    A referral dated today carries the current instant, so hour-level measures stay possible;
    an earlier one carries its date only. A diagnosis that is not this patient's is refused as
    tampering (400), never linked.
    """
    now = now or utc_now()
    today = today or now.date()
    patient = uow.read("Patient", patient_id).content or {}
    errors: dict[str, str] = {}
    born = calendar_date(patient.get("birthDate"))
    if authored_on is None:
        errors["authored_on"] = "Enter the date of the referral."
    elif authored_on > today:
        errors["authored_on"] = "The referral date cannot be in the future."
    elif born is not None and authored_on < born:
        errors["authored_on"] = (
            f"The referral date cannot be before the patient's birth ({born.isoformat()})."
        )
    elif after_death := timing.referral_error(uow, patient_id, authored_on):
        errors["authored_on"] = after_death
    reason = (reason or "").replace("\r\n", "\n").strip()
    if not reason:
        errors["reason"] = "Give the reason for the referral."
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"Keep this to {REASON_MAX} characters or fewer (it has {len(reason)})."
    if urgency not in URGENCIES:
        errors["urgency"] = "Choose routine, urgent or as soon as possible."
    if condition_id:
        condition = uow.read("Condition", condition_id).content or {}
        if (condition.get("subject") or {}).get("reference") != f"Patient/{patient_id}":
            raise InvalidInput("The diagnosis chosen is not one of this patient's.", expression="condition")
    if errors:
        raise AnswersRefused(errors)
    assert authored_on is not None
    reference, extra = clinician_reference(author)
    request = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": REFERRAL_SYSTEM, "value": str(uuid.uuid4())}],
        "status": "active",
        "intent": "order",
        "priority": urgency,
        "category": [{"coding": [PATIENT_REFERRAL]}],
        "code": {"coding": [PALLIATIVE_REFERRAL], "text": "Referral to palliative care"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": format_instant(now) if authored_on == today else authored_on.isoformat(),
        "requester": {"reference": reference, "display": author.display},
        "reasonCode": [{"text": reason}],
    }
    if condition_id:
        request["reasonReference"] = [{"reference": f"Condition/{condition_id}"}]
    entry = {"resource": request, "request": {"method": "POST", "url": "ServiceRequest"}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [*extra, entry]}
    result = process_transaction(uow, bundle, client_id=FORMS_CLIENT)
    return next(rid for rtype, rid, _ in locations(result) if rtype == "ServiceRequest")
