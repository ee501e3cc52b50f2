"""The Patient compartment of FHIR R4 (CompartmentDefinition/patient): which patients a resource belongs to.

The definition ships as ``compartment_patient.json``: for each resource type in the compartment, the
search parameters that put a resource there, with the FHIRPath expression of each for that type. Every
one of them is a plain path to a Reference, sometimes narrowed by ``.where(resolve() is Patient)``;
a reference counts when it names a Patient of this server: ``Patient/<id>``, with or without
``/_history/<version>``, or the same under one of the server's own absolute bases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from sicdoc.fhir.elements import element_values

_FILE = "compartment_patient.json"
_RESOLVES_TO_PATIENT = ".where(resolve() is Patient)"
_PATH_RE = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+)*$")
_PATIENT_REF_RE = re.compile(r"^Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def _paths(rtype: str, expression: str) -> Iterator[tuple[str, ...]]:
    """The element paths (below the resource) of one type's part of a search parameter expression."""
    for part in expression.split("|"):
        path = part.strip().removesuffix(_RESOLVES_TO_PATIENT)
        if not path.startswith(rtype + ".") or not _PATH_RE.match(path):
            raise ValueError(f"Unsupported compartment expression for {rtype}: {part.strip()!r}")
        yield tuple(path.split(".")[1:])


@cache
def definition() -> Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]]:
    """Resource type -> search parameter -> element paths, for every type in the Patient compartment."""
    data = json.loads(resources.files("sicdoc.fhir").joinpath(_FILE).read_text(encoding="utf-8"))
    return MappingProxyType(
        {
            rtype: MappingProxyType({p: tuple(_paths(rtype, expr)) for p, expr in params.items()})
            for rtype, params in data["resource"].items()
        }
    )


def compartment_types() -> frozenset[str]:
    """The types whose resources can be in a patient's compartment (the Patient itself included)."""
    return frozenset(definition()) | {"Patient"}


def patient_id(reference: Any, local_bases: Iterable[str] = ()) -> str | None:
    """The id of the Patient of this server a reference names, else None."""
    if not isinstance(reference, str):
        return None
    for base in local_bases:
        prefix = base.rstrip("/") + "/"
        if reference.startswith(prefix):
            reference = reference[len(prefix) :]
            break
    match = _PATIENT_REF_RE.match(reference)
    return match.group(1) if match else None


def compartment_patients(resource: Mapping[str, Any], local_bases: Iterable[str] = ()) -> set[str]:
    """Ids of the patients whose compartment holds this resource (a Patient is in its own)."""
    rtype = resource.get("resourceType")
    found: set[str] = set()
    if rtype == "Patient" and isinstance(resource.get("id"), str):
        found.add(resource["id"])
    params = definition().get(rtype) if isinstance(rtype, str) else None
    if not params:
        return found
    bases = tuple(local_bases)
    for paths in params.values():
        for path in paths:
            for value in element_values(resource, path):
                pid = patient_id(value.get("reference"), bases) if isinstance(value, dict) else None
                if pid:
                    found.add(pid)
    return found
