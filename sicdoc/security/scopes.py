"""SMART system scopes: parsing, mediation against a client's grant, and checks per interaction.

Both SMART v1 (``system/Patient.read``, ``system/*.write``, ``system/*.*``) and v2 permission letters
(``system/Patient.rs``, ``system/*.cruds``) are understood. Only ``system/`` scopes are granted here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sicdoc.errors import InvalidInput

_SCOPE_RE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.(\*|read|write|[cruds]{1,5})$")
# Interaction -> SMART v2 letter.
_LETTER = {"create": "c", "read": "r", "update": "u", "delete": "d", "search": "s"}
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
# Types a wildcard never reaches: they must be named (the audit log is for auditors only).
NAMED_ONLY = frozenset({"AuditEvent"})


class InvalidScope(InvalidInput):
    """A SMART scope that is malformed, unsupported or beyond what the client may be granted."""


def parse(scope: str) -> tuple[str, str]:
    """``system/Patient.read`` -> ("Patient", "rs"): the resource type (or "*") and the letters it allows."""
    match = _SCOPE_RE.match(scope)
    if not match:
        raise InvalidScope(f"'{scope}' is not a supported SMART system scope")
    rtype, perm = match.groups()
    return rtype, _V1.get(perm, perm)


def split(scopes: str | Iterable[str]) -> list[str]:
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    return list(dict.fromkeys(items))


def allows(granted: Iterable[str], resource_type: str, interaction: str) -> bool:
    """Whether any granted scope covers ``interaction`` (create/read/update/delete/search) on the type."""
    letter = _LETTER[interaction]
    for scope in granted:
        try:
            rtype, letters = parse(scope)
        except InvalidScope:
            continue
        if _reaches(rtype, resource_type) and letter in letters:
            return True
    return False


def covers(granted: Iterable[str], requested: str) -> bool:
    """Whether a requested scope lies within the client's pre-authorised ones."""
    rtype, letters = parse(requested)
    for scope in granted:
        try:
            g_type, g_letters = parse(scope)
        except InvalidScope:
            continue
        if _reaches(g_type, rtype) and set(letters) <= set(g_letters):
            return True
    return False


def _reaches(granted_type: str, resource_type: str) -> bool:
    return granted_type == resource_type or (granted_type == "*" and resource_type not in NAMED_ONLY)


def mediate(registered: Iterable[str], requested: str | None) -> list[str]:
    """The scopes to grant: all registered ones when none are asked for, else the requested ones if covered."""
    registered = split(registered)
    if not requested or not requested.strip():
        return registered
    wanted = split(requested)
    refused = [s for s in wanted if not _covered(registered, s)]
    if refused:
        raise InvalidScope(f"Not authorised for: {' '.join(refused)}")
    return wanted


def _covered(registered: list[str], scope: str) -> bool:
    try:
        return covers(registered, scope)
    except InvalidScope:
        return False


def required_scopes(bundle: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource type, interaction) pairs a transaction bundle needs; a client must be allowed each one."""
    needed: set[tuple[str, str]] = set()
    method_to_interaction = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            continue
        rtype = request["url"].split("?", 1)[0].split("/", 1)[0]
        method = request.get("method")
        needed.add((rtype, method_to_interaction.get(method, "read") if isinstance(method, str) else "read"))
    return needed
