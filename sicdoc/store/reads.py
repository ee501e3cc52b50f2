"""Reading resources: the current version, one version, the history; inside a bulk-load batch the
resources it holds are answered first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, tuple_
from sqlalchemy.orm import Session

from sicdoc.errors import Gone, InvalidInput, NotFound
from sicdoc.models import Resource, ResourceVersion
from sicdoc.store.rows import held_rows
from sicdoc.store.stored import Stored


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


def read_many(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    """The current versions of the (type, id) ``keys`` that exist and are not deleted, a few
    statements for all of them rather than one per resource."""
    ids: dict[str, list[str]] = {}
    for rtype, rid in sorted(set(keys)):
        ids.setdefault(rtype, []).append(rid)
    found: dict[tuple[str, str], Stored] = {}
    for rtype, wanted in ids.items():
        for start in range(0, len(wanted), 500):
            rows = session.scalars(
                select(Resource).where(
                    Resource.resource_type == rtype,
                    Resource.id.in_(wanted[start : start + 500]),
                    Resource.deleted.is_(False),
                )
            )
            for row in rows:
                found[(rtype, row.id)] = _stored(row)
    return found


def _stored(row: Resource | ResourceVersion, content: dict[str, Any] | None = None) -> Stored:
    """A current or past version as the store hands it out (``content`` when the row holds none)."""
    body = row.content if row.content is not None else content
    return Stored(row.resource_type, row.id, row.version_id, row.last_updated, row.deleted, body)


def _versions(session: Session, rows: Sequence[ResourceVersion]) -> list[Stored]:
    """History rows as versions. A live version's history row holds no body until a later version
    replaces it (``sicdoc.store.writes``): the current row's body is read for those."""
    wanted = [(r.resource_type, r.id, r.version_id) for r in rows if r.content is None and not r.deleted]
    bodies = _bodies(session, Resource, [(rtype, rid) for rtype, rid, _ in wanted])
    # One replaced since its row was read has its body in history by now: the write that moved the
    # resource row on moved the body there in the same transaction.
    if moved := [key for key in wanted if key not in bodies]:
        bodies.update(_bodies(session, ResourceVersion, moved))
    return [_stored(r, bodies.get((r.resource_type, r.id, r.version_id))) for r in rows]


def _bodies(
    session: Session, model: type[Resource | ResourceVersion], keys: list[tuple[Any, ...]]
) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(type, id, version) -> body of the ``model`` rows whose primary keys are ``keys``."""
    found: dict[tuple[str, str, int], dict[str, Any]] = {}
    key = tuple_(*model.__table__.primary_key.columns)
    for start in range(0, len(keys), 500):
        rows = session.execute(
            select(model.resource_type, model.id, model.version_id, model.content).where(
                key.in_(keys[start : start + 500])
            )
        )
        found.update(((rtype, rid, version), body) for rtype, rid, version, body in rows if body is not None)
    return found


def _read(session: Session, rtype: str, rid: str) -> Stored:
    row = session.get(Resource, (rtype, rid))
    if row is None:
        raise NotFound(f"{rtype}/{rid} is not known")
    if row.deleted:
        raise Gone(f"{rtype}/{rid} was deleted")
    return _stored(row)


def read_optional(session: Session, rtype: str, rid: str) -> Stored | None:
    """The current live version, or None when the resource is unknown or deleted."""
    if (found := _held(session, rtype, rid)) is not None:
        return found
    row = session.get(Resource, (rtype, rid))
    if row is None or row.deleted:
        return None
    return _stored(row)


def vread(session: Session, rtype: str, rid: str, version: int) -> Stored:
    row = session.get(ResourceVersion, (rtype, rid, version))
    if row is None:
        raise NotFound(f"{rtype}/{rid} has no version {version}")
    if row.deleted:
        raise Gone(f"Version {version} of {rtype}/{rid} is a deletion")
    return _versions(session, [row])[0]


def history(session: Session, rtype: str, rid: str) -> list[Stored]:
    rows = session.scalars(
        select(ResourceVersion)
        .where(ResourceVersion.resource_type == rtype, ResourceVersion.id == rid)
        .order_by(ResourceVersion.version_id.desc())
    ).all()
    if not rows:
        raise NotFound(f"{rtype}/{rid} is not known")
    return _versions(session, rows)


def history_page(
    session: Session,
    rtype: str | None,
    rid: str | None,
    *,
    since: datetime | None,
    count: int,
    cursor: dict[str, Any] | None,
) -> tuple[list[Stored], dict[str, Any] | None]:
    """Versions newest first, keyset-paged on (lastUpdated, type, id, version)."""
    V = ResourceVersion
    query = select(V)
    if rtype:
        query = query.where(V.resource_type == rtype)
    if rid:
        query = query.where(V.id == rid)
    if since is not None:
        query = query.where(V.last_updated >= since)
    order = (V.last_updated.desc(), V.resource_type.desc(), V.id.desc(), V.version_id.desc())
    if cursor:
        try:
            at = datetime.fromisoformat(str(cursor["at"]))
            key = (str(cursor["type"]), str(cursor["id"]), int(cursor["v"]))
        except (KeyError, ValueError):
            raise InvalidInput("The paging cursor is not valid", code="value") from None
        query = query.where(
            or_(
                V.last_updated < at,
                and_(
                    V.last_updated == at,
                    or_(
                        V.resource_type < key[0],
                        and_(
                            V.resource_type == key[0],
                            or_(V.id < key[1], and_(V.id == key[1], V.version_id < key[2])),
                        ),
                    ),
                ),
            )
        )
    rows = session.scalars(query.order_by(*order).limit(count + 1)).all()
    more = len(rows) > count
    rows = rows[:count]
    items = _versions(session, rows)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = {
            "at": last.last_updated.isoformat(),
            "type": last.resource_type,
            "id": last.id,
            "v": last.version_id,
        }
    return items, next_cursor
