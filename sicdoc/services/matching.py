"""Conditional criteria (``If-None-Exist``, ``PUT Type?…``, ``Patient?identifier=…`` references).

Identifier criteria go through the unique identifier index, which is what makes conditional writes
race-safe; other criteria run as an ordinary search.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput, PreconditionFailed
from sicdoc.fhir.search import parse_search
from sicdoc.store import find_by_identifier, find_by_identifiers
from sicdoc.store.search import search

# What a bundle already knows about identifiers: (type, system, value) -> id, or None for "known
# absent". Filled from one prefetch query per type, then by the bundle's own creates.
Pending = dict[tuple[str, str, str], str | None]


def identifier_criteria(query: str) -> list[tuple[str, str]] | None:
    """The (system, value) pairs of criteria made only of ``identifier=system|value``, else None."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs or not all(n == "identifier" and "|" in v and "," not in v for n, v in pairs):
        return None
    return [tuple(v.split("|", 1)) for _, v in pairs]  # type: ignore[misc]


def prefetch(session: Session, wanted: dict[str, set[tuple[str, str]]]) -> Pending:
    """Look up every identifier a bundle's conditional entries mention, one query per type."""
    known: Pending = {}
    for rtype, pairs in wanted.items():
        found = find_by_identifiers(session, rtype, sorted(pairs))
        for pair in pairs:
            known[(rtype, *pair)] = found.get(pair)
    return known


def match_ids(
    session: Session, rtype: str, query: str, where: str, pending: Pending | None = None
) -> list[str]:
    """Ids of the live resources matching the criteria (at most two: enough to tell one from many)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not pairs:
        raise InvalidInput(f"{where}: conditional criteria are empty", expression=where)
    if all(name == "identifier" and "|" in value and "," not in value for name, value in pairs):
        found: set[str] = set()
        for _, value in pairs:
            system, _, code = value.partition("|")
            key = (rtype, system, code)
            if pending is not None and key in pending:
                hit = pending[key]
            else:
                hit = find_by_identifier(session, rtype, [(system, code)])
            if hit is None:
                return []  # identifier criteria are ANDed: one miss means no match
            found.add(hit)
        return sorted(found)
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
