"""The CapabilityStatement, generated from the search-parameter table so it states only what works."""

from __future__ import annotations

from typing import Any

from sicdoc import __version__
from sicdoc.codes import SIC_QUESTIONNAIRE_URL
from sicdoc.fhir.search_params import PARAMS

_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
_COMMON_PARAMS = (
    {"name": "_id", "type": "token"},
    {"name": "_lastUpdated", "type": "date"},
)


def capability_statement(base_url: str, date: str) -> dict[str, Any]:
    resources = []
    for rtype in sorted(PARAMS):
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in _INTERACTIONS],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalUpdate": True,
            "conditionalDelete": "not-supported",
            "searchInclude": [f"{rtype}:{p.name}" for p in PARAMS[rtype] if p.type == "reference"] or None,
            "searchRevInclude": _revincludes(rtype) or None,
            "searchParam": [*_COMMON_PARAMS, *({"name": p.name, "type": p.type} for p in PARAMS[rtype])],
        }
        if rtype == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append({k: v for k, v in entry.items() if v is not None})
    return {
        "resourceType": "CapabilityStatement",
        "id": "sicdoc",
        "status": "active",
        "date": date,
        "publisher": "sicdoc",
        "kind": "instance",
        "software": {"name": "sicdoc", "version": __version__},
        "implementation": {"description": "sicdoc FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "instantiates": [SIC_QUESTIONNAIRE_URL],
        "rest": [
            {
                "mode": "server",
                "documentation": "Any R4 resource type that validates can be created, read, updated, deleted "
                "and versioned; the types listed here can also be searched.",
                "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
                "resource": resources,
            }
        ],
    }


def _revincludes(target: str) -> list[str]:
    out = []
    for rtype, params in PARAMS.items():
        for p in params:
            if p.type == "reference" and (p.target in (None, target)):
                out.append(f"{rtype}:{p.name}")
    return out
