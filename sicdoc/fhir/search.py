"""Parsing FHIR search parameters into a neutral request the store can run.

Unknown or unsupported parameters are collected, not silently dropped: the caller reports them in
the result, or refuses the search under ``Prefer: handling=strict``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.http import unquote_etag

from sicdoc.errors import InvalidInput
from sicdoc.fhir.dates import parse_range
from sicdoc.fhir.jsonio import has_bad_text
from sicdoc.fhir.search_params import COMMON, SearchParam, params_for
from sicdoc.fhir.validation import is_resource_type, valid_id

DATE_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")
RESULT_PARAMS = frozenset(
    {"_count", "_sort", "_total", "_include", "_revinclude", "_summary", "_cursor", "_format", "_elements"}
)
MAX_COUNT = 500
DEFAULT_COUNT = 50
_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)
_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}", re.ASCII)
MAX_VERSION = 2**31 - 1


def parse_count(raw: str, name: str = "_count") -> int:
    """A page size: ASCII digits only (``²`` and other Unicode digits are refused), any length.

    Values past a billion are answered as a billion; callers cap or refuse as their maximum says.
    """
    if not _DIGITS.fullmatch(raw):
        if raw.isascii() and raw.isdigit():
            return 10**12
        raise InvalidInput(
            f"{name} must be a whole number written in digits 0-9", code="value", expression=name
        )
    return int(raw)


def page_size(raw: str | None) -> int:
    """The ``_count`` of a search or history page: DEFAULT_COUNT when absent, at most MAX_COUNT."""
    return DEFAULT_COUNT if raw is None else min(parse_count(raw), MAX_COUNT)


def check_criteria(query: str, where: str) -> None:
    """Conditional criteria (``identifier=sys|val``) must hold no NUL once decoded: it cannot be looked up."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or has_bad_text(value):
            raise InvalidInput(
                f"{where}: criteria may not contain NUL (U+0000)", code="value", expression=where
            )


def parse_etag(raw: object, where: str = "If-Match") -> int:
    """The version an ETag names (``W/"3"``, ``"3"`` or ``3``), for If-Match in a header or a bundle."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidInput(f'{where} must be an ETag such as W/"3"', code="value", expression=where)
    tag, _weak = unquote_etag(raw.strip())
    if tag is None or not _DIGITS.fullmatch(tag) or int(tag) > MAX_VERSION:
        raise InvalidInput(f'{where} must be an ETag such as W/"3"', code="value", expression=where)
    return int(tag)


def parse_version(raw: str, where: str = "version") -> int:
    """A version id (``_history/3``, ``W/"3"``): ASCII digits, 1 to 2^31-1."""
    if not _DIGITS.fullmatch(raw) or not 0 < int(raw) <= MAX_VERSION:
        raise InvalidInput(f"{where}: '{raw[:40]}' is not a version id", code="value", expression=where)
    return int(raw)


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
    # ``estimate`` (the default): the exact total up to TOTAL_COUNTED_UP_TO matches, none beyond;
    # ``accurate`` counts every match; ``none`` counts nothing.
    total: str = "estimate"
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
        if "\x00" in raw_name or has_bad_text(raw_value):
            raise InvalidInput("Search parameters may not contain NUL (U+0000)", code="value")
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
    if req.cursor is not None:
        _check_search_key(req)
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
    if not parts:
        raise InvalidInput(f"Search parameter '{name}' has no value", code="value")
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
        req.count = page_size(value)
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
        param = params_for(pieces[0]).get(pieces[1]) if len(pieces) in (2, 3) else None
        # A parameter with one target type (``patient``) names it, so scope checks see it up front.
        target = pieces[2] if len(pieces) == 3 else (param.target if param else None)
        if (
            param is None
            or param.type != "reference"
            or (target is not None and not is_resource_type(target))
            or (param.target is not None and target != param.target)
        ):
            raise InvalidInput(f"{name}={value} names no known reference parameter", code="not-supported")
        include = Include(pieces[0], pieces[1], target)
        (req.includes if name == "_include" else req.revincludes).append(include)
    elif name == "_cursor":
        req.cursor = decode_cursor(value, "search")
    else:
        return False
    return True


def _check_search_key(req: SearchRequest) -> None:
    """A cursor's sort key is what this search's sort writes: an instant, an id, or nothing."""
    assert req.cursor is not None
    key = req.cursor.get("key")
    if not req.sort or req.sort[0] == ("_id", False):
        if key is not None:
            raise _bad_cursor()
    elif req.sort[0][0] == "_id":
        _check_cursor_id(key)
    else:
        _check_instant(key)


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _bad_cursor() -> InvalidInput:
    return InvalidInput("The paging cursor is not valid", code="value", expression="_cursor")


def _check_instant(value: Any) -> None:
    if not isinstance(value, str) or len(value) > 40:
        raise _bad_cursor()
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _bad_cursor() from None


def _check_key(value: Any) -> None:
    if value is not None and not (isinstance(value, str) and len(value) <= 64 and not has_bad_text(value)):
        raise _bad_cursor()


def _check_version(value: Any) -> None:
    if type(value) is not int or not 0 < value <= MAX_VERSION:
        raise _bad_cursor()


def _check_type(value: Any) -> None:
    if not isinstance(value, str) or not _TYPE.fullmatch(value):
        raise _bad_cursor()


def _check_cursor_id(value: Any) -> None:
    if not valid_id(value):
        raise _bad_cursor()


# Each kind of cursor: its fields and how each is checked. A cursor is refused unless every field the
# server wrote is present with the type it wrote, so no value from a client reaches a query unchecked.
CURSOR_FIELDS: dict[str, dict[str, Any]] = {
    "search": {"id": _check_cursor_id, "key": _check_key},
    "history": {"at": _check_instant, "type": _check_type, "id": _check_cursor_id, "v": _check_version},
    "compartment": {"type": _check_type, "id": _check_cursor_id},
}
_OPTIONAL = {"search": {"key"}}


def decode_cursor(value: str, kind: str | None = None) -> dict[str, Any]:
    """A paging cursor back as the server wrote it; ``kind`` names its fields (see CURSOR_FIELDS)."""
    if len(value) > 2048:
        raise _bad_cursor()
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(data, dict):
        raise _bad_cursor()
    fields = CURSOR_FIELDS.get(kind or "")
    if fields is not None:
        required = set(fields) - _OPTIONAL.get(kind or "", set())
        if not required <= data.keys() <= fields.keys():
            raise _bad_cursor()
        for key, check in fields.items():
            if key in data:
                check(data[key])
    return data
