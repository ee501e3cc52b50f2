"""Generate the synthetic population and stream it to disk, one patient at a time.

Determinism: patient ``i`` of seed ``s`` is drawn from its own ``random.Random`` seeded with
``(s, i)``, every id and uuid comes from that rng, and JSON is written with sorted keys, so the
same arguments give byte-identical files on any machine. Memory stays flat however many patients.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

from sicdoc.sample import end_of_life
from sicdoc.sample.course import lay_out
from sicdoc.sample.population import PatientPlan, plan_person
from sicdoc.sample.records import patient_bundle

DEFAULT_AS_OF = date(2026, 6, 30)
FILES_PER_FOLDER = 1_000
LINES_PER_FILE = 100_000
P_DUPLICATE = 0.005  # patients whose bundle is written twice, to exercise the loader's idempotency
FORMATS = ("bundles", "ndjson")
Format = Literal["bundles", "ndjson"]


@dataclass(frozen=True)
class GenerationReport:
    patients: int
    bundles: int  # bundles written, duplicates included
    duplicates: int
    resources: int  # entries written, duplicates included
    files: int
    out_dir: Path
    fmt: str
    seed: int
    problems: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.patients / self.seconds if self.seconds > 0 else 0.0
        issues = ", ".join(f"{n} {name}" for name, n in sorted(self.problems.items())) or "none"
        return (
            f"Generated {self.patients} patients (seed {self.seed}): {self.bundles} bundles incl. "
            f"{self.duplicates} duplicates, {self.resources} resources in {self.files} "
            f"{'JSON' if self.fmt == 'bundles' else 'NDJSON'} files "
            f"under {self.out_dir} in {self.seconds:.1f}s ({rate:.0f} patients/s); data problems: {issues}"
        )


def plan_patient(seed: int, index: int, as_of: date = DEFAULT_AS_OF) -> tuple[PatientPlan, random.Random]:
    """Patient ``index`` of ``seed`` as a plan (no FHIR yet), with the rng that will draw its ids."""
    rng = random.Random(f"sicdoc-sample:{seed}:{index}")  # noqa: S311 - synthetic data, not secrets
    plan = plan_person(rng, index, seed, as_of)
    lay_out(rng, plan, as_of)
    # The end of life has an rng of its own: adding to it leaves every patient's course as it was.
    end_of_life.add(random.Random(f"sicdoc-sample-eol:{seed}:{index}"), plan, as_of)  # noqa: S311
    if rng.random() < P_DUPLICATE:
        plan.problems.append("duplicate-bundle")
    return plan, rng


def make_patient(
    seed: int, index: int, as_of: date = DEFAULT_AS_OF
) -> tuple[PatientPlan, dict[str, Any], bool]:
    """Patient ``index`` of ``seed``: its plan, its transaction Bundle, and whether to write it twice."""
    plan, rng = plan_patient(seed, index, as_of)
    return plan, patient_bundle(rng, plan), "duplicate-bundle" in plan.problems


def iter_patients(
    patients: int, seed: int, as_of: date = DEFAULT_AS_OF
) -> Iterator[tuple[PatientPlan, dict[str, Any], bool]]:
    for index in range(patients):
        yield make_patient(seed, index, as_of)


def encode(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode("utf-8")


def check_arguments(patients: Any, seed: Any, out_dir: Path, fmt: Any) -> None:
    """Raise ``ValueError`` with a one-line reason for an argument ``generate`` cannot use."""
    if not isinstance(patients, int) or isinstance(patients, bool) or patients < 1:
        raise ValueError("patients must be a whole number of at least 1")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError("seed must be a whole number of at least 0")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory")
    # Writing into a used folder would mix two populations that a loader cannot tell apart.
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty; choose a new or empty directory")


def generate(
    patients: int,
    seed: int,
    out_dir: Path,
    fmt: Format = "bundles",
    as_of: date = DEFAULT_AS_OF,
    progress: Callable[[int], object] | None = None,
) -> GenerationReport:
    """Write ``patients`` patients as transaction Bundles: one file each (``bundles``, in folders of
    1,000 files) or one per line (``ndjson``, files of at most 100,000 lines)."""
    out_dir = Path(out_dir)
    check_arguments(patients, seed, out_dir, fmt)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sink: _Sink = _FolderSink(out_dir) if fmt == "bundles" else _NdjsonSink(out_dir)
    problems: Counter[str] = Counter()
    duplicates = resources = 0
    try:
        for plan, bundle, twice in iter_patients(patients, seed, as_of):
            data = encode(bundle)
            copies = 2 if twice else 1
            for _ in range(copies):
                sink.write(data)
            duplicates += copies - 1
            resources += copies * len(bundle["entry"])
            problems.update(plan.problems)
            if progress is not None:
                progress(1)
    finally:
        sink.close()
    return GenerationReport(
        patients=patients,
        bundles=patients + duplicates,
        duplicates=duplicates,
        resources=resources,
        files=sink.files,
        out_dir=out_dir,
        fmt=fmt,
        seed=seed,
        problems=dict(problems),
        seconds=time.perf_counter() - started,
    )


class _Sink:
    files = 0

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Nothing to release by default."""


class _FolderSink(_Sink):
    def __init__(self, root: Path):
        self.root = root
        self.folder: Path | None = None

    def write(self, data: bytes) -> None:
        if self.files % FILES_PER_FOLDER == 0:
            self.folder = self.root / f"{self.files // FILES_PER_FOLDER:04d}"
            self.folder.mkdir()
        assert self.folder is not None
        (self.folder / f"bundle-{self.files:07d}.json").write_bytes(data + b"\n")
        self.files += 1


class _NdjsonSink(_Sink):
    def __init__(self, root: Path):
        self.root = root
        self.lines = 0
        self.handle: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self.handle is None or self.lines == LINES_PER_FILE:
            self.close()
            self.handle = (self.root / f"bundles-{self.files:04d}.ndjson").open("wb")
            self.files += 1
            self.lines = 0
        self.handle.write(data + b"\n")
        self.lines += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def read_output(out_dir: Path) -> Iterator[dict[str, Any]]:
    """Every bundle written under ``out_dir`` (either format), in writing order."""
    for path in sorted(Path(out_dir).rglob("*")):
        if path.suffix == ".json":
            yield json.loads(path.read_bytes())
        elif path.suffix == ".ndjson":
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        yield json.loads(line)
