"""Running a parsed search against the index tables, with keyset paging that survives concurrent writes;
and pages of a resource's or the server's history. The criteria's SQL is in criteria.py, a patient's
compartment pages in compartment.py.

Pages are ordered by the sort key and then by id; the cursor holds the last (key, id) seen, so rows
added, changed or deleted between pages never make a page skip or repeat a row that stayed put.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    and_,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from sicdoc.fhir.search import Include, SearchRequest
from sicdoc.models import DateIndex, ReferenceIndex, Resource
from sicdoc.store.criteria import filtered, one_code, same_resource, walked
from sicdoc.store.stored import Stored

# A search that matches more than this leaves out its total unless ``_total=accurate`` asks for it:
# counting half a million patients for ``Patient?birthdate=ge1950`` took seconds, and a first page
# with a next link says all a client browsing it needs.
TOTAL_COUNTED_UP_TO = 1000


@dataclass
class SearchResult:
    total: int | None
    matches: list[Stored]
    included: list[Stored]
    next_cursor: dict[str, Any] | None
    # The total was left out because more than TOTAL_COUNTED_UP_TO matched.
    more_than_counted: bool = False


def _sort_column(req: SearchRequest) -> tuple[Any, bool] | None:
    if not req.sort:
        return None
    key, desc = req.sort[0]
    if key == "_id":
        return None if not desc else (Resource.id, True)
    if key == "_lastUpdated":
        return Resource.last_updated, desc
    column = (
        select(func.min(DateIndex.low))
        .where(same_resource(DateIndex), DateIndex.param == key)
        .correlate(Resource)
        .scalar_subquery()
    )
    return column, desc


def search(session: Session, req: SearchRequest) -> SearchResult:
    query = filtered(req)
    total, uncounted = None, False
    matching = query.with_only_columns(Resource.id)
    if req.summary_count or (req.total == "accurate" and req.cursor is None):
        total = session.scalar(select(func.count()).select_from(matching.subquery()))
    elif req.total == "estimate" and req.cursor is None:
        counted = matching.limit(TOTAL_COUNTED_UP_TO + 1).subquery()
        total = session.scalar(select(func.count()).select_from(counted))
        if total is not None and total > TOTAL_COUNTED_UP_TO:
            total, uncounted = None, True
    if req.summary_count or req.count == 0:
        return SearchResult(total, [], [], None, uncounted)
    sort = _sort_column(req)
    walk = one_code(req) if sort is None else None
    if walk is not None:
        # Two codings of one resource may carry the code: each such resource comes once (below).
        query, by_id = walked(req, walk)
        query = query.order_by(by_id)
        if req.cursor:
            query = query.where(by_id > str(req.cursor.get("id", "")))
    elif sort is None:
        query = query.order_by(Resource.id)
        if req.cursor:
            query = query.where(Resource.id > str(req.cursor.get("id", "")))
    else:
        column, desc = sort
        # A date parameter may be missing (min is NULL); lastUpdated and id never are, and left bare
        # they page along an index instead of sorting every match.
        bare = column is Resource.id or column is Resource.last_updated
        key = column if bare else func.coalesce(column, datetime(1, 1, 1, tzinfo=UTC))
        query = query.add_columns(key.label("sort_key"))
        query = query.order_by(key.desc() if desc else key, Resource.id.desc() if desc else Resource.id)
        if req.cursor:
            last_key = req.cursor.get("key")
            last_id = str(req.cursor.get("id", ""))
            if column is not Resource.id:
                last_key = datetime.fromisoformat(last_key) if last_key else datetime(1, 1, 1, tzinfo=UTC)
            beyond = key < last_key if desc else key > last_key
            tie = and_(key == last_key, Resource.id < last_id if desc else Resource.id > last_id)
            query = query.where(or_(beyond, tie))
    rows = session.execute(query.limit(req.count + 1)).all()
    more = len(rows) > req.count
    rows = rows[: req.count]
    if walk is not None:
        # A page may come out short, never wrong: the next one starts after its last id.
        rows = list({row[0].id: row for row in rows}.values())
    matches = [Stored.current(row[0]) for row in rows]
    cursor = None
    if more and rows:
        last = rows[-1]
        cursor = {"id": last[0].id}
        if sort is not None:
            value = last[1]
            cursor["key"] = value.isoformat() if isinstance(value, datetime) else value
    included = _includes(session, matches, req.includes, req.revincludes)
    return SearchResult(total, matches, included, cursor, uncounted)


def _includes(
    session: Session, matches: list[Stored], includes: list[Include], revincludes: list[Include]
) -> list[Stored]:
    if not matches:
        return []
    seen = {(m.resource_type, m.id) for m in matches}
    out: list[Stored] = []
    for inc in includes:
        ids = [m.id for m in matches if m.resource_type == inc.source_type]
        targets = session.execute(
            select(ReferenceIndex.target_type, ReferenceIndex.target_id).where(
                ReferenceIndex.resource_type == inc.source_type,
                ReferenceIndex.resource_id.in_(ids),
                ReferenceIndex.param == inc.param,
                ReferenceIndex.target_type == inc.target_type if inc.target_type else true(),
            )
        ).all()
        for target_type, target_id in set(targets):
            if target_type and (target_type, target_id) not in seen:
                row = session.get(Resource, (target_type, target_id))
                if row is not None and not row.deleted:
                    seen.add((target_type, target_id))
                    out.append(Stored.current(row))
    for inc in revincludes:
        by_type: dict[str, list[str]] = {}
        for m in matches:
            by_type.setdefault(m.resource_type, []).append(m.id)
        conds = [
            and_(ReferenceIndex.target_type == t, ReferenceIndex.target_id.in_(ids))
            for t, ids in by_type.items()
        ]
        rows = session.scalars(
            select(Resource).where(
                Resource.resource_type == inc.source_type,
                Resource.deleted.is_(False),
                Resource.id.in_(
                    select(ReferenceIndex.resource_id).where(
                        ReferenceIndex.resource_type == inc.source_type,
                        ReferenceIndex.param == inc.param,
                        or_(false(), *conds),
                    )
                ),
            )
        ).all()
        for row in rows:
            if (row.resource_type, row.id) not in seen:
                seen.add((row.resource_type, row.id))
                out.append(Stored.current(row))
    return out


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
    from sicdoc.models import ResourceVersion as V

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
            from sicdoc.errors import InvalidInput

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
    items = [Stored(r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content) for r in rows]
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
