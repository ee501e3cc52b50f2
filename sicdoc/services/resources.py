"""Single-resource use cases shared by the FHIR API, the forms and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sicdoc.errors import DuplicateIdentifier, InvalidInput, Issue
from sicdoc.fhir.profile import validate_write
from sicdoc.services import timing
from sicdoc.services.matching import match_one, serialise
from sicdoc.services.references import conditional_references
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored
from sicdoc.store import read as store_read


@dataclass(frozen=True)
class WriteResult:
    stored: Stored
    created: bool
    # A conditional create matched a resource this actor may not read: say only that one exists.
    hidden: bool = False
    # Dates that break a clinical rule: stored as sent (EHR data may be late), reported as warnings.
    warnings: tuple[Issue, ...] = ()


def _checked(resource_type: str, resource: Any) -> dict[str, Any]:
    validate_write(resource)
    if resource["resourceType"] != resource_type:
        raise InvalidInput(
            f"resourceType '{resource['resourceType']}' does not match the URL type '{resource_type}'",
            expression="resourceType",
        )
    conditional = conditional_references(resource)
    if conditional:
        # R4 resolves conditional references only inside a transaction; stored verbatim they would dangle.
        raise InvalidInput(
            f"Conditional references such as '{conditional[0]}' are resolved only in transaction bundles",
            code="not-supported",
        )
    return resource


def _written(uow: UnitOfWork, stored: Stored, created: bool) -> WriteResult:
    return WriteResult(
        stored, created, warnings=tuple(timing.date_warnings(timing.Lookup(uow), stored.content or {}))
    )


def matched(uow: UnitOfWork, resource_type: str, resource_id: str) -> WriteResult:
    """A conditional create's existing match, shown only to an actor who may read its type."""
    if not uow.may_read(resource_type):
        return WriteResult(store_read(uow.session, resource_type, resource_id), created=False, hidden=True)
    return WriteResult(uow.read(resource_type, resource_id), created=False)


def create_resource(
    uow: UnitOfWork, resource_type: str, resource: Any, *, if_none_exist: str | None = None
) -> WriteResult:
    """Store version 1 of a new resource (server-assigned id), or find it under ``If-None-Exist``."""
    resource = _checked(resource_type, resource)
    resource = {k: v for k, v in resource.items() if k != "id"}  # the server assigns ids on create

    def attempt() -> WriteResult:
        with uow.transaction():
            if if_none_exist:
                # A match answers at once; a create that may happen waits here for identical ones.
                existing = match_one(uow.session, resource_type, if_none_exist, "If-None-Exist")
                if existing is None and serialise(uow.session, [(resource_type, if_none_exist)]):
                    existing = match_one(uow.session, resource_type, if_none_exist, "If-None-Exist")
                if existing is not None:
                    return matched(uow, resource_type, existing)
            stored = uow.store.create(uow.session, resource)
            uow.audit_writes([("create", stored)])
            return _written(uow, stored, created=True)

    try:
        return uow.retrying(attempt)
    except DuplicateIdentifier as exc:
        raise DuplicateIdentifier(f"{exc}; send If-None-Exist to make the create conditional") from None


def update_resource(
    uow: UnitOfWork, resource_type: str, resource_id: str, resource: Any, *, if_match: int | None = None
) -> WriteResult:
    """A new version (or update-as-create for a new id); a stale ``if_match`` is 412."""
    resource = _checked(resource_type, resource)
    if resource.get("id") != resource_id:
        raise InvalidInput(
            f"The resource id '{resource.get('id')}' must equal the URL id '{resource_id}'",
            expression=f"{resource_type}.id",
        )

    def attempt() -> WriteResult:
        with uow.transaction():
            stored = uow.store.update(uow.session, resource, resource_id, if_match=if_match)
            uow.audit_writes([("create" if stored.version_id == 1 else "update", stored)])
            return _written(uow, stored, created=stored.version_id == 1)

    return uow.retrying(attempt)


def conditional_update(
    uow: UnitOfWork, resource_type: str, criteria: str, resource: Any, *, if_match: int | None = None
) -> WriteResult:
    """``PUT Type?criteria``: no match creates, one match updates it, several is 412."""
    resource = _checked(resource_type, resource)

    def attempt() -> WriteResult:
        with uow.transaction():
            serialise(uow.session, [(resource_type, criteria)])  # identical conditional updates wait here
            found = match_one(uow.session, resource_type, criteria, "request URL")
            if found is not None and resource.get("id") not in (None, found):
                raise InvalidInput(
                    f"The resource id '{resource['id']}' differs from the matched {resource_type}/{found}",
                    expression=f"{resource_type}.id",
                )
            if found is None:
                stored = uow.store.create(uow.session, {k: v for k, v in resource.items() if k != "id"})
                uow.audit_writes([("create", stored)])
                return _written(uow, stored, created=True)
            stored = uow.store.update(uow.session, resource, found, if_match=if_match)
            uow.audit_writes([("update", stored)])
            return _written(uow, stored, created=False)

    return uow.retrying(attempt)


def delete_resource(uow: UnitOfWork, resource_type: str, resource_id: str) -> Stored | None:
    """Soft delete; None when there was nothing live to delete (still a success in FHIR)."""
    with uow.transaction():
        stored = uow.store.delete(uow.session, resource_type, resource_id)
        if stored is not None:
            uow.audit_writes([("delete", stored)])
        return stored
