"""The unit of work: one per request or command, through which every read and write of patient data goes.

It carries the database session, the resource store, the actor (a person, an integration client or the
command line) and what that actor may read. Reads note the patients whose data they return; the face
flushes those notes into audit records before the response leaves (``flush``), and a service cannot
reach patient data without a unit, so it cannot reach it without an actor. Writes are audited inside
their own transaction (``audit_writes``), so no change is committed without its record.

Scopes are checked where data leaves, not only at the route: included and revincluded resources,
compartments, history pages and bundle reads are filtered by the same ``may_read`` rule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from sicdoc.errors import Forbidden
from sicdoc.fhir.compartment import compartment_types
from sicdoc.fhir.search import DEFAULT_COUNT, SearchRequest
from sicdoc.locking import appending
from sicdoc.security import audit
from sicdoc.security import scopes as smart
from sicdoc.security.audit import Actor
from sicdoc.services import retrying, transaction
from sicdoc.store import Store, Stored
from sicdoc.store import history as store_history
from sicdoc.store import read as store_read
from sicdoc.store import vread as store_vread
from sicdoc.store.compartment import CompartmentPage, compartment
from sicdoc.store.reads import history_page
from sicdoc.store.search import SearchResult, search

T = TypeVar("T")


@dataclass(frozen=True)
class Access:
    """What an actor may read. People and the command line have passed their route's rule (None);
    integration clients hold SMART system scopes, checked for every resource that leaves."""

    scopes: frozenset[str] | None = None

    def may(self, resource_type: str, interaction: str) -> bool:
        return self.scopes is None or smart.allows(self.scopes, resource_type, interaction)


EVERYTHING = Access()


@dataclass
class _Disclosure:
    action: str
    resource_type: str | None
    resource_id: str | None
    detail: str | None
    patients: set[str] = field(default_factory=set)
    resources: int = 0


def patients_of(items: Iterable[Stored]) -> set[str]:
    """The patients whose data these resources carry (a Patient is its own)."""
    found = set()
    for item in items:
        pid = item.id if item.resource_type == "Patient" else audit.patient_of(item.content)
        if pid:
            found.add(pid)
    return found


class UnitOfWork:
    def __init__(
        self, session: Session, store: Store, actor: Actor, access: Access = EVERYTHING, where: str = ""
    ):
        self.session = session
        self.store = store
        self.actor = actor
        self.access = access
        self.where = where  # what asked, e.g. "GET forms.patient_page": the default detail of read records
        self._pending: dict[tuple[str, str | None, str | None], _Disclosure] = {}
        self._with_records: list[Callable[[Session], None]] = []

    # ---- transactions and writes -------------------------------------------------------------

    def transaction(self) -> SessionTransaction:
        return transaction(self.session)

    def retrying(self, attempt: Callable[[], T]) -> T:
        return retrying(self.session, attempt)

    def audit_writes(self, writes: list[tuple[str, Stored]]) -> None:
        """Records of writes, inside the writes' own transaction (no change without its record)."""
        if not writes:
            return
        audit.append_many(
            self.session,
            self.actor,
            [
                {
                    "action": action,
                    "resource_type": stored.resource_type,
                    "resource_id": stored.id,
                    "patient_id": next(iter(patients_of([stored])), None),
                }
                for action, stored in writes
            ],
        )

    def audit_change(
        self,
        action: str,
        *,
        patients: Iterable[str],
        resource_type: str | None = None,
        resource_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """A record of a change to patient data kept outside the FHIR store (a draft), in its transaction."""
        wanted = sorted(set(patients))
        audit.append(
            self.session,
            self.actor,
            action,
            "success",
            resource_type=resource_type,
            resource_id=resource_id,
            patient_id=wanted[0] if len(wanted) == 1 else None,
            patients=wanted,
            detail=detail,
        )

    # ---- reads -----------------------------------------------------------------------------

    def may_read(self, resource_type: str) -> bool:
        return self.access.may(resource_type, "read")

    def require(self, resource_type: str, interaction: str) -> None:
        if not self.access.may(resource_type, interaction):
            raise Forbidden(f"The token's scopes do not allow {interaction} on {resource_type}")

    def readable(self, items: Iterable[Stored]) -> list[Stored]:
        """Only the resources this actor may read: the rest never leave the server."""
        return [s for s in items if self.may_read(s.resource_type)]

    def read(self, resource_type: str, resource_id: str, *, action: str = "read") -> Stored:
        self.require(resource_type, "read")
        stored = store_read(self.session, resource_type, resource_id)
        self.disclose(action, [stored], resource_type=resource_type, resource_id=resource_id)
        return stored

    def vread(self, resource_type: str, resource_id: str, version: int) -> Stored:
        self.require(resource_type, "read")
        stored = store_vread(self.session, resource_type, resource_id, version)
        self.disclose("vread", [stored], resource_type=resource_type, resource_id=resource_id)
        return stored

    def instance_history(self, resource_type: str, resource_id: str) -> list[Stored]:
        self.require(resource_type, "read")
        versions = store_history(self.session, resource_type, resource_id)
        self.disclose("history", versions, resource_type=resource_type, resource_id=resource_id)
        return versions

    def search(self, request: SearchRequest, *, action: str = "search") -> SearchResult:
        """A search whose includes reach only readable types; every patient returned is noted."""
        self.require(request.resource_type, "search")
        named = [i.target_type for i in request.includes] + [i.source_type for i in request.revincludes]
        for rtype in named:
            if rtype and not self.may_read(rtype):
                raise Forbidden(f"The token's scopes do not allow reading {rtype}, so it cannot be included")
        result = search(self.session, request)
        result.included = self.readable(result.included)
        self.disclose(
            action,
            [*result.matches, *result.included],
            resource_type=request.resource_type,
            detail=f"{len(result.matches)} matches, {len(result.included)} included",
        )
        return result

    def history_page(
        self,
        resource_type: str | None,
        resource_id: str | None,
        *,
        since: datetime | None,
        count: int,
        cursor: dict[str, Any] | None,
    ) -> tuple[list[Stored], dict[str, Any] | None]:
        items, next_cursor = history_page(
            self.session, resource_type, resource_id, since=since, count=count, cursor=cursor
        )
        items = self.readable(items)
        self.disclose("history", items, resource_type=resource_type, resource_id=resource_id)
        return items, next_cursor

    def compartment(
        self,
        patient_id: str,
        *,
        types: Collection[str] | None = None,
        since: datetime | None = None,
        count: int = DEFAULT_COUNT,
        cursor: dict[str, Any] | None = None,
        with_total: bool = True,
    ) -> CompartmentPage:
        """A page of the patient's compartment, of the types this actor may read (and ``types``, if given).

        The types are limited in the query, so page sizes and the total count only what may leave.
        """
        wanted = None if types is None else set(types)
        if self.access.scopes is not None:
            readable = {t for t in compartment_types() if self.may_read(t)}
            wanted = readable if wanted is None else wanted & readable
        page = compartment(
            self.session,
            patient_id,
            types=wanted,
            since=since,
            count=count,
            cursor=cursor,
            with_total=with_total,
        )
        page.items = self.readable(page.items)
        self.disclose(
            "export", page.items, resource_type="Patient", resource_id=patient_id, patients=[patient_id]
        )
        return page

    def disclose(
        self,
        action: str,
        items: Iterable[Stored] = (),
        *,
        patients: Iterable[str] = (),
        resource_type: str | None = None,
        resource_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Note that these resources (or these patients' data) are about to leave the server."""
        items = list(items)
        key = (action, resource_type, resource_id)
        note = self._pending.get(key)
        if note is None:
            note = self._pending[key] = _Disclosure(action, resource_type, resource_id, detail or self.where)
        note.patients |= patients_of(items) | {p for p in patients if p}
        note.resources += len(items)

    @property
    def disclosed_patients(self) -> set[str]:
        return set().union(*(n.patients for n in self._pending.values())) if self._pending else set()

    def write_with_records(self, write: Callable[[Session], None]) -> None:
        """Have ``write(session)``, a change the view itself makes (the login's recently viewed
        patients), made in the transaction ``flush`` writes the audit records in: a chart view then
        commits once, not twice, and a failed response (``discard``) changes nothing."""
        self._with_records.append(write)

    def discard(self) -> None:
        """Nothing left the server (the request failed): forget what was noted."""
        self._pending.clear()
        self._with_records.clear()

    def flush(self) -> None:
        """Write one audit record per noted read, in its own transaction with the view's own writes
        (``write_with_records``), before any data leaves.

        Raises ``AuditUnavailable`` when the records cannot be written: the caller must then answer
        with an error instead of the data.
        """
        if not self._pending and not self._with_records:
            return
        records = []
        for note in self._pending.values():
            patients = sorted(note.patients)
            records.append(
                {
                    "action": note.action,
                    "outcome": "success",
                    "resource_type": note.resource_type,
                    "resource_id": note.resource_id,
                    "patient_id": patients[0] if len(patients) == 1 else None,
                    "patients": patients,
                    "detail": note.detail,
                }
            )
        writes, self._with_records = self._with_records, []
        self._pending.clear()
        try:
            with appending(self.session):
                # The view's own writes first: a logout locks its session row, then the audit chain.
                for write in writes:
                    write(self.session)
                audit.append_many(self.session, self.actor, records)
        except audit.AuditUnavailable:
            self.session.rollback()
            raise
        except SQLAlchemyError as exc:  # the commit, or a view's own write, failed: nothing was kept
            self.session.rollback()
            raise audit.AuditUnavailable() from exc


def system_unit(session: Session, store: Store, actor: Actor = audit.SYSTEM) -> UnitOfWork:
    """A unit for the command line and background jobs: the operator's own actor, every type readable."""
    return UnitOfWork(session, store, actor, EVERYTHING, "cli")
