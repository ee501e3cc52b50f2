"""Audit records as FHIR R4 AuditEvent resources (read-only: sicdoc writes the log itself)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sicdoc.fhir.dates import format_instant

SICDOC_ACTION = "https://sicdoc.org/fhir/CodeSystem/audit-action"
SICDOC_ACTOR = "https://sicdoc.org/fhir/NamingSystem/actor"
SICDOC_REQUEST = "https://sicdoc.org/fhir/NamingSystem/request-id"
_REST = {
    "read": "read",
    "vread": "vread",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "search": "search-type",
}
_CRUDE = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "search": "R",
    "audit-search": "R",
    "update": "U",
    "delete": "D",
}
_OUTCOME = {"success": "0", "failure": "4", "denied": "4", "error": "8"}
_LOGIN = {"login": ("110122", "Login"), "logout": ("110123", "Logout")}
DCM = "http://dicom.nema.org/resources/ontology/DCM"


class AuditRow(Protocol):
    seq: int
    recorded: datetime
    actor_id: str
    actor_role: str
    action: str
    resource_type: str | None
    resource_id: str | None
    patient_id: str | None
    outcome: str
    source_address: str | None
    request_id: str | None
    detail: str | None

    @property
    def patients(self) -> list[str]:
        """Every patient the record names (``patient_id`` among them)."""
        ...


def to_audit_event(row: AuditRow) -> dict[str, Any]:
    subtype = [{"system": SICDOC_ACTION, "code": row.action}]
    if row.action in _LOGIN:
        event_type = {"system": DCM, "code": "110114", "display": "User Authentication"}
        code, display = _LOGIN[row.action]
        subtype.append({"system": DCM, "code": code, "display": display})
    else:
        event_type = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"}
        if row.action in _REST:
            subtype.append({"system": "http://hl7.org/fhir/restful-interaction", "code": _REST[row.action]})
    agent: dict[str, Any] = {
        "who": {"identifier": {"system": SICDOC_ACTOR, "value": row.actor_id}},
        "requestor": True,
        "role": [{"text": row.actor_role}],
    }
    if row.source_address:
        agent["network"] = {"address": row.source_address, "type": "2"}
    entity: list[dict[str, Any]] = []
    if row.resource_type and row.resource_id:
        entity.append({"what": {"reference": f"{row.resource_type}/{row.resource_id}"}})
    for patient in row.patients or ([row.patient_id] if row.patient_id else []):
        entity.append(
            {
                "what": {"reference": f"Patient/{patient}"},
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    if row.request_id:
        entity.append({"what": {"identifier": {"system": SICDOC_REQUEST, "value": row.request_id}}})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.seq),
        "type": event_type,
        "subtype": subtype,
        "action": _CRUDE.get(row.action, "E"),
        "recorded": format_instant(row.recorded),
        "outcome": _OUTCOME.get(row.outcome, "8"),
        "agent": [agent],
        "source": {"observer": {"display": "sicdoc"}},
    }
    if row.detail:
        event["outcomeDesc"] = row.detail
    if entity:
        event["entity"] = entity
    return event


def searchset(events: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(events),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [{"resource": e, "search": {"mode": "match"}} for e in events],
    }
