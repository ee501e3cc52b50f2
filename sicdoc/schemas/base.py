"""What every schema shares: refusal of unknown fields, plain-English messages, strict numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields
from marshmallow.validate import Range

from sicdoc.errors import InvalidInput, Issue

SMALL, COMPLEMENT = "<11", "suppressed"  # the suppressed counts (sicdoc.analytics.suppression)


class Strict(Schema):
    """A JSON object whose every field is declared: anything else is refused by name."""

    error_messages = {"unknown": "unknown field", "type": "must be an object"}


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("is required text")


class Text(fields.String):
    """Text that must be present and not blank."""

    def __init__(self, validate: Any = None, **kwargs: Any) -> None:
        checks = [_not_blank, *([validate] if validate else [])]
        super().__init__(
            required=True,
            validate=checks,
            error_messages={"required": "is required text", "invalid": "is required text"},
            **kwargs,
        )


class Whole(fields.Integer):
    """A whole number from ``low`` to ``high``; true, false, 12.0 and "12" are refused."""

    def __init__(self, low: int, high: int, **kwargs: Any) -> None:
        message = f"must be a whole number from {low} to {high}"
        super().__init__(
            strict=True,
            validate=Range(low, high, error=message),
            error_messages={"invalid": message},
            **kwargs,
        )


class Real(fields.Float):
    """A JSON number: text such as "0.5" and true/false are refused (the Float field accepts them)."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, str):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Count(fields.Field):
    """A count as shown: a whole number, "<11" for a small one, "suppressed" for a complement."""

    def __init__(self, *, metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        shapes = [
            {"type": "integer", "minimum": 0},
            {"type": "string", "enum": [SMALL, COMPLEMENT]},
            {"type": "null"},
        ]
        description = 'A count; "<11" when it is 1-10, "suppressed" when hidden to protect another'
        if metadata and "description" in metadata:
            description = f"{metadata['description']}. {description}"
        super().__init__(metadata={"oneOf": shapes, "description": description}, **kwargs)


class Number(fields.Field):
    """A number written as computed: a whole one stays whole (``12``, not ``12.0``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, metadata={"type": "number"}, **kwargs)


class Invalid(InvalidInput):
    """A document a schema refused; the message lists every problem as ``field.path: message``."""

    def __init__(self, lines: list[str]) -> None:
        self.problems = lines
        super().__init__([Issue("invalid", line) for line in lines])


def check(schema: Schema, raw: Any) -> Any:
    """``schema.load(raw)``, raising ``Invalid`` (so callers need not import marshmallow)."""
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise Invalid(problems(exc.messages)) from None


def problems(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested error messages as ``field.path: message`` lines."""
    if isinstance(messages, Mapping):
        out = []
        for key, value in messages.items():
            if key == "_schema":
                path = where
            elif isinstance(key, int):
                path = f"{where}[{key}]"
            else:
                path = f"{where}.{key}" if where else str(key)
            out += problems(value, path)
        return out
    if isinstance(messages, list | tuple):
        return [line for message in messages for line in problems(message, where)]
    return [f"{where or 'top level'}: {messages}"]
