"""The databases bench/scale.py measures: a fresh (or kept) SQLite file or PostgreSQL database,
``sicdoc load`` of a generated population into it with its rates and peak memory, and the patients
whose values the probes ask about."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, delete, func, select

from bench.databases import create_postgres, drop_postgres, postgres_exists, postgres_url, sqlite_url
from bench.processes import PeakWatch
from bench.sicdoc_cli import SICDOC, environment
from sicdoc.codes import COHORTS, MRN_SYSTEM
from sicdoc.models import Resource
from sicdoc.models.analytics import AnalyticsResult
from sicdoc.models.projections import DiagnosisFact


@dataclass
class Store:
    """One database to measure: its URL, how to make it afresh and drop it, and where a kept one's
    load figures are noted."""

    backend: str
    url: str
    note: Path | None  # the load figures of a kept database; None: not kept
    sqlite_file: Path | None = None
    pg_name: str | None = None

    def fresh(self) -> None:
        self.drop()
        if self.pg_name:
            create_postgres(self.pg_name)

    def drop(self) -> None:
        if self.note:
            self.note.unlink(missing_ok=True)
        if self.sqlite_file:
            for path in self.sqlite_file.parent.glob(self.sqlite_file.name + "*"):  # and -wal, -shm
                path.unlink()
        if self.pg_name:
            drop_postgres(self.pg_name)

    def loaded(self) -> dict[str, Any] | None:
        """The load figures of a kept database still there, else None."""
        if not (self.note and self.note.exists()):
            return None
        there = self.sqlite_file.exists() if self.sqlite_file else postgres_exists(str(self.pg_name))
        return json.loads(self.note.read_text()) if there else None


def store_for(backend: str, patients: int, seed: int, keep: Path | None, scratch: Path) -> Store:
    """The database of a backend: named for (N, seed) in ``keep``, else a new one in ``scratch``."""
    tag = f"{patients}_{seed}" if keep else uuid.uuid4().hex[:8]
    note = keep / f"sicdoc-{patients}-seed{seed}-{backend}.loaded.json" if keep else None
    if backend == "sqlite":
        file = keep / f"sicdoc-{patients}-seed{seed}.sqlite3" if keep else scratch / f"scale-{tag}.sqlite3"
        return Store(backend, sqlite_url(file.parent, file.name), note, sqlite_file=file)
    return Store(backend, postgres_url(f"sicdoc_scale_{tag}"), note, pg_name=f"sicdoc_scale_{tag}")


_REFUSAL = re.compile(r"^rejected .+$", re.MULTILINE)
_LOADED = re.compile(r"loaded ([\d,]+) bundles \(([\d,]+) resources\).*?([\d,]+) rejected; ([\d,]+) patients")


def load(store: Store, folder: Path, jobs: int) -> dict[str, Any]:
    """``sicdoc load`` of the population into the migrated store: rates, peak RSS, what it reported."""
    with tempfile.TemporaryFile("w+") as out:
        command = [str(SICDOC), "--database-url", store.url, "load", "--quiet", "--jobs", str(jobs)]
        started = time.perf_counter()
        proc = subprocess.Popen([*command, str(folder)], env=environment(), stdout=out, stderr=out, text=True)
        watch = PeakWatch(proc.pid)
        # wait4 reaps it with its resource usage: ru_maxrss is the largest of it and its workers.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        peaks = watch.stop()
        out.seek(0)
        printed = out.read()
    match = _LOADED.search(printed)
    if proc.returncode not in (0, 1):  # 1: some bundles were rejected, and listed
        raise SystemExit(f"sicdoc load failed ({proc.returncode}):\n{printed[-3000:]}")
    if match:
        bundles, resources, rejected, patients = (int(g.replace(",", "")) for g in match.groups())
    else:  # the summary line reads differently: count what is stored
        bundles, rejected = -1, printed.count("rejected ")
        resources, patients = stored_counts(store.url)
    workers = sorted((mib for pid, mib in peaks.items() if pid != proc.pid), reverse=True)
    return {
        "seconds": round(seconds, 1),
        "bundles": bundles,
        "resources": resources,
        "patients": patients,
        "rejected": rejected,
        "resources_per_s": round(resources / seconds, 1),
        "patients_per_s": round(patients / seconds, 1),
        "jobs": jobs,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "job_peak_rss_mib": [round(mib, 1) for mib in workers],
        # What the loader said of the first refused bundles (``rejected file:line: reason``), kept.
        "rejected_reasons": _REFUSAL.findall(printed)[:50],
    }


def load_discarding(store: Store, folder: Path, jobs: int) -> dict[str, Any]:
    """``load`` one NDJSON file of the population at a time, deleting each once it is in: for a disk
    without room for both the population and the loaded database (a million patients on SQLite). The
    figures are the sums over the files (rates over the summed seconds; peak RSS the largest); the
    population is generated again when next asked for.

    Each load VACUUMs at its end only the tables it grew by a tenth, which the last files do not; on
    PostgreSQL a closing ``VACUUM (ANALYZE)``, timed with the load, leaves the store as one
    ``sicdoc load`` of the whole population would."""
    parts = [load(store, file, jobs) for file in _discarded(sorted(folder.glob("*.ndjson")))]
    folder.rmdir()
    total: dict[str, Any] = {key: sum(part[key] for part in parts) for key in _SUMMED}
    vacuum = _vacuumed(store.url) if store.backend == "postgresql" else 0.0
    seconds = total["seconds"] = round(total["seconds"] + vacuum, 1)
    return {
        **total,
        "resources_per_s": round(total["resources"] / seconds, 1),
        "patients_per_s": round(total["patients"] / seconds, 1),
        "jobs": jobs,
        "peak_rss_mib": max(part["peak_rss_mib"] for part in parts),
        "job_peak_rss_mib": max((part["job_peak_rss_mib"] for part in parts), default=[]),
        "rejected_reasons": [reason for part in parts for reason in part["rejected_reasons"]][:50],
        "files": len(parts),
        "closing_vacuum_s": round(vacuum, 1),
    }


def _vacuumed(url: str) -> float:
    """Seconds of a ``VACUUM (ANALYZE)`` of the whole database."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            started = time.perf_counter()
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            return time.perf_counter() - started
    finally:
        engine.dispose()


_SUMMED = ("seconds", "bundles", "resources", "patients", "rejected")


def _discarded(files: list[Path]) -> Iterator[Path]:
    for file in files:
        yield file
        file.unlink()


def stored_counts(url: str) -> tuple[int, int]:
    """(resources, patients) stored."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            resources = conn.scalar(select(func.count()).select_from(Resource)) or 0
            patients = conn.scalar(select(func.count()).where(Resource.resource_type == "Patient")) or 0
    finally:
        engine.dispose()
    return resources, patients


def forget_results(url: str) -> int:
    """Drop the analytics results a kept database holds from earlier runs (how many there were), so
    that a run measures building them, as on a fresh load, not serving what an earlier run built."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(delete(AnalyticsResult)).rowcount
    finally:
        engine.dispose()


def pick_people(url: str, count: int) -> list[dict[str, str]]:
    """``count`` generated patients spread over the store (ids are random, so the first by id), each
    with the search values of theirs, and the commonest cohort codes in turn; URL-quoted."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Resource.id, Resource.content)
                .where(Resource.resource_type == "Patient", Resource.deleted.is_(False))
                .order_by(Resource.id)
                .limit(count * 3)
            ).all()
            counted = conn.execute(
                select(DiagnosisFact.cohort, DiagnosisFact.code_system, DiagnosisFact.code, func.count())
                .group_by(DiagnosisFact.cohort, DiagnosisFact.code_system, DiagnosisFact.code)
                .order_by(func.count().desc())
            ).all()
    finally:
        engine.dispose()
    codes: dict[str, str] = {}
    for cohort, system, code, _ in counted:
        codes.setdefault(cohort, f"{system}|{code}")
    cohort_codes = [codes[c] for c in COHORTS if c in codes] or ["none"]
    people: list[dict[str, str]] = []
    for pid, content in rows:
        mrn = next((i["value"] for i in content.get("identifier", []) if i.get("system") == MRN_SYSTEM), None)
        if mrn is None or "birthDate" not in content:
            continue  # a patient written by an earlier run, not a generated one
        born = date.fromisoformat(content["birthDate"])
        values = {
            "id": pid,
            "family": content["name"][0]["family"],
            "mrn": mrn,
            "born": born.isoformat(),
            "born_mdy": f"{born.month:02d}/{born.day:02d}/{born.year}",
            "code": cohort_codes[len(people) % len(cohort_codes)],
        }
        people.append({k: quote(v, safe="") for k, v in values.items()})
    if len(people) < count:
        raise SystemExit(f"only {len(people)} generated patients found; --runs asks for {count}")
    return people[:count]
