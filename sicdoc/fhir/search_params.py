"""The search parameters sicdoc indexes, and how their values are pulled out of a resource.

One table drives three things: the index rows written with every version, the search queries, and
the CapabilityStatement, so what is declared is exactly what works.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sicdoc.fhir.dates import parse_range
from sicdoc.fhir.elements import element_values
from sicdoc.fhir.validation import reference_parts


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # token | reference | date | string | uri
    paths: tuple[str, ...]
    target: str | None = None  # reference params limited to one target type (``patient``)
    doc: str = ""


def _p(name: str, kind: str, *paths: str, target: str | None = None, doc: str = "") -> SearchParam:
    return SearchParam(name, kind, paths, target, doc)


_SUBJECT = (_p("subject", "reference", "subject"), _p("patient", "reference", "subject", target="Patient"))
_IDENT = _p("identifier", "token", "identifier")
_ENC = _p("encounter", "reference", "encounter")

PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _IDENT,
        _p("name", "string", "name"),
        _p("family", "string", "name.family"),
        _p("given", "string", "name.given"),
        _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        _p("death-date", "date", "deceasedDateTime"),
    ),
    "Organization": (_IDENT, _p("name", "string", "name")),
    "Location": (_IDENT, _p("name", "string", "name"), _p("type", "token", "type")),
    "Practitioner": (_IDENT, _p("name", "string", "name"), _p("family", "string", "name.family")),
    "Encounter": (
        _IDENT,
        *_SUBJECT,
        _p("status", "token", "status"),
        _p("class", "token", "class"),
        _p("type", "token", "type"),
        _p("date", "date", "period"),
        _p("reason-code", "token", "reasonCode"),
        _p("location", "reference", "location.location"),
    ),
    "EpisodeOfCare": (
        _IDENT,
        _p("patient", "reference", "patient", target="Patient"),
        _p("status", "token", "status"),
        _p("type", "token", "type"),
        _p("date", "date", "period"),
    ),
    "Condition": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("verification-status", "token", "verificationStatus"),
        _p("onset-date", "date", "onsetDateTime", "onsetPeriod"),
        _p("recorded-date", "date", "recordedDate"),
    ),
    "ServiceRequest": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authored", "date", "authoredOn"),
        _p("requester", "reference", "requester"),
    ),
    "Procedure": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("date", "date", "performedDateTime", "performedPeriod"),
        _p("performer", "reference", "performer.actor"),
    ),
    "QuestionnaireResponse": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("questionnaire", "uri", "questionnaire"),
        _p("status", "token", "status"),
        _p("authored", "date", "authored"),
        _p("author", "reference", "author"),
        _p("part-of", "reference", "partOf"),
    ),
    "Observation": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
        _p("value-concept", "token", "valueCodeableConcept"),
        _p("part-of", "reference", "partOf"),
        _p("derived-from", "reference", "derivedFrom"),
    ),
    "Goal": (
        _IDENT,
        *_SUBJECT,
        _p("lifecycle-status", "token", "lifecycleStatus"),
        _p("category", "token", "category"),
        _p("start-date", "date", "startDate"),
    ),
    "Composition": (
        _IDENT,
        *_SUBJECT,
        _ENC,
        _p("type", "token", "type"),
        _p("category", "token", "category"),
        _p("status", "token", "status"),
        _p("date", "date", "date"),
        _p("author", "reference", "author"),
        _p("entry", "reference", "section.entry"),
    ),
    "Questionnaire": (
        _IDENT,
        _p("url", "uri", "url"),
        _p("version", "token", "version"),
        _p("status", "token", "status"),
        _p("name", "string", "name"),
    ),
    "Provenance": (_p("target", "reference", "target"), _p("recorded", "date", "recorded")),
    "RelatedPerson": (
        _IDENT,
        _p("patient", "reference", "patient", target="Patient"),
        _p("name", "string", "name"),
        _p("relationship", "token", "relationship"),
    ),
}

# Parameters every type supports without an index row of its own.
COMMON = ("_id", "_lastUpdated")


def params_for(resource_type: str) -> dict[str, SearchParam]:
    return {p.name: p for p in PARAMS.get(resource_type, ())}


def values(resource: dict[str, Any], param: SearchParam) -> list[Any]:
    """The values a parameter indexes in a resource, path after path."""
    found: list[Any] = []
    for path in param.paths:
        found += element_values(resource, _parts(path))
    return found


@lru_cache(maxsize=512)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def fold(text: str) -> str:
    """Case- and accent-insensitive form used by FHIR string search."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()[:255]


@dataclass
class IndexRows:
    tokens: list[tuple[str, str | None, str]]
    references: list[tuple[str, str | None, str]]
    dates: list[tuple[str, datetime | None, datetime | None]]
    strings: list[tuple[str, str]]


def index_rows(resource: dict[str, Any]) -> IndexRows:
    """Every index row of one resource version."""
    rows = IndexRows([], [], [], [])
    for param in PARAMS.get(resource["resourceType"], ()):
        for value in values(resource, param):
            if param.type in ("token", "uri"):
                rows.tokens.extend((param.name, s, c) for s, c in _tokens(value))
            elif param.type == "reference":
                ref = _reference(value)
                if ref and (param.target is None or ref[0] == param.target):
                    rows.references.append((param.name, ref[0], ref[1]))
            elif param.type == "date":
                rng = _date_range(value)
                if rng:
                    rows.dates.append((param.name, rng[0], rng[1]))
            elif param.type == "string":
                rows.strings.extend((param.name, fold(s)) for s in _strings(value))
    return rows


def _tokens(value: Any) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, str):
        yield None, value[:255]
    elif isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or ():
                if isinstance(coding, dict) and coding.get("code"):
                    yield coding.get("system"), str(coding["code"])[:255]
        elif "code" in value:
            yield value.get("system"), str(value["code"])[:255]
        elif "value" in value:  # Identifier
            yield value.get("system"), str(value["value"])[:255]


def _reference(value: Any) -> tuple[str | None, str] | None:
    target = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(target, str):
        return None
    parts = reference_parts(target)
    return parts if parts else (None, target[:255])


def _date_range(value: Any) -> tuple[datetime | None, datetime | None] | None:
    if isinstance(value, str):
        return parse_range(value)
    if isinstance(value, dict) and ("start" in value or "end" in value):
        start = parse_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = parse_range(value["end"]) if isinstance(value.get("end"), str) else None
        return (start[0] if start else None, end[1] if end else None)
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # HumanName
        for key in ("text", "family"):
            if isinstance(value.get(key), str):
                yield value[key]
        for key in ("given", "prefix", "suffix"):
            for part in value.get(key) or ():
                if isinstance(part, str):
                    yield part
