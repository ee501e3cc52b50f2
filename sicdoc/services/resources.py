"""Single-resource use cases shared by the FHIR API, the forms and the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput
from sicdoc.fhir.validation import validate_resource
from sicdoc.services import transaction
from sicdoc.store import Store, Stored


def create_resource(session: Session, store: Store, resource_type: str, resource: Any) -> Stored:
    """Validate and store version 1 of a new resource; the server assigns the id."""
    validate_resource(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    with transaction(session):
        return store.create(session, resource)


def update_resource(
    session: Session,
    store: Store,
    resource_type: str,
    resource_id: str,
    resource: Any,
    if_match: int | None = None,
) -> Stored:
    validate_resource(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    with transaction(session):
        return store.update(session, resource, resource_id, if_match=if_match)


def delete_resource(session: Session, store: Store, resource_type: str, resource_id: str) -> Stored | None:
    with transaction(session):
        return store.delete(session, resource_type, resource_id)
