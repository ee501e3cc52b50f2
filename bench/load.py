"""Bulk-load throughput: a generated population through ``sicdoc.loader.load_paths`` (``sicdoc load``).

Each run starts from an empty database built by the migrations and loads the same NDJSON population
(``sicdoc sample``, one patient per bundle); the figures are resources/s and patients/s, median of
the runs, with the CPU seconds beside the wall clock (on a shared machine the CPU figure says what the
load costs, the wall clock what it got): the loading process's, its ``--jobs`` workers' (on PostgreSQL
they write the batches, on SQLite they check them ahead of its one writer), and on PostgreSQL the
server's (its processes on this machine, so only a local server is counted).

    .venv/bin/python bench/load.py [--patients 5000] [--runs 3] [--batch-size 400] [--jobs 1]
                                   [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.ingest import _drop, _postgres_url, _sqlite_url
from bench.processes import cpu_seconds
from sicdoc.app import create_app
from sicdoc.collector import tune_collector
from sicdoc.loader import DEFAULT_BATCH, load_paths
from sicdoc.migrate import upgrade
from sicdoc.sample.writer import generate


def _cpu() -> tuple[float, float, float]:
    """CPU seconds of this process, of its finished children (the --jobs workers), and of the
    PostgreSQL server's processes on this machine."""
    times = os.times()
    return (
        times.user + times.system,
        times.children_user + times.children_system,
        cpu_seconds("postgres"),
    )


def _run(url: str, population: Path, batch_size: int, jobs: int) -> tuple[float, tuple[float, ...], int, int]:
    """(wall seconds, CPU seconds of this process, the workers and the server, resources, patients) of
    one load into a fresh database."""
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    wall, before = time.perf_counter(), _cpu()
    report = load_paths(app, [population], batch_size=batch_size, jobs=jobs)
    wall, cpu = time.perf_counter() - wall, tuple(b - a for a, b in zip(before, _cpu(), strict=True))
    app.extensions["sicdoc.engine"].dispose()
    if report.rejected:
        raise SystemExit(f"{len(report.rejected)} bundles rejected, first: {report.rejected[0]}")
    return wall, cpu, report.resources, report.patients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    tune_collector()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory() as tmp:
        population = Path(tmp) / "population"
        generate(args.patients, args.seed, population, "ndjson")
        for backend in backends:
            runs = []
            for _ in range(args.runs):
                if backend == "sqlite":
                    runs.append(_run(_sqlite_url(Path(tmp)), population, args.batch_size, args.jobs))
                else:
                    url, name = _postgres_url()
                    try:
                        runs.append(_run(url, population, args.batch_size, args.jobs))
                    finally:
                        _drop(name)
            resources, patients = runs[0][2], runs[0][3]
            wall = statistics.median(r[0] for r in runs)
            loading, workers, server = (statistics.median(r[1][i] for r in runs) for i in range(3))
            cpu = loading + workers + (server if backend == "postgresql" else 0.0)
            print(
                f"load {backend:<10} {patients:,} patients ({resources:,} resources), "
                f"batch {args.batch_size}, jobs {args.jobs}: median {wall:,.1f} s = "
                f"{resources / wall:,.0f} resources/s, {patients / wall:,.0f} patients/s; "
                f"CPU {cpu:,.1f} s = {resources / cpu:,.0f} resources per CPU second (loading "
                f"process {loading:,.1f} s, workers {workers:,.1f} s"
                + (f", server {server:,.1f} s" if backend == "postgresql" else "")
                + ") "
                f"(runs: {', '.join(f'{r[0]:,.1f} s' for r in runs)}; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
            )


if __name__ == "__main__":
    main()
