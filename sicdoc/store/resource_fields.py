"""Reading references and codes out of a resource, for the projections."""

from __future__ import annotations

from typing import Any

from sicdoc import codes
from sicdoc.fhir.validation import reference_parts
from sicdoc.models import Base

# (table, row) pairs waiting to be inserted.
Row = tuple[type[Base], dict[str, Any]]


def ref_id(ref: Any, expected: str | None = None) -> str | None:
    if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
        return None
    parts = reference_parts(ref["reference"])
    if parts is None or (expected and parts[0] != expected):
        return None
    return parts[1]


def ref_text(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return ref.get("reference") or ref.get("display")
    return None


def has_code(concept: Any, wanted: set[str]) -> bool:
    return any(code in wanted for _, code in codes.codings(concept))


def part_of_procedures(r: dict) -> list[str]:
    return [pid for ref in r.get("partOf") or () if (pid := ref_id(ref, "Procedure"))]
