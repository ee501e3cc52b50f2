"""Single-resource use cases shared by the FHIR API, the forms and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from sicdoc.errors import DuplicateIdentifier, InvalidInput
from sicdoc.fhir.validation import validate_resource
from sicdoc.security import audit
from sicdoc.security.audit import Actor
from sicdoc.services import retrying, transaction
from sicdoc.services.matching import match_one
from sicdoc.store import Store, Stored, read


@dataclass(frozen=True)
class WriteResult:
    stored: Stored
    created: bool


def audit_writes(session: Session, actor: Actor | None, writes: list[tuple[str, Stored]]) -> None:
    """Audit records of writes, inside the writes' own transaction (no change without its record)."""
    if actor is None:
        return
    audit.append_many(
        session,
        actor,
        [
            {
                "action": action,
                "resource_type": stored.resource_type,
                "resource_id": stored.id,
                "patient_id": stored.id
                if stored.resource_type == "Patient"
                else audit.patient_of(stored.content),
            }
            for action, stored in writes
        ],
    )


def _checked(resource_type: str, resource: Any) -> dict[str, Any]:
    validate_resource(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    return resource


def create_resource(
    session: Session,
    store: Store,
    resource_type: str,
    resource: Any,
    *,
    if_none_exist: str | None = None,
    actor: Actor | None = None,
) -> WriteResult:
    """Store version 1 of a new resource (server-assigned id), or find it under ``If-None-Exist``."""
    resource = _checked(resource_type, resource)
    resource = {k: v for k, v in resource.items() if k != "id"}  # the server assigns ids on create

    def attempt() -> WriteResult:
        with transaction(session):
            if if_none_exist:
                existing = match_one(session, resource_type, if_none_exist, "If-None-Exist")
                if existing is not None:
                    return WriteResult(read(session, resource_type, existing), created=False)
            stored = store.create(session, resource)
            audit_writes(session, actor, [("create", stored)])
            return WriteResult(stored, created=True)

    try:
        return retrying(session, attempt)
    except DuplicateIdentifier as exc:
        raise DuplicateIdentifier(f"{exc}; send If-None-Exist to make the create conditional") from None


def update_resource(
    session: Session,
    store: Store,
    resource_type: str,
    resource_id: str,
    resource: Any,
    *,
    if_match: int | None = None,
    actor: Actor | None = None,
) -> WriteResult:
    """A new version (or update-as-create for a new id); a stale ``if_match`` is 412."""
    resource = _checked(resource_type, resource)
    if resource.get("id") != resource_id:
        raise InvalidInput(
            f"The resource id '{resource.get('id')}' must equal the URL id '{resource_id}'",
            expression=f"{resource_type}.id",
        )

    def attempt() -> WriteResult:
        with transaction(session):
            stored = store.update(session, resource, resource_id, if_match=if_match)
            audit_writes(session, actor, [("create" if stored.version_id == 1 else "update", stored)])
            return WriteResult(stored, created=stored.version_id == 1)

    return retrying(session, attempt)


def conditional_update(
    session: Session,
    store: Store,
    resource_type: str,
    criteria: str,
    resource: Any,
    *,
    if_match: int | None = None,
    actor: Actor | None = None,
) -> WriteResult:
    """``PUT Type?criteria``: no match creates, one match updates it, several is 412."""
    resource = _checked(resource_type, resource)

    def attempt() -> WriteResult:
        with transaction(session):
            found = match_one(session, resource_type, criteria, "request URL")
            if found is not None and resource.get("id") not in (None, found):
                raise InvalidInput(
                    f"The resource id '{resource['id']}' differs from the matched {resource_type}/{found}",
                    expression=f"{resource_type}.id",
                )
            if found is None:
                stored = store.create(session, {k: v for k, v in resource.items() if k != "id"})
                audit_writes(session, actor, [("create", stored)])
                return WriteResult(stored, created=True)
            stored = store.update(session, resource, found, if_match=if_match)
            audit_writes(session, actor, [("update", stored)])
            return WriteResult(stored, created=False)

    return retrying(session, attempt)


def delete_resource(
    session: Session, store: Store, resource_type: str, resource_id: str, *, actor: Actor | None = None
) -> Stored | None:
    """Soft delete; None when there was nothing live to delete (still a success in FHIR)."""
    with transaction(session):
        stored = store.delete(session, resource_type, resource_id)
        if stored is not None:
            audit_writes(session, actor, [("delete", stored)])
        return stored
