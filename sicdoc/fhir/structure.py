"""Structural rules of every R4 element, compiled once from the ``fhir.resources.R4B`` models.

Validating raw JSON against these rules in one walk finds what pydantic validation of the models
finds (unknown elements, cardinality, JSON types, primitive formats, required elements, choice
types) and more (empty values, required bindings, reference targets), at a fraction of the cost:
bundles of hundreds of resources are the normal case here. ``tests/unit/test_structure.py`` keeps
the two in agreement on real and mutated data.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import fhir_core.types as primitive_types
from fhir.resources.R4B.resource import Resource as R4BResource
from pydantic import BaseModel

# Kinds of element.
PRIMITIVE, COMPLEX, RESOURCE, EXTENSION = range(4)

Check = Callable[[typing.Any], str | None]

_INT32 = (-(2**31), 2**31 - 1)
_CODE_RE = re.compile(r"[^\s]+( [^\s]+)*")
_ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_URI_RE = re.compile(r"\S*")
_OID_RE = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_UUID_RE = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BASE64_RE = re.compile(r"[0-9A-Za-z+/=\s]*")
_DATE_RE = primitive_types.Date.pattern
_DATETIME_RE = primitive_types.DateTime.pattern
_INSTANT_RE = primitive_types.Instant.pattern
_TIME_RE = primitive_types.Time.pattern


def _pattern(regex: re.Pattern[str], name: str) -> Check:
    def check(value: typing.Any) -> str | None:
        return None if regex.fullmatch(value) else f"'{value}' is not a valid {name}"

    return check


def _calendar(regex: re.Pattern[str], name: str) -> Check:
    """Format by the FHIR pattern, then a real calendar date and time (no 30 February)."""

    def check(value: typing.Any) -> str | None:
        if not regex.fullmatch(value):
            return f"'{value}' is not a valid {name}"
        try:
            if len(value) >= 10:
                dt.date.fromisoformat(value[:10])
            if len(value) > 10:
                dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"'{value}' is not a valid {name}"
        return None

    return check


def _int_range(low: int, high: int, name: str) -> Check:
    def check(value: typing.Any) -> str | None:
        return None if low <= value <= high else f"{value} is out of range for {name}"

    return check


def _time(value: typing.Any) -> str | None:
    if not _TIME_RE.fullmatch(value):
        return f"'{value}' is not a valid time"
    return None


_NUMBER = (int, float)
# fhir_core metadata class name -> (JSON types allowed, extra check)
_PRIMITIVES: dict[str, tuple[tuple[type, ...], Check | None]] = {
    "Date": ((str,), _calendar(_DATE_RE, "date")),
    "DateTime": ((str,), _calendar(_DATETIME_RE, "dateTime")),
    "Instant": ((str,), _calendar(_INSTANT_RE, "instant")),
    "Time": ((str,), _time),
    "Id": ((str,), _pattern(_ID_RE, "id")),
    "Code": ((str,), _pattern(_CODE_RE, "code")),
    "Uri": ((str,), _pattern(_URI_RE, "uri")),
    "Url": ((str,), _pattern(_URI_RE, "url")),
    "Canonical": ((str,), _pattern(_URI_RE, "canonical")),
    "Oid": ((str,), _pattern(_OID_RE, "oid")),
    "Uuid": ((str,), _pattern(_UUID_RE, "uuid")),
    "Base64Binary": ((str,), _pattern(_BASE64_RE, "base64Binary")),
    "Integer": ((int,), _int_range(*_INT32, "integer")),
    "Integer64": ((int,), None),
    "PositiveInt": ((int,), _int_range(1, _INT32[1], "positiveInt")),
    "UnsignedInt": ((int,), _int_range(0, _INT32[1], "unsignedInt")),
    "Decimal": (_NUMBER, None),
}
BASE64_CHECK = _PRIMITIVES["Base64Binary"][1]
_PLAIN: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    str: (str,),
    int: (int,),
    decimal.Decimal: _NUMBER,
    dt.date: (str,),
    dt.datetime: (str,),
    dt.time: (str,),
    bytes: (str,),
}


@dataclass(frozen=True, slots=True)
class Rule:
    kind: int
    is_list: bool
    json_types: tuple[type, ...] = ()
    check: Check | None = None
    model: type[BaseModel] | None = None
    enum: frozenset[str] | None = None
    references: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    rules: dict[str, Rule]
    required: tuple[str, ...]
    # choice group -> (member names, at least one required)
    choices: tuple[tuple[tuple[str, ...], bool], ...]


def _unwrap(annotation: typing.Any) -> tuple[typing.Any, bool, typing.Any]:
    """(base type, is a list, primitive metadata) of a model field annotation."""
    is_list = False
    meta = None
    base = annotation
    while True:
        origin = typing.get_origin(base)
        if origin is typing.Annotated:
            args = typing.get_args(base)
            base = args[0]
            meta = next((a for a in args[1:] if type(a).__name__ in _PRIMITIVES), args[-1])
        elif origin in (list, typing.List):  # noqa: UP006 - the models use typing.List
            is_list = True
            base = typing.get_args(base)[0]
        elif origin is not None:  # Optional / Union
            members = [a for a in typing.get_args(base) if a is not type(None)]
            base = members[0]
        else:
            return base, is_list, meta


# Required bindings whose lists fhir.resources truncates (its lists end in "+").
FULL_BINDINGS: dict[tuple[str, str], frozenset[str]] = {
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    ("DiagnosticReport", "status"): frozenset(
        {
            "registered",
            "partial",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "appended",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
}


class FieldMeta(typing.TypedDict, total=False):
    """The keys of fhir-core's per-field metadata (``json_schema_extra``) that the plan reads."""

    element_required: bool
    one_of_many: str
    one_of_many_required: bool
    enum_values: list[str]
    enum_reference_types: list[str]


@cache
def plan_for(model: type[BaseModel]) -> Plan:
    rules: dict[str, Rule] = {}
    required: list[str] = []
    groups: dict[str, tuple[list[str], bool]] = {}
    for name, field in model.model_fields.items():
        if name == "fhir_comments" or name == "resource_type":
            continue
        extra = typing.cast(
            FieldMeta, field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        )
        key = field.alias or name
        base, is_list, meta = _unwrap(field.annotation)
        if name.endswith("__ext"):
            rules[key] = Rule(EXTENSION, is_list, model=base.get_model_klass())
            continue
        if extra.get("element_required") or field.is_required():
            required.append(key)
        if extra.get("one_of_many"):
            group = groups.setdefault(extra["one_of_many"], ([], bool(extra.get("one_of_many_required"))))
            group[0].append(key)
        enum = FULL_BINDINGS.get((model.__name__, key))
        if enum is None and extra.get("enum_values") and "+" not in extra["enum_values"]:
            enum = frozenset(extra["enum_values"])
        if meta is not None and type(meta).__name__ in _PRIMITIVES:
            types_, check = _PRIMITIVES[type(meta).__name__]
            rules[key] = Rule(PRIMITIVE, is_list, types_, check, enum=enum)
        elif isinstance(base, type) and base is uuid.UUID:
            rules[key] = Rule(PRIMITIVE, is_list, (str,), _pattern(_UUID_RE, "uuid"))
        elif isinstance(base, type) and not hasattr(base, "get_model_klass"):
            # Other primitives (urls, bytes) travel as JSON strings.
            rules[key] = Rule(PRIMITIVE, is_list, _PLAIN.get(base, (str,)), enum=enum)
        elif hasattr(base, "get_model_klass"):
            klass = base.get_model_klass()
            kind = RESOURCE if klass is R4BResource or klass.__name__ == "DomainResource" else COMPLEX
            refs = tuple(extra["enum_reference_types"]) if extra.get("enum_reference_types") else None
            rules[key] = Rule(kind, is_list, model=klass, references=refs)
        else:  # pragma: no cover - every R4B field falls in one of the cases above
            raise TypeError(f"unhandled field {model.__name__}.{name}: {field.annotation}")
    choices = tuple((tuple(members), needed) for members, needed in groups.values())
    return Plan(rules, tuple(required), choices)
