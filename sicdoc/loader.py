"""Reading bundles from files, folders and NDJSON for ``sicdoc load``, and loading them in batches.

``load_paths`` reads bundles in order, groups them into batches of ``batch_size`` and hands each batch
to ``sicdoc.services.bulk.load_batch``: one database transaction per batch, each bundle all or
nothing. With ``jobs`` > 1, that many worker processes (``sicdoc.load_jobs``) check the coming batches
while this process writes them (SQLite), or write them side by side (PostgreSQL).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from sicdoc.errors import SicdocError
from sicdoc.fhir import jsonio
from sicdoc.load_jobs import Batches, checked_batches, written_by_workers

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from sicdoc.services.raw_bundles import Outcome, RawBundle

# Rows are held for a whole batch and written with one statement per table: 400 bundles a batch
# was the fastest on both databases (200 and 1,000 were slower).
DEFAULT_BATCH = 400
# SQLite's page cache while loading, in KiB. With its default of 2 MiB a batch's index inserts keep
# evicting the pages the next batch needs: at 100,000 patients the loader read 200 GB and wrote
# 150 GB through the operating system for a 6 GB database.
LOAD_CACHE_KIB = 262_144
# Pages the write-ahead log may hold before SQLite copies it into the database (default 1,000, which a
# single batch passes): index pages every batch touches are then copied once per 65,536 pages (256 MiB
# at 4 KiB pages) rather than after every batch. 20,000 patients: 4.9 GB written -> 4.0 GB.
LOAD_CHECKPOINT_PAGES = 65_536
# How often a thread of the loader copies the write-ahead log into the database, so that the writer
# does not stop at a commit for the copy and its disk flushes (then a fifth of its time at a million
# patients, the file much larger than memory).
LOAD_CHECKPOINT_SECONDS = 2.0
# PostgreSQL plans by table statistics that a load into a new database outgrows at once. Planned for
# empty tables, looking up 200 identifiers read every identifier row of the type (230 ms at 70,000
# encounters), and a million-patient load fell from 2,000 to 770 resources/s by half a million. So the
# loader ANALYZEs when the resource table has grown to twice what the statistics last saw (and to at
# least this many rows), and at the end: a dozen times for a million patients, seconds each.
ANALYZE_AFTER_RESOURCES = 10_000
# The tables a load looks up by more than a primary key (identifiers in search_token joined to
# resource, receipts, the projections' links in search_reference): the only ones ANALYZEd while it
# runs, the rest at its end. Every table took twice as long (1.5 s against 0.75 s at 20,000 patients),
# much of it sampling the JSON of the history and the projections, which no load statement plans by.
LOAD_PLANNED_TABLES = ("resource", "search_token", "search_reference", "bundle_receipt")
# The share of a table a load must add for the closing VACUUM (ANALYZE) to include it: autovacuum
# ANALYZEs a table once a tenth of it has changed.
CLOSING_VACUUM_SHARE = 0.1


@dataclass
class LoadReport:
    loaded: int = 0
    unchanged: int = 0
    resources: int = 0
    patients: int = 0  # Patient resources in the bundles read (loaded or unchanged)
    seconds: float = 0.0
    rejected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def patients_per_second(self) -> float:
        return self.patients / self.seconds if self.seconds > 0 else 0.0


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


def iter_raw(paths: list[Path]) -> Iterator[tuple[str, bytes | SicdocError, int]]:
    """(label, the bundle's bytes or the error that stopped reading, bytes consumed) for every bundle
    under ``paths``, each file read once; an NDJSON line is labelled ``file:line``."""
    for path in bundle_files(paths):
        try:
            if path.suffix == ".ndjson":
                with path.open("rb") as handle:
                    skipped = 0
                    for number, line in enumerate(handle, 1):
                        if line.strip():
                            yield f"{path}:{number}", line, len(line) + skipped
                            skipped = 0
                        else:
                            skipped += len(line)
                    if skipped:
                        yield "", b"", skipped
            else:
                raw = path.read_bytes()
                yield str(path), raw, len(raw)
        except OSError as exc:
            yield str(path), SicdocError(f"cannot read file: {exc.strerror or exc}"), 0


def iter_bundles(
    paths: list[Path], progress: Callable[[int], object] | None = None
) -> Iterator[tuple[str, Any]]:
    """(label, parsed bundle or the error that stopped it) for every bundle under ``paths``, each file
    read once; ``progress`` is told the bytes behind each bundle as it is read."""
    advance = progress or (lambda _n: None)
    for label, raw, size in iter_raw(paths):
        advance(size)
        if label:
            yield label, raw if isinstance(raw, SicdocError) else _parse(raw)


def _batches(paths: list[Path], size: int) -> Batches:
    """Batches of ``size`` bundles as read, with the bytes behind each batch."""
    from sicdoc.services.raw_bundles import RawBundle

    batch: list[RawBundle] = []
    consumed = 0
    for label, raw, length in iter_raw(paths):
        consumed += length
        if not label:
            continue
        if isinstance(raw, SicdocError):
            batch.append(RawBundle(label, b"", problem=str(raw)))
        else:
            batch.append(RawBundle(label, raw))
        if len(batch) >= size:
            yield batch, consumed
            batch, consumed = [], 0
    if batch or consumed:
        yield batch, consumed


def load_paths(
    app: Flask,
    paths: Iterable[Path],
    *,
    batch_size: int = DEFAULT_BATCH,
    jobs: int = 1,
    progress: Callable[[int, int], object] | None = None,
    report: LoadReport | None = None,
) -> LoadReport:
    """Load every bundle under ``paths`` through the ingest service, ``batch_size`` bundles per
    transaction, with ``jobs`` worker processes; ``progress(bytes, patients)`` follows each batch.

    A bundle that cannot load is reported in ``rejected`` with its label and the reason, and the rest
    of its batch loads. Loading the same files again stores nothing new.

    ``report``, when given, is filled batch by batch: a caller stopped by Ctrl-C (raised once the
    batches being written have committed and been counted) or by an error (the open batch rolls back)
    knows what the stored batches held.
    """
    from sicdoc.db import session_scope, sqlite_bulk_writes

    paths = list(paths)
    report = report if report is not None else LoadReport()
    report.rejected.extend((str(p), "no such file or folder") for p in paths if not p.exists())
    files = bundle_files([p for p in paths if p.exists()])
    tell = progress or (lambda _bytes, _patients: None)
    started = time.perf_counter()
    engine = app.extensions["sicdoc.engine"]
    # Resource rows the planner's statistics know of, and the table size at which to ANALYZE.
    known, analyze_at = 0, None
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            known = max(0, int(conn.scalar(text(_PLANNED_ROWS)) or 0))
        analyze_at = max(2 * known, ANALYZE_AFTER_RESOURCES)
    bulk = sqlite_bulk_writes(engine, LOAD_CACHE_KIB, LOAD_CHECKPOINT_PAGES, LOAD_CHECKPOINT_SECONDS)
    with bulk, session_scope(app) as session, _held_interrupts() as stop:
        batches, stopped = _batches(files, batch_size), lambda: stop.asked
        if jobs > 1 and engine.dialect.name == "postgresql":
            written = written_by_workers(app, batches, jobs, stopped)
        else:
            written = _written_here(app, session, batches, jobs, stopped)
        for outcomes, consumed in written:
            patients = _tally(report, outcomes)
            if analyze_at is not None and known + report.resources >= analyze_at:
                _analyze(session)
                analyze_at = 2 * (known + report.resources)
            tell(consumed, patients)
    report.seconds = time.perf_counter() - started
    if stop.asked:
        raise KeyboardInterrupt  # at once: the closing VACUUM takes minutes at a million patients
    if analyze_at is not None and report.resources:
        _vacuum(engine)
        report.seconds = time.perf_counter() - started
    return report


def _written_here(
    app: Flask,
    session: Session,
    batches: Batches,
    jobs: int,
    stopped: Callable[[], bool],
) -> Iterator[tuple[list[Outcome], int]]:
    """Each batch written by this process, in order, with the bytes behind it; with ``jobs`` > 1,
    checked ahead by that many worker processes (SQLite writes one transaction at a time)."""
    from sicdoc.services.bulk import load_batch

    store, max_entries = app.extensions["sicdoc.store"], app.config["FHIR_MAX_BUNDLE_ENTRIES"]
    passed: dict[bytes, None] = {}  # entries validated in this load (the shared Organization)
    for batch, consumed in checked_batches(batches, jobs, max_entries):
        if stopped():
            return
        yield load_batch(session, store, batch, max_entries=max_entries, passed=passed), consumed


def _tally(report: LoadReport, outcomes: list[Outcome]) -> int:
    """Count a committed batch's outcomes into ``report``; the patients its bundles held."""
    patients = 0
    for outcome in outcomes:
        if outcome.problem is not None:
            report.rejected.append((outcome.label, outcome.problem))
            continue
        patients += outcome.patients
        report.resources += outcome.created
        if outcome.created:
            report.loaded += 1
        else:
            report.unchanged += 1
    report.patients += patients
    return patients


class _Stop:
    """Ctrl-C during a load, noted and acted on between batches: the batches being written commit
    and are counted, and none is begun after it. A second Ctrl-C stops at once (the open batch rolls
    back)."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, _signum: int, _frame: object) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True


@contextmanager
def _held_interrupts() -> Iterator[_Stop]:
    """Ctrl-C noted in the yielded ``_Stop`` while the block runs; elsewhere than the main thread, or
    when Ctrl-C is ignored (a run started in the background), nothing is changed."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
        signal.SIG_IGN,
        None,
    ):
        yield stop
        return
    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


_PLANNED_ROWS = "SELECT reltuples FROM pg_class WHERE relname = 'resource' AND relkind = 'r'"
# The tables of the store whose pages not yet marked all-visible reach ``share`` of them: new pages,
# from the file's size and what the last VACUUM or ANALYZE counted, which is exact at once (the
# statistics collector's counts of changed rows arrive a second or so late, some after the VACUUM that
# should have cleared them). Rows a load writes into old pages' free space are left to autovacuum.
_CHANGED_TABLES = """
SELECT relid::regclass::text FROM (
    SELECT oid AS relid, relallvisible, pg_relation_size(oid) / current_setting('block_size')::int AS pages
    FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'
) t
WHERE pages > relallvisible AND pages - relallvisible >= :share * pages
ORDER BY 1
"""


def _analyze(session: Session) -> None:
    """Fresh planner statistics for the tables the load plans by (ANALYZE reads a sample of each;
    writers go on)."""
    session.execute(text(f"ANALYZE {', '.join(LOAD_PLANNED_TABLES)}"))
    session.commit()


def _vacuum(engine: Engine) -> None:
    """At the end of a load, VACUUM (ANALYZE) the tables it changed by a tenth or more: fresh
    statistics, and the loaded pages marked all-visible, so that index-only scans answer from the index
    alone. Before autovacuum came round, a ``Patient?birthdate=ge`` page fetched the table page of each
    of the 510 resources its window reads (429 pages at 3,000 patients; cold pages, tens of
    milliseconds, at a million). It also sets the rows' hint bits once, which each page's first reader
    would otherwise write. A load that adds little to a large store leaves its tables to autovacuum:
    VACUUM (ANALYZE) of every table took 11-13 s at a million patients with nothing to vacuum, a
    quarter of a load of 5,000 more."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        tables = conn.execute(text(_CHANGED_TABLES), {"share": CLOSING_VACUUM_SHARE}).scalars().all()
        if tables:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(tables)}")


def _parse(raw: bytes) -> Any:
    try:
        return jsonio.loads(raw)
    except SicdocError as exc:
        return exc
