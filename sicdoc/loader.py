"""Reading bundles from files, folders and NDJSON for ``sicdoc load``; each goes through the service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
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


def bundle_files(paths: list[Path]) -> list[Path]:
    """``paths`` with every folder replaced by the ``*.json`` and ``*.ndjson`` files under it, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file()))
        else:
            out.append(path)
    return out


def total_bytes(files: list[Path]) -> int:
    """The size of ``files`` (an unreadable one counts 0): the length of the progress bar, known from
    the file system so that no file is read twice."""
    total = 0
    for path in files:
        with suppress(OSError):
            total += path.stat().st_size
    return total


def iter_bundles(
    paths: list[Path], progress: Callable[[int], object] | None = None
) -> Iterator[tuple[str, Any]]:
    """(label, parsed bundle or the error that stopped it) for every bundle under ``paths``, each file
    read once; ``progress`` is told the bytes behind each bundle as it is read."""
    advance = progress or (lambda _n: None)
    for path in bundle_files(paths):
        try:
            if path.suffix == ".ndjson":
                with path.open("rb") as handle:
                    for number, line in enumerate(handle, 1):
                        advance(len(line))
                        if line.strip():
                            yield f"{path}:{number}", _parse(line)
            else:
                raw = path.read_bytes()
                advance(len(raw))
                yield str(path), _parse(raw)
        except OSError as exc:
            yield str(path), SicdocError(f"cannot read file: {exc.strerror or exc}")


def _parse(raw: bytes) -> Any:
    try:
        return jsonio.loads(raw)
    except SicdocError as exc:
        return exc
