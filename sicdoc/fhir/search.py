"""Parsing FHIR search parameters into a neutral request the store can run.

Unknown or unsupported parameters are collected, not silently dropped: the caller reports them in
the result, or refuses the search under ``Prefer: handling=strict``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sicdoc.errors import InvalidInput
from sicdoc.fhir.dates import parse_range
from sicdoc.fhir.search_params import COMMON, SearchParam, params_for

DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
RESULT_PARAMS = frozenset(
    {"_count", "_sort", "_total", "_include", "_revinclude", "_summary", "_cursor", "_format", "_elements"}
)
MAX_COUNT = 500
DEFAULT_COUNT = 50


@dataclass(frozen=True)
class Criterion:
    """One parameter occurrence: its values are ORed; criteria are ANDed."""

    param: SearchParam
    modifier: str | None
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Include:
    source_type: str
    param: str
    target_type: str | None


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    ids: tuple[str, ...] = ()
    last_updated: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (param, descending)
    total: str = "accurate"
    summary_count: bool = False
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    ignored: list[str] = field(default_factory=list)
    # The parameters as understood, for self and next links.
    canonical: list[tuple[str, str]] = field(default_factory=list)


def parse_search(resource_type: str, args: list[tuple[str, str]], *, strict: bool = False) -> SearchRequest:
    known = params_for(resource_type)
    req = SearchRequest(resource_type)
    for raw_name, raw_value in args:
        name, _, modifier = raw_name.partition(":")
        try:
            handled = _apply(req, known, name, modifier or None, raw_value)
        except InvalidInput:
            raise
        if handled:
            if name != "_cursor":
                req.canonical.append((raw_name, raw_value))
        else:
            req.ignored.append(raw_name)
    if strict and req.ignored:
        raise InvalidInput(
            f"Unknown or unsupported search parameters: {', '.join(sorted(set(req.ignored)))}",
            code="not-supported",
        )
    return req


def _apply(
    req: SearchRequest, known: dict[str, SearchParam], name: str, modifier: str | None, value: str
) -> bool:
    if name == "_id":
        req.ids = req.ids + tuple(v for v in value.split(",") if v)
        return True
    if name == "_lastUpdated":
        req.last_updated.append(_date_value(value, "_lastUpdated"))
        return True
    if name in RESULT_PARAMS:
        return _apply_result_param(req, name, value)
    param = known.get(name)
    if param is None or (modifier and modifier not in _MODIFIERS[param.type]):
        return False
    if not value:
        raise InvalidInput(f"Search parameter '{name}' has no value", code="value")
    parts = _split(value)
    if param.type == "date":
        values: tuple[Any, ...] = tuple(_date_value(v, name) for v in parts)
    elif param.type in ("token", "uri"):
        values = tuple(_token_value(v) for v in parts)
    elif param.type == "reference":
        values = tuple(_reference_value(v, param) for v in parts)
    else:
        values = tuple(parts)
    req.criteria.append(Criterion(param, modifier, values))
    return True


_MODIFIERS = {
    "token": {"not"},
    "uri": set(),
    "reference": set(),
    "date": set(),
    "string": {"exact", "contains"},
}


def _split(value: str) -> list[str]:
    """Comma-separated values, honouring ``\\,`` escapes."""
    out, current, escaped = [], "", False
    for ch in value:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            out.append(current)
            current = ""
        else:
            current += ch
    out.append(current)
    return [v for v in out if v]


def _date_value(value: str, name: str) -> tuple[str, datetime, datetime]:
    prefix = value[:2] if value[:2] in DATE_PREFIXES else "eq"
    rest = value[2:] if value[:2] in DATE_PREFIXES else value
    if value[:2].isalpha() and value[:2] not in DATE_PREFIXES:
        raise InvalidInput(f"Date prefix '{value[:2]}' of '{name}' is not supported", code="not-supported")
    rng = parse_range(rest)
    if rng is None:
        raise InvalidInput(f"'{value}' is not a valid date for '{name}'", code="value")
    return prefix, rng[0], rng[1]


def _token_value(value: str) -> tuple[str | None, str | None]:
    """(system, code): ``code`` any system; ``sys|code``; ``|code`` no system; ``sys|`` any code."""
    if "|" not in value:
        return (None, value)
    system, _, code = value.partition("|")
    return (system if system else "", code or None)


def _reference_value(value: str, param: SearchParam) -> tuple[str | None, str]:
    value = value.rstrip("/")
    parts = value.split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1]
    return param.target, value


def _apply_result_param(req: SearchRequest, name: str, value: str) -> bool:
    if name == "_count":
        if not value.isdigit():
            raise InvalidInput(f"_count must be a whole number, not '{value}'", code="value")
        req.count = min(int(value), MAX_COUNT)
    elif name == "_sort":
        req.sort = []
        for key in value.split(","):
            desc = key.startswith("-")
            key = key.lstrip("-")
            param = params_for(req.resource_type).get(key)
            if key not in COMMON and (param is None or param.type != "date"):
                raise InvalidInput(f"Cannot sort {req.resource_type} by '{key}'", code="not-supported")
            req.sort.append((key, desc))
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise InvalidInput("_total must be none, estimate or accurate", code="value")
        req.total = value
    elif name == "_summary":
        if value != "count":
            return False
        req.summary_count = True
    elif name in ("_include", "_revinclude"):
        pieces = value.split(":")
        if len(pieces) not in (2, 3) or pieces[1] not in params_for(pieces[0]):
            raise InvalidInput(f"{name}={value} names no known reference parameter", code="not-supported")
        # A parameter with one target type (``patient``) names it, so scope checks see it up front.
        target = pieces[2] if len(pieces) == 3 else params_for(pieces[0])[pieces[1]].target
        include = Include(pieces[0], pieces[1], target)
        (req.includes if name == "_include" else req.revincludes).append(include)
    elif name == "_cursor":
        req.cursor = decode_cursor(value)
    else:
        return False
    return True


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(value: str) -> dict[str, Any]:
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The paging cursor is not valid", code="value") from None
    if not isinstance(data, dict):
        raise InvalidInput("The paging cursor is not valid", code="value")
    return data
