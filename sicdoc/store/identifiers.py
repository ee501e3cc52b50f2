"""Business identifiers: the (system, value) pairs of a resource and the live resources that carry them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from sicdoc.models import Resource, TokenIndex


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
