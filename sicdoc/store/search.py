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
    text,
    true,
)
from sqlalchemy.orm import Session

from sicdoc.fhir.search import Criterion, Include, SearchRequest
from sicdoc.models import DateIndex, ReferenceIndex, Resource
from sicdoc.store.criteria import filtered, index_rows, one_code, same_resource, walked
from sicdoc.store.stored import Stored

# A search that matches more than this leaves out its total unless ``_total=accurate`` asks for it:
# counting half a million patients for ``Patient?birthdate=ge1950`` took seconds, and a first page
# with a next link says all a client browsing it needs.
TOTAL_COUNTED_UP_TO = 1000

# A search in id order whose every criterion has more than TOTAL_COUNTED_UP_TO index rows reads a window
# of this many resources of the type (times the rows it wants) in id order, probing each one's own index
# rows: ``Patient?birthdate=ge1950`` matches every other patient and fills a page from the first hundred,
# where reading its matches from the date index meant half a million rows before the first. When the
# window holds too few, the index goes first after all, or one WINDOW_WIDENED times as wide when the
# first saw enough matches for that one to hold twice the page.
WINDOW_PER_ROW = 10
WINDOW_WIDENED = 10


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


def _capped(session: Session, req: SearchRequest, c: Criterion) -> list[str]:
    """The resource ids of ``c``'s first TOTAL_COUNTED_UP_TO + 1 index rows: whether it matches many,
    and for one criterion alone its total too, from one read."""
    return list(session.scalars(index_rows(req.resource_type, c).limit(TOTAL_COUNTED_UP_TO + 1)))


def _broad(session: Session, req: SearchRequest, among: list[Criterion]) -> list[Criterion]:
    """Those of ``among`` with more than TOTAL_COUNTED_UP_TO index rows (at most that many read of
    each): probing a resource's own rows for them is cheaper than an IN list of every match."""
    cap = TOTAL_COUNTED_UP_TO + 1
    found = []
    for c in among:
        capped = index_rows(req.resource_type, c).limit(cap).subquery()
        if c.modifier != "not" and (session.scalar(select(func.count()).select_from(capped)) or 0) == cap:
            found.append(c)
    return found


def _window_end(session: Session, req: SearchRequest, after: str, size: int) -> str | None:
    """The id ``size`` resources of the type after ``after``; None when fewer remain."""
    return session.scalar(
        select(Resource.id)
        .where(Resource.resource_type == req.resource_type, Resource.id > after)
        .order_by(Resource.id)
        .offset(size - 1)
        .limit(1)
    )


def _in_window(
    session: Session, req: SearchRequest, after: str, rows: int, *columns: Any, widened: int = 1
) -> tuple[list[Any], bool]:
    """The first ``rows`` matches after ``after`` in id order (``columns`` of them, the resource by
    default) in a window of ``rows * WINDOW_PER_ROW * widened`` resources read in id order, and whether
    they are the first ``rows`` of all: as many as that, or fewer with no resources beyond the window."""
    end = _window_end(session, req, after, rows * WINDOW_PER_ROW * widened)
    query = filtered(req, probed=req.criteria).where(Resource.id > after)
    if columns:
        query = query.with_only_columns(*columns)
    if end is not None:
        query = query.where(Resource.id <= end)
    found = list(session.execute(query.order_by(Resource.id).limit(rows)).all())
    return found, len(found) == rows or end is None


def _count(
    session: Session,
    req: SearchRequest,
    code: Criterion | None,
    probed: list[Criterion],
    dense: bool,
    capped: list[str] | None = None,
) -> tuple[int | None, bool]:
    """The total to report, and whether it was left out for being past TOTAL_COUNTED_UP_TO.

    Up to that many matches are counted on the index rows of a criterion that is the search's only
    filter (``capped``, when the page has read them already), along the one code's index range (the
    ``probed`` criteria probed), or, when the page came from a window (``dense``), in a window; else
    from the index, whose every match is read first.
    """
    matching = filtered(req).with_only_columns(Resource.id)
    if req.summary_count or (req.total == "accurate" and req.cursor is None):
        return session.scalar(select(func.count()).select_from(matching.subquery())), False
    if req.total != "estimate" or req.cursor is not None:
        return None, False
    cap = TOTAL_COUNTED_UP_TO + 1
    counted = None
    alone = _alone(req)
    found: list[str] | None = None
    if alone is not None:
        # Index rows exist for live resources only (a delete clears them): one criterion alone is
        # counted on its index rows without reading a resource (Condition?code= for a code 9,449
        # conditions share: 45 to 5 ms at 100,000 patients on PostgreSQL).
        found = capped if capped is not None else _capped(session, req, alone)
    elif code is not None:
        query, by_id = walked(req, code, probed)
        found = list(session.scalars(query.with_only_columns(by_id).limit(cap)))
    if found is not None:
        # A resource with two matching rows (the code in two codings) comes twice: such a full read
        # counts no further.
        if len(found) < cap or len(set(found)) == cap:
            counted = len(set(found))
    elif dense:
        early, whole = _in_window(session, req, "", cap, Resource.id)
        counted = len(early) if whole else None
    if counted is None:
        counted = session.scalar(select(func.count()).select_from(matching.limit(cap).subquery())) or 0
    return (None, True) if counted > TOTAL_COUNTED_UP_TO else (counted, False)


def _alone(req: SearchRequest) -> Criterion | None:
    """The search's one criterion when nothing else filters it and its matches are its index rows'
    resources (not a ``:not``)."""
    if len(req.criteria) != 1 or req.ids or req.last_updated or req.criteria[0].modifier == "not":
        return None
    return req.criteria[0]


def _page_by_id(
    session: Session, req: SearchRequest, rows: int, capped: list[str] | None
) -> tuple[list[Any], bool]:
    """The page in id order, and whether it came from a window (the matches are many and dense).
    ``capped``: the capped index rows of the search's one criterion alone (``_alone``), if it has one."""
    after = str((req.cursor or {}).get("id", ""))
    if capped is not None:
        many = len(capped) > TOTAL_COUNTED_UP_TO
    else:
        many = not req.ids and len(_broad(session, req, req.criteria)) == len(req.criteria)
    if many:
        early, whole = _in_window(session, req, after, rows)
        # Matches too thin for the window may still be too many to read from the index and sort: at a
        # million patients, ``Patient?birthdate=ge`` for one patient in 10-50 read 20,000-100,000 index
        # rows (17-133 ms) where a window of 5,000 took 7-13 ms; for one in 100 the index was quicker.
        if not whole and len(early) * WINDOW_WIDENED >= 2 * rows:
            early, whole = _in_window(session, req, after, rows, widened=WINDOW_WIDENED)
        if whole:
            return early, True
    if capped is not None and not many:
        # Every match's index row is in hand: the page is their first ids past the cursor.
        return _resources(session, req, sorted({i for i in capped if i > after})[:rows]), False
    alone = _alone(req)
    if alone is not None and session.get_bind().dialect.name == "postgresql":
        return _page_of_index_rows(session, req, alone, after, rows), False
    # The index rows go first: their matches, read in id order, are the page. Past a cursor, the id
    # is compared as an expression no index serves, or SQLite walks every resource of the type after
    # the cursor in id order, testing each against the matches (45 ms for a patient's encounters at
    # 100,000 patients, against 1 ms).
    query = filtered(req).order_by(Resource.id)
    if after:
        query = query.where(func.coalesce(Resource.id, "") > after)
    return list(session.execute(query.limit(rows)).all()), False


def _page_of_index_rows(
    session: Session, req: SearchRequest, c: Criterion, after: str, rows: int
) -> list[Any]:
    """The page of a search with one criterion alone, on PostgreSQL: the first ids past ``after``
    among its index rows (only live resources have any), then those resources. Joined at once,
    PostgreSQL read the resource of every match before keeping the first few (all 1,795 patients of
    a family name). SQLite reads the matches' ids in order and only the page's resources already, and
    would walk the per-resource index for this query's order instead."""
    matched = index_rows(req.resource_type, c).subquery()
    ids = select(matched.c.resource_id).distinct().order_by(matched.c.resource_id)
    if after:
        ids = ids.where(matched.c.resource_id > after)
    return _resources(session, req, list(session.scalars(ids.limit(rows))))


def _resources(session: Session, req: SearchRequest, ids: list[str]) -> list[Any]:
    """The live resources of the searched type with these ids, in id order."""
    if not ids:
        return []
    found = select(Resource).where(
        Resource.resource_type == req.resource_type, Resource.id.in_(ids), Resource.deleted.is_(False)
    )
    return list(session.execute(found.order_by(Resource.id)).all())


def _page_along_code(
    session: Session, req: SearchRequest, c: Criterion, probed: list[Criterion], rows: int
) -> list[Any]:
    query, by_id = walked(req, c, probed)
    query = query.order_by(by_id).where(by_id > str((req.cursor or {}).get("id", "")))
    # Two codings of one resource may carry the code: the resource then comes twice (made once below).
    return list(session.execute(query.limit(rows)).all())


def _page_sorted(session: Session, req: SearchRequest, sort: tuple[Any, bool], rows: int) -> list[Any]:
    column, desc = sort
    # A date parameter may be missing (min is NULL); lastUpdated and id never are, and left bare
    # they page along an index instead of sorting every match.
    bare = column is Resource.id or column is Resource.last_updated
    key = column if bare else func.coalesce(column, datetime(1, 1, 1, tzinfo=UTC))
    query = filtered(req).add_columns(key.label("sort_key"))
    query = query.order_by(key.desc() if desc else key, Resource.id.desc() if desc else Resource.id)
    if req.cursor:
        last_key = req.cursor.get("key")
        last_id = str(req.cursor.get("id", ""))
        if column is not Resource.id:
            last_key = datetime.fromisoformat(last_key) if last_key else datetime(1, 1, 1, tzinfo=UTC)
        beyond = key < last_key if desc else key > last_key
        tie = and_(key == last_key, Resource.id < last_id if desc else Resource.id > last_id)
        query = query.where(or_(beyond, tie))
    return list(session.execute(query.limit(rows)).all())


# A search reads a page, and counts at most TOTAL_COUNTED_UP_TO + 1 index rows: on PostgreSQL, for its
# transaction only, without parallel workers, which it planned for a page of a code thousands share and
# which took longer to start than the page to read (Condition?code= 36 to 10 ms), and without bitmap
# scans, which read every match before the first (Patient?birthdate=ge for half the patients read
# 71,809 index rows to count 1,001: 35 to 12 ms). At 100,000 patients; the analytics' whole-table reads
# keep both.
_PAGED = text("SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_bitmapscan = off")


def search(session: Session, req: SearchRequest) -> SearchResult:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_PAGED)
    sort = _sort_column(req)
    code = one_code(req) if sort is None else None
    # Along a code, the other criteria that match many are probed on each resource the walk meets.
    probed = [] if code is None else _broad(session, req, [c for c in req.criteria if c is not code])
    if req.summary_count or req.count == 0:
        total, uncounted = _count(session, req, code, probed, False)
        return SearchResult(total, [], [], None, uncounted)
    wanted = req.count + 1  # one more than a page tells whether there is a next
    dense = False
    capped: list[str] | None = None
    if sort is not None:
        rows = _page_sorted(session, req, sort, wanted)
    elif code is not None:
        rows = _page_along_code(session, req, code, probed, wanted)
    else:
        alone = _alone(req)
        capped = None if alone is None else _capped(session, req, alone)
        rows, dense = _page_by_id(session, req, wanted, capped)
    total, uncounted = _count(session, req, code, probed, dense, capped)
    more = len(rows) > req.count
    # Each resource once (see _page_along_code). A page may come out short, never wrong: the next one
    # starts after its last id.
    rows = list({row[0].id: row for row in rows[: req.count]}.values())
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
