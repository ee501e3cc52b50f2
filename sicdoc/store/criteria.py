"""A parsed search's criteria as SQL on the index tables: each an ``IN`` over one index range; or, to
read matches in id order and stop after a page, a probe of each resource's own index rows (``each``), or
for a search on one code a walk along that code's range (``walked``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from sicdoc.fhir.search import Criterion, SearchRequest
from sicdoc.models import DateIndex, ReferenceIndex, Resource, StringIndex, TokenIndex


def same_resource(table: Any) -> ColumnElement[bool]:
    return and_(table.resource_type == Resource.resource_type, table.resource_id == Resource.id)


def index_rows(rtype: str, c: Criterion) -> Select[Any]:
    """The ids of ``c``'s matching index rows (not negated): one uncorrelated select per option, each a
    range of the (type, param, value) index, joined by UNION ALL (an OR inside one select hides the
    ranges from the planner)."""
    table, options = _OPTIONS[c.param.type](c)
    selects = [
        select(table.resource_id).where(table.resource_type == rtype, table.param == c.param.name, option)
        for option in options
    ]
    return selects[0] if len(selects) == 1 else union_all(*selects)  # type: ignore[return-value]


def _condition(rtype: str, c: Criterion, each: bool) -> ColumnElement[bool]:
    """``Resource.id IN`` the ids of ``c``'s index rows; with ``each``, whether the resource at hand
    has such a row.

    The IN reads every match before the first page of them, where a correlated EXISTS would make both
    databases walk every resource of the type. ``each`` is for a window of resources already read in id
    order (search.py), probing each one's own rows (see _Probe).
    """
    match: ColumnElement[bool]
    if each:
        table, options = _string(c, own=True) if c.param.type == "string" else _OPTIONS[c.param.type](c)
        rows = (same_resource(table), table.param == c.param.name, or_(*options))
        one = select(literal(1)).where(*rows)
        # A token's probe selects 1, not *: SQLite then answers it from the lookup index alone, which
        # holds every column it compares, instead of reading each row (a page's count probes 1,001).
        # A date's keeps *, or SQLite probes by value along the covering index on ``high``.
        found = one.exists() if c.param.type in ("token", "uri") else exists().where(*rows)
        match = _Probe(found, one.limit(1).scalar_subquery())
    else:
        match = Resource.id.in_(index_rows(rtype, c))
    return not_(match) if c.modifier == "not" else match


def _token_value(system: str | None, code: str | None, table: Any = TokenIndex) -> ColumnElement[bool]:
    """A token index row (of ``table``) with this ``system|code`` (system "": none; None: any)."""
    parts: list[ColumnElement[bool]] = []
    if system == "":
        parts.append(table.system.is_(None))
    elif system is not None:
        parts.append(table.system == system)
    if code is not None:
        parts.append(table.code == code)
    return and_(true(), *parts)


Options = tuple[Any, list[ColumnElement[bool]]]  # an index table, and conditions any one of which matches


def _token(c: Criterion) -> Options:
    return TokenIndex, [_token_value(system, code) for system, code in c.values]


def _reference(c: Criterion) -> Options:
    options = []
    for target_type, target_id in c.values:
        cond = ReferenceIndex.target_id == target_id
        if target_type:
            cond = and_(cond, ReferenceIndex.target_type == target_type)
        options.append(cond)
    return ReferenceIndex, options


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


def _date(c: Criterion) -> Options:
    return DateIndex, [
        o for p, lo, hi in c.values for o in date_alternatives(p, lo, hi, DateIndex.low, DateIndex.high)
    ]


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


class _Probe(FunctionElement[bool]):
    """Whether the resource at hand has an index row: ``EXISTS`` on SQLite, which runs it per resource
    through the (type, id, param) or lookup index; a subquery with LIMIT 1 on PostgreSQL, which would
    make an EXISTS a semi-join and, misjudging a date range, hashed 110,000 birth dates to probe a
    window of 10,000 patients. (SQLite, given that subquery instead, read every birth date from the
    covering index on the value for each patient.) Arguments: the EXISTS, the scalar subquery."""

    type = Boolean()
    inherit_cache = True
    name = "probe"
    _is_implicitly_boolean = True


@compiles(_Probe)
def _probe_limited(element: _Probe, compiler: Any, **kw: Any) -> str:
    _exists, first = element.clauses
    return str(compiler.process(first.is_not(None), **kw))


@compiles(_Probe, "sqlite")
def _probe_exists(element: _Probe, compiler: Any, **kw: Any) -> str:
    found, _first = element.clauses
    return str(compiler.process(found, **kw))


def starts_with(column: Any, text: str, own: bool = False) -> ColumnElement[bool]:
    """``column`` begins with ``text``; ``own``: in a probe of one resource's own rows (``_OwnStartsWith``)."""
    pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # UTF-8 compares byte-wise under BINARY, and U+10FFFF sorts after every character.
    kind = _OwnStartsWith if own else _StartsWith
    return kind(column, literal(pattern), literal(text), literal(text + "\U0010ffff"))


@compiles(_StartsWith)
def _starts_with_like(element: _StartsWith, compiler: Any, **kw: Any) -> str:
    column, pattern, _low, _high = element.clauses
    return str(compiler.process(column.like(pattern, escape="\\"), **kw))


@compiles(_StartsWith, "sqlite")
def _starts_with_range(element: _StartsWith, compiler: Any, **kw: Any) -> str:
    column, _pattern, low, high = element.clauses
    return str(compiler.process(and_(column >= low, column < high).self_group(), **kw))


class _OwnStartsWith(_StartsWith):
    """``_StartsWith`` in a probe of one resource's own rows. On PostgreSQL a LIKE is a range of the
    lookup index (type, param, value, id), and a planner that misjudged how many values share the
    prefix probed each patient along it: every probe read all the index rows of the prefix (16,809 for
    ``baker%`` at a million patients, 2.4 s for a page). The same test written as ``left(value, n) =
    text`` is no range of that index, so each probe reads the resource's own rows by the (type, id,
    param) index. SQLite keeps the range, which its plans take as they should."""

    inherit_cache = True


@compiles(_OwnStartsWith, "postgresql")
def _own_starts_with(element: _OwnStartsWith, compiler: Any, **kw: Any) -> str:
    column, _pattern, low, _high = element.clauses
    return str(compiler.process(func.left(column, func.char_length(low)) == low, **kw))


def _string(c: Criterion, own: bool = False) -> Options:
    """``own``: the conditions probe one resource's own rows (``_condition`` with ``each``)."""
    from sicdoc.fhir.search_params import fold

    options: list[ColumnElement[bool]] = []
    for value in c.values:
        if c.modifier == "exact":
            options.append(StringIndex.value == fold(value))
        elif c.modifier == "contains":
            folded = fold(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            options.append(StringIndex.value.like(f"%{folded}%", escape="\\"))
        else:
            options.append(starts_with(StringIndex.value, fold(value), own=own))
    return StringIndex, options


_OPTIONS = {"token": _token, "uri": _token, "reference": _reference, "date": _date, "string": _string}


def filtered(
    req: SearchRequest, *, leave_out: Criterion | None = None, probed: Collection[Criterion] = ()
) -> Select[Any]:
    """The search's resources; the criteria in ``probed`` as probes of each resource's own rows."""
    query = select(Resource).where(Resource.resource_type == req.resource_type, Resource.deleted.is_(False))
    if req.ids:
        query = query.where(Resource.id.in_(req.ids))
    for prefix, lo, hi in req.last_updated:
        query = query.where(date_condition(prefix, lo, hi, Resource.last_updated, Resource.last_updated))
    for criterion in req.criteria:
        if criterion is not leave_out:
            query = query.where(_condition(req.resource_type, criterion, criterion in probed))
    return query


def one_code(req: SearchRequest) -> Criterion | None:
    """A criterion on one code (``code=I63.9``, ``identifier=system|value``): a search in id order
    can walk its index range, already in id order, and stop after a page."""
    for c in req.criteria:
        if c.param.type in ("token", "uri") and c.modifier is None and len(c.values) == 1 and c.values[0][1]:
            return c
    return None


def walked(req: SearchRequest, c: Criterion, probed: Collection[Criterion] = ()) -> tuple[Select[Any], Any]:
    """The search joined to ``c``'s index rows, the other criteria filtering as usual (those in
    ``probed`` as probes); with the id column to order and page by (the index's, so the range is read
    in order)."""
    # An alias of its own: a token criterion probed beside the walk reads the token index too, and
    # would otherwise take the walk's row for its own.
    walk = aliased(TokenIndex, name="walk")
    system, code = c.values[0]
    on = and_(walk.resource_type == Resource.resource_type, walk.resource_id == Resource.id)
    query = filtered(req, leave_out=c, probed=probed).join(walk, on)
    query = query.where(
        walk.resource_type == req.resource_type,
        walk.param == c.param.name,
        _token_value(system, code, table=walk),
    )
    return query, walk.resource_id
