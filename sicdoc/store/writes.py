"""Writing resource versions: current row, history row, search indexes, identifiers, projections.

Nothing here commits: the calling service owns the transaction, so a bundle is all or nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Table, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sicdoc.errors import Conflict, DuplicateIdentifier, InvalidInput, PreconditionFailed
from sicdoc.fhir.compartment import compartment_patients
from sicdoc.fhir.dates import format_instant, utc_now
from sicdoc.fhir.search_params import PARAMS, index_rows
from sicdoc.models import (
    BusinessIdentifier,
    CompartmentMember,
    DateIndex,
    ReferenceIndex,
    Resource,
    ResourceVersion,
    StringIndex,
    TokenIndex,
)
from sicdoc.store.identifiers import business_identifiers, identifier_pairs
from sicdoc.store.projections import Projector
from sicdoc.store.rows import HeldRows, held_rows
from sicdoc.store.stored import Stored, new_id

# Types that declare no ``identifier`` search parameter still get identifier token rows, so a
# conditional create (``If-None-Exist: identifier=system|value``) finds them whatever the type.
_IDENTIFIER_DECLARED = frozenset(t for t, ps in PARAMS.items() if any(p.name == "identifier" for p in ps))

# The tables holding rows derived from a resource's current version, keyed by (resource_type, resource_id).
_ROW_TABLES = (TokenIndex, ReferenceIndex, DateIndex, StringIndex, CompartmentMember, BusinessIdentifier)
_TOKEN, _REFERENCE, _DATE, _STRING = (
    TokenIndex.__table__,
    ReferenceIndex.__table__,
    DateIndex.__table__,
    StringIndex.__table__,
)
_MEMBER, _IDENTIFIER = CompartmentMember.__table__, BusinessIdentifier.__table__


@dataclass(frozen=True)
class _Version:
    stored: Stored
    method: str
    existed: bool  # the resource row (and its index rows) existed before this write


class Store:
    """Resource writes with one projector (value-set version) and the identifier systems that are
    unique per type. Stateless apart from those."""

    def __init__(
        self,
        projector: Projector,
        *,
        unique_systems: frozenset[str] = frozenset(),
        local_bases: tuple[str, ...] = (),
    ):
        self.projector = projector
        self.unique_systems = frozenset(unique_systems)
        # Absolute bases of this server's FHIR API: references under them count as local ones.
        self.local_bases = tuple(local_bases)

    def create(
        self,
        session: Session,
        resource: dict[str, Any],
        *,
        resource_id: str | None = None,
        now: datetime | None = None,
    ) -> Stored:
        """Store version 1 of a new resource; the id is assigned by the server unless given."""
        if (
            resource_id is not None
            and session.get(Resource, (resource["resourceType"], resource_id)) is not None
        ):
            raise Conflict(f"{resource['resourceType']}/{resource_id} already exists", code="duplicate")
        return self.create_many(session, [(resource, resource_id or new_id())], now=now)[0]

    def create_many(
        self, session: Session, items: list[tuple[dict[str, Any], str]], *, now: datetime | None = None
    ) -> list[Stored]:
        """Version 1 of many new resources with fresh ids, written with one statement per table."""
        if not items:
            return []
        now = now or utc_now()
        versions = [
            _Version(_stored(res["resourceType"], rid, 1, res, now), "POST", existed=False)
            for res, rid in items
        ]
        held = held_rows(session)
        if held is not None:
            self._hold(held, [v.stored for v in versions])
            return [v.stored for v in versions]
        session.execute(
            insert(Resource.__table__),
            [
                {
                    "resource_type": v.stored.resource_type,
                    "id": v.stored.id,
                    "version_id": 1,
                    "last_updated": now,
                    "deleted": False,
                    "content": v.stored.content,
                }
                for v in versions
            ],
        )
        self._record(session, versions)
        return [v.stored for v in versions]

    def update(
        self,
        session: Session,
        resource: dict[str, Any],
        resource_id: str,
        *,
        if_match: int | None = None,
        now: datetime | None = None,
    ) -> Stored:
        """Store a new version (or version 1 if the id is new: update-as-create)."""
        rtype = resource["resourceType"]
        if resource.get("id") not in (None, resource_id):
            raise InvalidInput(
                f"Resource id '{resource.get('id')}' does not match the URL id '{resource_id}'",
                expression=f"{rtype}.id",
            )
        current = session.get(Resource, (rtype, resource_id), with_for_update=True)
        if if_match is not None and (current is None or current.version_id != if_match):
            have = "none" if current is None else current.version_id
            raise PreconditionFailed(f"{rtype}/{resource_id} is at version {have}, not {if_match}")
        if current is None:
            return self.create_many(session, [(resource, resource_id)], now=now)[0]
        stored = _stored(rtype, resource_id, current.version_id + 1, resource, now or utc_now())
        self._replace(session, current, stored)
        self._record(session, [_Version(stored, "PUT", existed=True)])
        return stored

    def delete(self, session: Session, rtype: str, rid: str, *, now: datetime | None = None) -> Stored | None:
        """Soft delete: a tombstone version; history stays. None if there was nothing to delete.

        The tombstone returned carries the content it ended (never stored with it), so the caller can
        tell whose record was deleted.
        """
        current = session.get(Resource, (rtype, rid), with_for_update=True)
        if current is None or current.deleted:
            return None
        ended = current.content
        stored = Stored(rtype, rid, current.version_id + 1, now or utc_now(), True, None)
        self._replace(session, current, stored)
        self._record(session, [_Version(stored, "DELETE", existed=True)])
        return replace(stored, content=ended)

    def _replace(self, session: Session, current: Resource, stored: Stored) -> None:
        """Move the current row to the new version, refusing if another request moved it first."""
        values: dict[str, Any] = {
            "version_id": stored.version_id,
            "last_updated": stored.last_updated,
            "deleted": stored.deleted,
        }
        if stored.content is not None:
            values["content"] = stored.content
        result = session.execute(
            update(Resource)
            .where(
                Resource.resource_type == stored.resource_type,
                Resource.id == stored.id,
                Resource.version_id == current.version_id,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)  # an UPDATE's result: rowcount is known
        if result.rowcount != 1:
            raise PreconditionFailed(f"{stored.resource_type}/{stored.id} was changed by another request")
        if not current.deleted:
            # The replaced version's body now belongs to history (a current one is kept only here).
            session.execute(
                update(ResourceVersion)
                .where(
                    ResourceVersion.resource_type == stored.resource_type,
                    ResourceVersion.id == stored.id,
                    ResourceVersion.version_id == current.version_id,
                    ResourceVersion.content.is_(None),  # rows written before hold theirs already
                )
                .values(content=current.content)
                .execution_options(synchronize_session=False)
            )
        session.expire(current)

    def _record(self, session: Session, versions: list[_Version]) -> None:
        """History rows, search indexes, identifiers and projections for freshly written versions.

        A history row gets its body only once a later version replaces it (``_replace``): until then
        the body is the ``resource`` row's, and writing it twice would double what a load writes."""
        session.execute(
            insert(ResourceVersion.__table__),
            [
                {
                    "resource_type": v.stored.resource_type,
                    "id": v.stored.id,
                    "version_id": v.stored.version_id,
                    "last_updated": v.stored.last_updated,
                    "deleted": v.stored.deleted,
                    "method": v.method,
                }
                for v in versions
            ],
        )
        self._index(session, [(v.stored, v.existed) for v in versions])

    def reindex(self, session: Session, current: list[Stored]) -> None:
        """Rebuild the index, identifier, compartment and projection rows of current versions exactly
        as writing them would (a deleted one, with ``content`` None, only loses its rows)."""
        self._index(session, [(stored, True) for stored in current])

    def _index(self, session: Session, items: list[tuple[Stored, bool]]) -> None:
        """Index rows for versions; ``True`` beside one whose resource may already have rows."""
        stale: dict[str, list[str]] = defaultdict(list)
        for stored, existed in items:
            if existed:
                stale[stored.resource_type].append(stored.id)
        for rtype, ids in stale.items():
            self._clear_indexes(session, rtype, ids)
        self._write_indexes(session, [stored for stored, _ in items if stored.content is not None])
        self.projector.apply_many(
            session, [(stored.resource_type, stored.id, stored.content, existed) for stored, existed in items]
        )

    def _clear_indexes(self, session: Session, rtype: str, ids: list[str]) -> None:
        for table in _ROW_TABLES:
            session.execute(delete(table).where(table.resource_type == rtype, table.resource_id.in_(ids)))

    def _write_indexes(self, session: Session, items: list[Stored]) -> None:
        tables, idents = self._index_rows(items)
        for table, batch in tables:
            if batch:
                session.execute(insert(table), batch)
        if idents:
            try:
                with session.begin_nested():
                    session.execute(insert(BusinessIdentifier.__table__), idents)
            except IntegrityError:
                raise _taken(idents) from None

    def _index_rows(
        self, items: list[Stored]
    ) -> tuple[list[tuple[Table, list[dict[str, Any]]]], list[dict[str, Any]]]:
        """The search-index and compartment rows of ``items`` by table, and their unique identifiers."""
        tokens: list[dict[str, Any]] = []
        refs: list[dict[str, Any]] = []
        dates: list[dict[str, Any]] = []
        strings: list[dict[str, Any]] = []
        idents: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        for item in items:
            content = item.content or {}
            rtype, rid = item.resource_type, item.id
            members += [
                {"resource_type": rtype, "resource_id": rid, "patient_id": pid}
                for pid in sorted(compartment_patients(content, self.local_bases))
            ]
            rows = index_rows(content)
            tokens += [
                {"resource_type": rtype, "resource_id": rid, "param": p, "system": s, "code": c}
                for p, s, c in rows.tokens
            ]
            refs += [
                {"resource_type": rtype, "resource_id": rid, "param": p, "target_type": t, "target_id": i}
                for p, t, i in rows.references
            ]
            dates += [
                {"resource_type": rtype, "resource_id": rid, "param": p, "low": lo, "high": hi}
                for p, lo, hi in rows.dates
            ]
            strings += [
                {"resource_type": rtype, "resource_id": rid, "param": p, "value": v} for p, v in rows.strings
            ]
            idents += [
                {"resource_type": rtype, "system": s, "value": v, "resource_id": rid}
                for s, v in business_identifiers(content, self.unique_systems)
            ]
            if rtype not in _IDENTIFIER_DECLARED:
                tokens += [
                    {
                        "resource_type": rtype,
                        "resource_id": rid,
                        "param": "identifier",
                        "system": s,
                        "code": v,
                    }
                    for s, v in identifier_pairs(content)
                ]
        tables = [
            (_TOKEN, tokens),
            (_REFERENCE, refs),
            (_DATE, dates),
            (_STRING, strings),
            (_MEMBER, members),
        ]
        return tables, idents

    def _hold(self, held: HeldRows, items: list[Stored]) -> None:
        """Creates of a bulk-load batch: their rows wait in ``held`` until the batch writes them.

        A unique identifier taken by an earlier create of the batch is refused here, as the
        database would refuse it; one taken in the database is refused when the batch is written.
        """
        tables, idents = self._index_rows(items)
        keys = [(i["resource_type"], i["system"], i["value"]) for i in idents]
        if len(set(keys)) < len(keys) or any(key in held.identifiers for key in keys):
            raise _taken(idents)
        for item in items:
            held.created[(item.resource_type, item.id)] = item
        for table, batch in tables:
            held.add(table, batch)
        held.add(_IDENTIFIER, idents)
        held.identifiers.update(dict.fromkeys(keys))

    def project_held(self, session: Session, created: list[Stored]) -> None:
        """Projection rows of the creates a batch held, once they are in the database."""
        self.projector.apply_many(session, [(s.resource_type, s.id, s.content, False) for s in created])


def _taken(idents: list[dict[str, Any]]) -> DuplicateIdentifier:
    taken = [f"{i['resource_type']} {i['system']}|{i['value']}" for i in idents]
    return DuplicateIdentifier(
        f"An identifier is already used by another resource of the same type (one of: {', '.join(taken[:3])})"
    )


def _stored(rtype: str, rid: str, version: int, resource: dict[str, Any], now: datetime) -> Stored:
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = format_instant(now)
    content = {"resourceType": rtype, "id": rid, "meta": meta}
    content.update((k, v) for k, v in resource.items() if k not in ("resourceType", "id", "meta"))
    return Stored(rtype, rid, version, now, False, content)
