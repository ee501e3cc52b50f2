"""Conditional criteria (``If-None-Exist``, ``PUT Type?…``, ``Patient?identifier=…`` references).

Identifier criteria are answered from the identifier token rows every type carries; other criteria
run as an ordinary search. A conditional write that may create takes ``serialise`` on its criteria
and matches under it, so two requests with equivalent criteria cannot both see "no match" and both
create; a conditional create that already matches creates nothing and waits for no one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import text
from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput, PreconditionFailed
from sicdoc.fhir.search import parse_search
from sicdoc.store import identifier_matches
from sicdoc.store.search import search

# What a bundle already knows about identifiers: (type, system, value) -> ids carrying it (empty for
# "known absent"). Filled from one prefetch query per type, then by the bundle's own creates.
Pending = dict[tuple[str, str, str], tuple[str, ...]]

_LOCK = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)")


def identifier_criteria(query: str) -> list[tuple[str, str]] | None:
    """The (system, value) pairs of criteria made only of ``identifier=system|value``, else None."""
    found = _identifier_criteria(query)
    return None if found is None else list(found)


# A bulk load asks about the same few criteria (the shared Organization) thousands of times.
@lru_cache(maxsize=4096)
def _identifier_criteria(query: str) -> tuple[tuple[str, str], ...] | None:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs or not all(n == "identifier" and "|" in v and "," not in v for n, v in pairs):
        return None
    # Cut as stored (``identifier_pairs``): the index keeps 255 characters of system and value.
    return tuple((s[:255], v[:255]) for s, _, v in (value.partition("|") for _, value in pairs))


def criteria_keys(rtype: str, query: str) -> list[str]:
    """What a conditional write on ``rtype?query`` is serialised on, in a normal form.

    Identifier criteria serialise on each identifier, so ``identifier=a|1`` and
    ``identifier=a|1&identifier=b|2`` wait for each other; other criteria on the decoded, sorted
    parameters, so spelling and order do not matter.
    """
    idents = identifier_criteria(query)
    if idents is not None:
        return sorted({f"{rtype}\x1fidentifier\x1f{system}\x1f{value}" for system, value in idents})
    pairs = sorted(set(parse_qsl(query, keep_blank_values=True)))
    return [f"{rtype}?{urlencode(pairs)}"]


def lock_id(key: str) -> int:
    """A signed 64-bit number for ``key`` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(
        hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:8], "big", signed=True
    )


def serialise(session: Session, criteria: Iterable[tuple[str, str]]) -> bool:
    """Make conditional writes on these (type, criteria) wait for each other until commit.

    Call it at the start of the write's transaction, before any matching. PostgreSQL: one
    transaction-level advisory lock per normalised criterion, taken in one statement in a fixed
    order (so two bundles cannot deadlock), released at commit or rollback; the matching query that
    follows sees what the previous holder committed. SQLite: nothing to take, since every write
    transaction begins IMMEDIATE (``sicdoc.db``) and so already holds the database's only write lock
    from its first statement, before it matches. True when it took locks (PostgreSQL).
    """
    if session.get_bind().dialect.name != "postgresql":
        return False
    take_locks(session, lock_keys(criteria))
    return True


def lock_keys(criteria: Iterable[tuple[str, str]]) -> set[int]:
    """The advisory locks ``serialise`` takes on PostgreSQL for these (type, criteria)."""
    return {lock_id(key) for rtype, query in criteria for key in criteria_keys(rtype, query)}


def take_locks(session: Session, keys: Iterable[int]) -> None:
    """Take ``lock_keys``' advisory locks until the transaction ends, in one statement, in a fixed
    order (so two writers cannot deadlock). PostgreSQL only."""
    ordered = sorted(keys)
    if ordered:
        session.execute(_LOCK, {"keys": ordered})


def look_up_and_lock(
    session: Session,
    wanted: dict[str, set[tuple[str, str]]],
    writes: list[tuple[str, str]],
    creates: Iterable[tuple[str, str]] = (),
    known: Pending | None = None,
) -> Pending:
    """Look up ``wanted``'s identifiers, then ``serialise`` the conditional ``writes`` that still need it.

    A conditional create (one of ``creates``) whose identifiers already name a resource will answer
    with it and create nothing, so it takes no lock and waits for no writer holding one: every bundle
    of a feed or a load names the same Organization, and its lock held each transaction until the one
    before had committed. The other writes are locked, and their identifiers looked up again under
    the lock, since the writer that held it may have committed a create since the first look.
    ``known``: what the transaction already knows, for telling which creates will match.
    """
    found = prefetch(session, wanted)
    if not writes or session.get_bind().dialect.name != "postgresql":
        return found  # SQLite: a writer holds the database's write lock from BEGIN (``serialise``)
    seen = {**(known or {}), **found}
    waiting = Counter(writes)
    waiting.subtract(w for w in creates if _matches(seen, *w))
    keys = lock_keys(waiting.elements())
    if keys:
        take_locks(session, keys)
        again: dict[str, set[tuple[str, str]]] = {}
        for rtype, query in waiting.elements():
            again.setdefault(rtype, set()).update(_identifier_criteria(query) or ())
        found.update(prefetch(session, {rtype: pairs for rtype, pairs in again.items() if pairs}))
    return found


def _matches(known: Pending, rtype: str, query: str) -> bool:
    """Whether identifier criteria name a resource by what ``known`` holds (False when it cannot tell)."""
    idents = _identifier_criteria(query)
    if not idents or any((rtype, *pair) not in known for pair in idents):
        return False
    return bool(set.intersection(*(set(known[(rtype, *pair)]) for pair in idents)))


def prefetch(session: Session, wanted: dict[str, set[tuple[str, str]]]) -> Pending:
    """Look up every identifier a bundle's conditional entries mention, one query per type."""
    known: Pending = {}
    for rtype, pairs in wanted.items():
        found = identifier_matches(session, rtype, sorted(pairs))
        for pair in pairs:
            known[(rtype, *pair)] = tuple(found.get(pair, ()))
    return known


def match_ids(
    session: Session, rtype: str, query: str, where: str, pending: Pending | None = None
) -> list[str]:
    """Ids of the live resources matching the criteria (at most two: enough to tell one from many)."""
    idents = _identifier_criteria(query)  # cached: a load matches the same few criteria throughout
    if idents is not None:
        known = pending if pending is not None else {}
        missing = [pair for pair in idents if (rtype, *pair) not in known]
        looked = identifier_matches(session, rtype, missing) if missing else {}
        common: set[str] | None = None
        for system, value in idents:  # identifier criteria are ANDed
            key = (rtype, system, value)
            ids = set(known[key]) if key in known else set(looked.get((system, value), ()))
            common = ids if common is None else common & ids
            if not common:
                return []
        return sorted(common or ())[:2]
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise InvalidInput(f"{where}: conditional criteria are empty", expression=where)
    try:
        request = parse_search(rtype, pairs, strict=True)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}", code="invalid", expression=where) from None
    request.count = 2
    request.total = "none"
    return [m.id for m in search(session, request).matches]


def match_one(
    session: Session, rtype: str, query: str, where: str, pending: Pending | None = None
) -> str | None:
    """The single match, None for no match; 412 when the criteria are ambiguous."""
    ids = match_ids(session, rtype, query, where, pending)
    if len(ids) > 1:
        raise PreconditionFailed(f"{where}: the criteria '{query}' match more than one {rtype}")
    return ids[0] if ids else None
