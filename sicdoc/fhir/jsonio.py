"""Strict JSON for FHIR bodies: no duplicate keys, no NaN or Infinity, bounded nesting."""

from __future__ import annotations

import json
from typing import Any

from sicdoc.errors import InvalidInput


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidInput(f"Duplicate JSON key '{key}'", code="structure")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"JSON value {name} is not allowed in FHIR", code="structure")


def loads(body: bytes | str, max_depth: int = 64) -> Any:
    """Parse a request body, raising ``InvalidInput`` with a readable reason on any problem."""
    try:
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        data = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"Body is not valid UTF-8: {exc.reason}", code="structure") from exc
    except RecursionError as exc:
        raise InvalidInput(f"JSON nesting is deeper than {max_depth} levels", code="structure") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"Body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", code="structure"
        ) from exc
    _check_depth(data, max_depth)
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


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
