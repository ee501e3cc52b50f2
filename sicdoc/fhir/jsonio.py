"""Strict JSON for FHIR bodies: no duplicate keys, no NaN or Infinity, bounded nesting.

Only what can be stored and answered exactly is accepted: integers within 64 bits (what the store's
JSON encoder writes), decimals that read back as the value sent (finite, at most 17 significant
digits), and text without NUL or unpaired UTF-16 surrogates (PostgreSQL and UTF-8 refuse both).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from sicdoc.errors import InvalidInput

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_MAX_NUMBER_TEXT = 64
# NUL, or a UTF-16 surrogate escape: both are rare, so a body is searched only when its text has one.
_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidInput(f"Duplicate JSON key '{_shown(key)}'", code="structure")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"JSON value {name} is not allowed in FHIR", code="structure")


def _integer(text: str) -> int:
    if len(text) > 20:
        raise InvalidInput(f"The number {text[:24]}… is too large to store exactly", code="value")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidInput(f"The number {text} is too large to store exactly", code="value")
    return value


def _decimal(text: str) -> float:
    if len(text) <= 16 and "e" not in text and "E" not in text:
        return float(text)  # at most 15 significant digits and no exponent: always exact as text
    if len(text) > _MAX_NUMBER_TEXT:
        raise InvalidInput(f"The number {text[:24]}… has more digits than can be stored", code="value")
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"The number {text} is beyond what can be stored", code="value")
    if Decimal(repr(value)) != Decimal(text):
        raise InvalidInput(f"The number {text} cannot be stored exactly (at most 17 digits)", code="value")
    return value


def loads(body: bytes | str, max_depth: int = 64) -> Any:
    """Parse a request body, raising ``InvalidInput`` with a readable reason on any problem."""
    try:
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        data = json.loads(
            body,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_integer,
            parse_float=_decimal,
        )
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"Body is not valid UTF-8: {exc.reason}", code="structure") from exc
    except RecursionError as exc:
        raise InvalidInput(f"JSON nesting is deeper than {max_depth} levels", code="structure") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"Body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code="structure"
        ) from exc
    _check_depth(data, max_depth)
    if _SUSPECT.search(body):
        _check_text(data)
    return data


def _check_depth(data: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise InvalidInput(f"JSON nesting is deeper than {max_depth} levels", code="too-costly")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))


def _check_text(data: Any) -> None:
    """Refuse NUL and unpaired surrogates in any key or string (a valid pair was already joined)."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            texts: Any = (node,)
        elif isinstance(node, dict):
            texts = node.keys()
            stack.extend(node.values())
        elif isinstance(node, list):
            texts = ()
            stack.extend(node)
        else:
            continue
        for text in texts:
            found = _BAD_CHAR.search(text)
            if found:
                what = "NUL (U+0000)" if found.group() == "\x00" else "an unpaired UTF-16 surrogate"
                raise InvalidInput(f"JSON text may not contain {what}", code="value")


def has_bad_text(text: str) -> bool:
    """True when ``text`` holds NUL or an unpaired surrogate, which cannot be stored."""
    return _BAD_CHAR.search(text) is not None


def _shown(text: str) -> str:
    return _BAD_CHAR.sub("\ufffd", text)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
