"""Single-resource use cases shared by the FHIR API, the forms and the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput
from sicdoc.fhir.validation import validate_resource
from sicdoc.security import audit
from sicdoc.security.audit import Actor
from sicdoc.services import transaction
from sicdoc.store import Store, Stored


def audit_write(session: Session, actor: Actor | None, action: str, stored: Stored) -> None:
    """The audit record of a write, inside the write's own transaction (no change without its record)."""
    if actor is not None:
        audit.append(
            session,
            actor,
            action,
            "success",
            resource_type=stored.resource_type,
            resource_id=stored.id,
            patient_id=stored.id if stored.resource_type == "Patient" else audit.patient_of(stored.content),
        )


def create_resource(
    session: Session, store: Store, resource_type: str, resource: Any, actor: Actor | None = None
) -> Stored:
    """Validate and store version 1 of a new resource; the server assigns the id."""
    validate_resource(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    with transaction(session):
        stored = store.create(session, resource)
        audit_write(session, actor, "create", stored)
    return stored


def update_resource(
    session: Session,
    store: Store,
    resource_type: str,
    resource_id: str,
    resource: Any,
    if_match: int | None = None,
    actor: Actor | None = None,
) -> Stored:
    validate_resource(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    with transaction(session):
        stored = store.update(session, resource, resource_id, if_match=if_match)
        audit_write(session, actor, "update", stored)
    return stored


def delete_resource(
    session: Session, store: Store, resource_type: str, resource_id: str, actor: Actor | None = None
) -> Stored | None:
    with transaction(session):
        stored = store.delete(session, resource_type, resource_id)
        if stored is not None:
            audit_write(session, actor, "delete", stored)
    return stored
