"""A bundle's placeholders (``urn:uuid:`` fullUrls) and conditional references (``Patient?identifier=…``)
rewritten to the ids its entries are given: passes over each resource's JSON text for the common case,
a walk of the resource for the rest and for errors that name the element."""

from __future__ import annotations

import re
from typing import Any

import orjson

from sicdoc.errors import Forbidden, InvalidInput
from sicdoc.fhir.validation import is_resource_type
from sicdoc.services.matching import Pending, match_one
from sicdoc.services.unit import UnitOfWork

CONDITIONAL = re.compile(rb'"reference":"([A-Z][A-Za-z]+\?[^"\\]+)"')
_LEFTOVER = re.compile(rb'"reference":"(urn:uuid:|[A-Z][A-Za-z]+\?)')
# A placeholder as a whole JSON string value, also inside narrative (where quotes are escaped),
# with its opening quote: a pattern that starts with a literal is searched for as one, four times
# faster than with the quote as a look-behind. Kept apart from CONDITIONAL: one pattern with both
# alternatives scans nearly three times slower.
_URN_TOKEN = re.compile(rb'"(urn:(?:uuid|oid):[0-9A-Za-z.\-]+)(?=\\?")')


def conditional_references(resource: dict[str, Any]) -> list[str]:
    """The conditional references (``Patient?identifier=…``) a resource holds, in order."""
    raw = orjson.dumps(resource)
    if b"?" not in raw:
        return []
    found = (m.group(1).decode() for m in CONDITIONAL.finditer(raw))
    return [ref for ref in found if is_resource_type(ref.partition("?")[0])]


def _find_reference(
    uow: UnitOfWork, rtype: str, query: str, where: str, mapping: dict[str, str], pending: Pending
) -> str:
    """Resolve ``rtype?query`` to ``rtype/id``; only an actor who may read the type may look it up."""
    if not uow.may_read(rtype):
        raise Forbidden(f"{where}: resolving a conditional reference to {rtype} needs read access to {rtype}")
    found = match_one(uow.session, rtype, query, where, pending)
    if found is None:
        raise InvalidInput(f"{where}: no {rtype} matches {query}", code="not-found", expression=where)
    mapping[f"{rtype}?{query}"] = f"{rtype}/{found}"
    return mapping[f"{rtype}?{query}"]


def rewrite_text(
    uow: UnitOfWork,
    resource: dict[str, Any],
    where: str,
    mapping: dict[str, str],
    pending: Pending,
    raw: bytes | None = None,
) -> dict[str, Any]:
    """Rewrite placeholders and conditional references on the serialised resource (``raw``, when
    the caller serialised it already).

    Regular-expression passes over the JSON text replace the per-node walk for the common case;
    anything it cannot settle (an unknown placeholder, an odd conditional reference) goes to the
    walk, which knows the element's path for the error message.
    """
    raw = orjson.dumps(resource) if raw is None else raw
    if b"urn:" not in raw and b"?" not in raw:
        return resource
    for match in CONDITIONAL.finditer(raw) if b"?" in raw else ():
        value = match.group(1).decode()
        if value not in mapping:
            rtype, _, query = value.partition("?")
            if is_resource_type(rtype):
                _find_reference(uow, rtype, query, where, mapping, pending)

    # Look each match up as text: encoding the whole mapping for every entry made a bundle's cost
    # grow with the square of its size.
    def swap(token: bytes) -> bytes:
        found = mapping.get(token.decode())
        return token if found is None else found.encode()

    if b"urn:" in raw:
        raw = _URN_TOKEN.sub(lambda m: b'"' + swap(m.group(1)), raw)
    if b"?" in raw:
        raw = CONDITIONAL.sub(lambda m: b'"reference":"' + swap(m.group(1)) + b'"', raw)
    rewritten = orjson.loads(raw)
    if _LEFTOVER.search(raw):
        resolve(uow, rewritten, where, mapping, pending)  # raises with the exact element path
    return rewritten


def resolve(uow: UnitOfWork, node: Any, where: str, mapping: dict[str, str], pending: Pending) -> None:
    """Rewrite placeholders everywhere (references, uri and url elements) and resolve conditional refs."""
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{where}.{key}"
            if isinstance(value, str):
                node[key] = _target(uow, key, value, child, mapping, pending)
            else:
                resolve(uow, value, child, mapping, pending)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str):
                if value in mapping:
                    node[i] = mapping[value]
            else:
                resolve(uow, value, f"{where}[{i}]", mapping, pending)


def _target(
    uow: UnitOfWork, key: str, value: str, where: str, mapping: dict[str, str], pending: Pending
) -> str:
    if value in mapping:
        return mapping[value]
    if key != "reference":
        return value
    if value.startswith("urn:uuid:"):
        raise InvalidInput(
            f"{where}: {value} is not the fullUrl of any entry in this bundle",
            code="not-found",
            expression=where,
        )
    rtype, sep, query = value.partition("?")
    if sep and is_resource_type(rtype):
        return _find_reference(uow, rtype, query, where, mapping, pending)
    return value


__all__ = ["CONDITIONAL", "conditional_references", "resolve", "rewrite_text"]
