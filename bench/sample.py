"""Sample population: generation rate, load rate on SQLite and PostgreSQL, and generator peak memory.

    .venv/bin/python bench/sample.py --patients 10000 [--runs 3]     rates (median of the runs)
    .venv/bin/python bench/sample.py --memory 1000000                  peak RSS generating N to NDJSON

Loading goes through ``process_transaction``, the service behind ``sicdoc load`` and ``POST /fhir``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.databases import create_postgres, drop_postgres
from sicdoc.app import create_app
from sicdoc.collector import tune_collector
from sicdoc.db import session_scope
from sicdoc.loader import iter_bundles
from sicdoc.migrate import upgrade
from sicdoc.sample.writer import generate
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit


def _generate(patients: int, out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    report = generate(patients, 11, out, "ndjson")
    return patients / (time.perf_counter() - started), report.resources


def _load(url: str, folder: Path, patients: int, resources: int) -> tuple[float, float]:
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    store = app.extensions["sicdoc.store"]
    started = time.perf_counter()
    with session_scope(app) as session:
        for _, bundle in iter_bundles([folder]):
            process_transaction(system_unit(session, store), bundle)
    elapsed = time.perf_counter() - started
    app.extensions["sicdoc.engine"].dispose()
    return patients / elapsed, resources / elapsed


def rates(patients: int, runs: int) -> None:
    gen, load = [], {"sqlite": [], "postgresql": []}
    resources = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "population"
            rate, resources = _generate(patients, folder)
            gen.append(rate)
            load["sqlite"].append(_load(f"sqlite:///{tmp}/load.sqlite3", folder, patients, resources))
            url, name = create_postgres()
            try:
                load["postgresql"].append(_load(url, folder, patients, resources))
            finally:
                drop_postgres(name)
    print(
        f"generate {patients} patients ({resources} resources): median {statistics.median(gen):,.0f} patients/s"
    )
    for backend, results in load.items():
        pats = statistics.median(r[0] for r in results)
        res = statistics.median(r[1] for r in results)
        print(f"load     {backend:<10} median {pats:,.0f} patients/s, {res:,.0f} resources/s")


def memory(patients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        code = (
            "import resource, sys, time; from pathlib import Path; from sicdoc.sample.writer import generate;"
            f"t = time.perf_counter(); generate({patients}, 11, Path(sys.argv[1]), 'ndjson');"
            "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, f"{tmp}/population"], capture_output=True, text=True
        )
        if out.returncode != 0:
            sys.exit(out.stderr[-2000:])
        seconds, peak_kib = out.stdout.split()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.ndjson"))
    print(
        f"generate {patients:,} patients to NDJSON: {float(seconds):,.0f} s "
        f"({patients / float(seconds):,.0f} patients/s), peak memory {int(peak_kib) / 1024:,.0f} MiB, "
        f"{size / 2**30:.1f} GiB written"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory", type=int, metavar="N", help="measure peak memory generating N patients")
    args = parser.parse_args()
    if args.memory:
        memory(args.memory)
    else:
        tune_collector()  # as `sicdoc load` and the server run
        rates(args.patients, args.runs)


if __name__ == "__main__":
    main()
