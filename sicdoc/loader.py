"""Reading bundles from files, folders and NDJSON for ``sicdoc load``; each goes through the service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sicdoc.errors import SicdocError
from sicdoc.fhir import jsonio


@dataclass
class LoadReport:
    loaded: int = 0
    unchanged: int = 0
    resources: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


def iter_bundles(paths: list[Path]) -> Iterator[tuple[str, Any]]:
    """(label, parsed bundle or the error that stopped it) for every bundle under ``paths``."""
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file())
            yield from iter_bundles(files)
            continue
        try:
            if path.suffix == ".ndjson":
                with path.open("rb") as handle:
                    for number, line in enumerate(handle, 1):
                        if line.strip():
                            yield f"{path}:{number}", _parse(line)
            else:
                yield str(path), _parse(path.read_bytes())
        except OSError as exc:
            yield str(path), SicdocError(f"cannot read file: {exc.strerror or exc}")


def _parse(raw: bytes) -> Any:
    try:
        return jsonio.loads(raw)
    except SicdocError as exc:
        return exc


def count_bundles(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_dir():
            total += count_bundles(sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson")))
        elif path.suffix == ".ndjson" and path.is_file():
            with path.open("rb") as handle:
                total += sum(1 for line in handle if line.strip())
        else:
            total += 1
    return total
