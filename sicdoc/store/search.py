"""Running a parsed search against the index tables, with keyset paging that survives concurrent writes;
and pages of a resource's or the server's history. A patient's compartment pages are in compartment.py.

Pages are ordered by the sort key and then by id; the cursor holds the last (key, id) seen, so rows
added, changed or deleted between pages never make a page skip or repeat a row that stayed put.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from sicdoc.fhir.search import Criterion, Include, SearchRequest
from sicdoc.models import DateIndex, ReferenceIndex, Resource, StringIndex, TokenIndex
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


def _same_resource(table: Any) -> ColumnElement[bool]:
    return and_(table.resource_type == Resource.resource_type, table.resource_id == Resource.id)


def _matching(
    table: Any, rtype: str, c: Criterion, options: list[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """``Resource.id IN`` the ids whose ``c.param`` index rows meet any of ``options``.

    One uncorrelated select per option, each a range of the (type, param, value) index, joined by
    UNION ALL: a correlated EXISTS made both databases walk every resource of the type and probe the
    index once per row, and an OR inside one select hides the ranges from the planner.
    """
    selects = [
        select(table.resource_id).where(table.resource_type == rtype, table.param == c.param.name, option)
        for option in options
    ]
    return Resource.id.in_(selects[0] if len(selects) == 1 else union_all(*selects))


def _token(rtype: str, c: Criterion) -> ColumnElement[bool]:
    options = []
    for system, code in c.values:
        parts = []
        if system == "":
            parts.append(TokenIndex.system.is_(None))
        elif system is not None:
            parts.append(TokenIndex.system == system)
        if code is not None:
            parts.append(TokenIndex.code == code)
        options.append(and_(true(), *parts))
    match = _matching(TokenIndex, rtype, c, options)
    return not_(match) if c.modifier == "not" else match


def _reference(rtype: str, c: Criterion) -> ColumnElement[bool]:
    options = []
    for target_type, target_id in c.values:
        cond = ReferenceIndex.target_id == target_id
        if target_type:
            cond = and_(cond, ReferenceIndex.target_type == target_type)
        options.append(cond)
    return _matching(ReferenceIndex, rtype, c, options)


def date_alternatives(
    prefix: str, lo: datetime, hi: datetime, low: Any, high: Any
) -> list[ColumnElement[bool]]:
    """FHIR date comparison of a stored range [low, high) (None = open) against a value range [lo, hi),
    as conditions of which any one matches, each a range of an index on ``low`` or on ``high``."""
    if prefix == "eq":
        # An open end never compares true. ``low <= hi`` follows from low <= high <= hi: it closes the
        # range read on the low index (a range on high would be open, reading every earlier date).
        return [and_(low >= lo, low <= hi, high <= hi)]
    if prefix == "ne":
        return [not_(and_(low.is_not(None), high.is_not(None), low >= lo, high <= hi))]
    if prefix == "gt":
        return [high.is_(None), high > hi]  # an open end is plus infinity
    if prefix == "ge":
        return [high.is_(None), high > lo]
    if prefix == "lt":
        return [low.is_(None), low < lo]  # an open start is minus infinity
    if prefix == "le":
        return [low.is_(None), low < hi]
    raise ValueError(prefix)


def date_condition(prefix: str, lo: datetime, hi: datetime, low: Any, high: Any) -> ColumnElement[bool]:
    """FHIR date comparison of a stored range [low, high) (None = open) against a value range [lo, hi)."""
    return or_(*date_alternatives(prefix, lo, hi, low, high))


def _date(rtype: str, c: Criterion) -> ColumnElement[bool]:
    options = [
        o for p, lo, hi in c.values for o in date_alternatives(p, lo, hi, DateIndex.low, DateIndex.high)
    ]
    return _matching(DateIndex, rtype, c, options)


class _StartsWith(FunctionElement[bool]):
    """``column`` begins with a text: LIKE on PostgreSQL, whose index on the value has the pattern
    operator class; a range on SQLite, where LIKE ignores case and so cannot use a BINARY index.

    Arguments: the column, the LIKE pattern, the range's low and high ends (all bound at build time,
    so a cached compiled statement takes each new search's values).
    """

    type = Boolean()
    inherit_cache = True
    name = "starts_with"
    # A condition in its own right: without this, SQLite (no native boolean) gets ``(...) = 1``,
    # which hides the range from the planner and reads every value of the parameter.
    _is_implicitly_boolean = True


def starts_with(column: Any, text: str) -> ColumnElement[bool]:
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # UTF-8 compares byte-wise under BINARY, and U+10FFFF sorts after every character.
    return _StartsWith(column, literal(pattern), literal(text), literal(text + "\U0010ffff"))


@compiles(_StartsWith)
def _starts_with_like(element: _StartsWith, compiler: Any, **kw: Any) -> str:
    column, pattern, _low, _high = element.clauses
    return str(compiler.process(column.like(pattern, escape="\\"), **kw))


@compiles(_StartsWith, "sqlite")
def _starts_with_range(element: _StartsWith, compiler: Any, **kw: Any) -> str:
    column, _pattern, low, high = element.clauses
    return str(compiler.process(and_(column >= low, column < high).self_group(), **kw))


def _string(rtype: str, c: Criterion) -> ColumnElement[bool]:
    from sicdoc.fhir.search_params import fold

    options: list[ColumnElement[bool]] = []
    for value in c.values:
        if c.modifier == "exact":
            options.append(StringIndex.value == fold(value))
        elif c.modifier == "contains":
            folded = fold(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            options.append(StringIndex.value.like(f"%{folded}%", escape="\\"))
        else:
            options.append(starts_with(StringIndex.value, fold(value)))
    return _matching(StringIndex, rtype, c, options)


_BUILDERS = {"token": _token, "uri": _token, "reference": _reference, "date": _date, "string": _string}


def _filtered(req: SearchRequest, *, leave_out: Criterion | None = None) -> Select[Any]:
    query = select(Resource).where(Resource.resource_type == req.resource_type, Resource.deleted.is_(False))
    if req.ids:
        query = query.where(Resource.id.in_(req.ids))
    for prefix, lo, hi in req.last_updated:
        query = query.where(date_condition(prefix, lo, hi, Resource.last_updated, Resource.last_updated))
    for criterion in req.criteria:
        if criterion is not leave_out:
            query = query.where(_BUILDERS[criterion.param.type](req.resource_type, criterion))
    return query


def _one_code(req: SearchRequest) -> Criterion | None:
    """A criterion on one code (``code=I63.9``, ``identifier=system|value``): a search in id order
    can walk its index range, already in id order, and stop after a page."""
    for c in req.criteria:
        if c.param.type in ("token", "uri") and c.modifier is None and len(c.values) == 1 and c.values[0][1]:
            return c
    return None


def _walked(req: SearchRequest, c: Criterion) -> tuple[Select[Any], Any]:
    """The search joined to ``c``'s index rows, the other criteria filtering as usual; with the id
    column to order and page by (the index's, so the range is read in order)."""
    system, code = c.values[0]
    on = and_(TokenIndex.resource_type == Resource.resource_type, TokenIndex.resource_id == Resource.id)
    query = _filtered(req, leave_out=c).join(TokenIndex, on)
    query = query.where(
        TokenIndex.resource_type == req.resource_type,
        TokenIndex.param == c.param.name,
        TokenIndex.code == code,
    )
    if system == "":
        query = query.where(TokenIndex.system.is_(None))
    elif system is not None:
        query = query.where(TokenIndex.system == system)
    return query, TokenIndex.resource_id


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
        .where(_same_resource(DateIndex), DateIndex.param == key)
        .correlate(Resource)
        .scalar_subquery()
    )
    return column, desc


def search(session: Session, req: SearchRequest) -> SearchResult:
    query = _filtered(req)
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
    walk = _one_code(req) if sort is None else None
    if walk is not None:
        # Two codings of one resource may carry the code: each such resource comes once (below).
        query, by_id = _walked(req, walk)
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
