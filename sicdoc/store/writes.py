"""Writing resource versions: current row, history row, search indexes, identifiers, projections.

Nothing here commits: the calling service owns the transaction, so a bundle is all or nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import uuid_utils
from sqlalchemy import CursorResult, Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sicdoc.errors import Conflict, DuplicateIdentifier, Gone, InvalidInput, NotFound, PreconditionFailed
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
from sicdoc.store.projections import Projector
from sicdoc.store.rows import HeldRows, held_rows

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
class Stored:
    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    content: dict[str, Any] | None

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @classmethod
    def current(cls, row: Resource) -> Stored:
        """The current version held in a ``resource`` row (a deleted one is never read this way)."""
        return cls(row.resource_type, row.id, row.version_id, row.last_updated, False, row.content)


def new_id() -> str:
    """A new server-assigned id: a UUIDv7, whose leading bits are the time it was made, so the rows of
    new resources go to the end of every index keyed by id rather than to a random page of each (a
    bulk load into a large store then touches a few pages per index, not thousands). The remaining 74
    bits are random, so ids are no easier to guess."""
    return str(uuid_utils.uuid7())


def business_identifiers(resource: dict[str, Any], systems: frozenset[str]) -> list[tuple[str, str]]:
    """(system, value) pairs that must be unique for this resource's type: those of the ``systems``
    a site names (SICDOC_UNIQUE_IDENTIFIER_SYSTEMS). Other identifiers may repeat."""
    if not systems:
        return []
    return [pair for pair in identifier_pairs(resource) if pair[0] in systems]


def identifier_pairs(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (system, value) identifier of a resource."""
    idents = resource.get("identifier")
    if isinstance(idents, dict):  # QuestionnaireResponse and Composition have a single identifier
        idents = [idents]
    pairs = []
    for ident in idents or ():
        if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
            pair = (ident["system"][:255], str(ident["value"])[:255])
            if pair not in pairs:
                pairs.append(pair)
    return pairs


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
        session.expire(current)

    def _record(self, session: Session, versions: list[_Version]) -> None:
        """History rows, search indexes, identifiers and projections for freshly written versions."""
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
                    "content": v.stored.content,
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


def find_by_identifier(session: Session, rtype: str, idents: list[tuple[str, str]]) -> str | None:
    """The id of a live resource with one of these identifiers."""
    found = find_by_identifiers(session, rtype, idents)
    return next((found[pair] for pair in idents if pair in found), None)


# Built once: a bundle looks identifiers up for every type it mentions, and building the statement
# each time cost several times more than running it.
_BY_IDENTIFIER_TOKEN = (
    select(TokenIndex.system, TokenIndex.code, TokenIndex.resource_id)
    .join(Resource, (Resource.resource_type == bindparam("rtype")) & (Resource.id == TokenIndex.resource_id))
    .where(
        TokenIndex.resource_type == bindparam("rtype"),
        TokenIndex.param == "identifier",
        # By value alone, which the lookup index serves on both databases (a list of (system,
        # value) pairs was planned as a filter over every identifier row of the type on
        # PostgreSQL); the systems are checked on the rows found.
        TokenIndex.code.in_(bindparam("values", expanding=True)),
        Resource.deleted.is_(False),
    )
)


def find_by_identifiers(
    session: Session, rtype: str, idents: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(system, value) -> id for every identifier of a live ``rtype`` among ``idents``, in one query.

    When an identifier repeats (only systems not configured unique may), the lowest id answers.
    """
    return {pair: ids[0] for pair, ids in identifier_matches(session, rtype, idents).items()}


def identifier_matches(
    session: Session, rtype: str, idents: list[tuple[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """(system, value) -> sorted ids of every live ``rtype`` carrying it, for ``idents``, in one query.

    The token index holds every identifier of every type, unique or not, so the answer does not
    depend on which systems were configured unique when a resource was written.
    """
    if not idents:
        return {}
    wanted = set(idents)
    values = sorted({value for _, value in wanted})
    rows: set[tuple[str, str, str]] = set()
    for start in range(0, len(values), 1000):
        params = {"rtype": rtype, "values": values[start : start + 1000]}
        rows.update(
            (system, value, rid)
            for system, value, rid in session.execute(_BY_IDENTIFIER_TOKEN, params)
            if system is not None and (system, value) in wanted
        )
    found: dict[tuple[str, str], list[str]] = {}
    for system, value, rid in sorted(rows):
        found.setdefault((system, value), []).append(rid)
    return found


def _held(session: Session, rtype: str, rid: str) -> Stored | None:
    """A resource created by the bulk-load batch this session is holding rows for."""
    held = held_rows(session)
    return None if held is None else held.created.get((rtype, rid))


def read(session: Session, rtype: str, rid: str) -> Stored:
    held = held_rows(session)
    if held is not None:
        found = held.created.get((rtype, rid)) or held.read.get((rtype, rid))
        if found is None:
            found = held.read[(rtype, rid)] = _read(session, rtype, rid)
        return found
    return _read(session, rtype, rid)


def _read(session: Session, rtype: str, rid: str) -> Stored:
    row = session.get(Resource, (rtype, rid))
    if row is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    if row.deleted:
        raise Gone(f"{rtype}/{rid} was deleted")
    return Stored(rtype, rid, row.version_id, row.last_updated, False, row.content)


def read_optional(session: Session, rtype: str, rid: str) -> Stored | None:
    """The current live version, or None when the resource is unknown or deleted."""
    if (found := _held(session, rtype, rid)) is not None:
        return found
    row = session.get(Resource, (rtype, rid))
    if row is None or row.deleted:
        return None
    return Stored(rtype, rid, row.version_id, row.last_updated, False, row.content)


def vread(session: Session, rtype: str, rid: str, version: int) -> Stored:
    row = session.get(ResourceVersion, (rtype, rid, version))
    if row is None:
        raise NotFound(f"{rtype}/{rid} has no version {version}")
    if row.deleted:
        raise Gone(f"Version {version} of {rtype}/{rid} is a deletion")
    return Stored(rtype, rid, row.version_id, row.last_updated, False, row.content)


def history(session: Session, rtype: str, rid: str) -> list[Stored]:
    rows = session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_type == rtype, ResourceVersion.id == rid)
        .order_by(ResourceVersion.version_id.desc())
    ).all()
    if not rows:
        raise NotFound(f"{rtype}/{rid} is not known")
    return [Stored(rtype, rid, r.version_id, r.last_updated, r.deleted, r.content) for r in rows]
