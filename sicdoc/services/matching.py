"""Conditional criteria (``If-None-Exist``, ``PUT Type?…``, ``Patient?identifier=…`` references).

Identifier criteria go through the unique identifier index, which is what makes conditional writes
race-safe; other criteria run as an ordinary search.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput, PreconditionFailed
from sicdoc.fhir.search import parse_search
from sicdoc.store import find_by_identifier
from sicdoc.store.search import search

# Identifiers of resources created earlier in the same bundle: (type, system, value) -> id.
Pending = dict[tuple[str, str, str], str]


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
            hit = (pending or {}).get((rtype, system, code)) or find_by_identifier(
                session, rtype, [(system, code)]
            )
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
