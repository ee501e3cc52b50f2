"""Ingest throughput: Synthea-like transaction bundles through the same service as POST /fhir.

Each run starts from an empty database built by the migrations and loads every bundle under
tests/fixtures/synthea (3,673 entries) once; the figure is entries per second, median of the runs.

    .venv/bin/python bench/ingest.py [--runs 5] [--backend sqlite|postgresql|both] [--default-gc]

The process runs with the garbage-collector settings the server and ``sicdoc load`` use
(sicdoc/collector.py); ``--default-gc`` keeps CPython's defaults, for comparison.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.databases import create_postgres, drop_postgres, sqlite_url
from sicdoc.app import create_app
from sicdoc.collector import tune_collector
from sicdoc.db import session_scope
from sicdoc.fhir.validation import validate_resource
from sicdoc.migrate import upgrade
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT / "tests" / "fixtures" / "synthea"

# The names bench/load.py imports the fresh databases by.
_sqlite_url, _postgres_url, _drop = sqlite_url, create_postgres, drop_postgres


def _bundles() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(SYNTHEA.glob("*.json"))]


def _run(url: str, bundles: list[dict]) -> float:
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    store = app.extensions["sicdoc.store"]
    entries = sum(len(b["entry"]) for b in bundles)
    started = time.perf_counter()
    with session_scope(app) as session:
        for bundle in bundles:
            process_transaction(system_unit(session, store), bundle)
    elapsed = time.perf_counter() - started
    app.extensions["sicdoc.engine"].dispose()
    return entries / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's collector settings")
    args = parser.parse_args()
    if not args.default_gc:
        tune_collector()
    bundles = _bundles()
    # Warm the model classes once so the first run does not pay for imports.
    for entry in bundles[0]["entry"][:50]:
        validate_resource(entry["resource"])
    entries = sum(len(b["entry"]) for b in bundles)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    for backend in backends:
        rates = []
        for _ in range(args.runs):
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    rates.append(_run(sqlite_url(Path(tmp)), [json.loads(json.dumps(b)) for b in bundles]))
            else:
                url, name = create_postgres()
                try:
                    rates.append(_run(url, [json.loads(json.dumps(b)) for b in bundles]))
                finally:
                    drop_postgres(name)
        print(
            f"ingest {backend:<10} ({'default' if args.default_gc else 'tuned'} gc) {entries} entries in {len(bundles)} transaction bundles: "
            f"median {statistics.median(rates):,.0f} entries/s "
            f"(runs: {', '.join(f'{r:,.0f}' for r in rates)})"
        )


if __name__ == "__main__":
    main()
