"""The CapabilityStatement: generated from what the server really supports."""

from __future__ import annotations

from typing import Any

from sicdoc import __version__
from sicdoc.fhir.search_params import PARAMS

INTERACTIONS = ("read", "vread", "create")


def capability_statement(base_url: str, date: str, resource_types: list[str]) -> dict[str, Any]:
    resources = []
    for rtype in resource_types:
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": code} for code in INTERACTIONS],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": False,
            "conditionalCreate": False,
        }
        resources.append(entry)
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
        "rest": [
            {
                "mode": "server",
                "documentation": "Any R4 resource type that validates is stored; searchable types list their "
                "parameters.",
                "resource": resources,
            }
        ],
    }


def searchable_types() -> list[str]:
    return sorted(PARAMS)
