"""A new QI dashboard filter as an analyst waits for it from ``sicdoc serve`` with shared analytics.

    .venv/bin/python bench/served_filter.py --patients 1000000 --filters 7

The projection rows of ``--patients`` generated people go into a fresh SQLite file (bench/population.py,
as bench/worker_memory.py makes them: minutes for a million, where a load through FHIR takes an hour),
then ``sicdoc serve --workers 2`` with one analytics worker serves an analyst logged in through the form.
Timed over HTTP, each asked again after every 503 until it is served: the first view (the worker reads
every projection row and builds the default dashboard), the same view built, and ``--filters`` filters
not asked before (a cohort and a start month each). Prints each and the median of the new filters.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_clients import Person, serving
from bench.worker_memory import AS_OF, PASSWORD, prepare
from sicdoc.codes import COHORTS

SHARED = {"SICDOC_ANALYTICS_MODE": "shared", "SICDOC_ANALYTICS_WAIT_SECONDS": "300"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--filters", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sicdoc-served-"))
    try:
        url = prepare(folder, args.patients)
        with serving(url, 2, SHARED, folder / "serve.log") as server:
            analyst = Person(server.base, "analyst", PASSWORD)
            page = f"/dashboards/?as_of={AS_OF}"
            print(f"  first view: {analyst.get(page, until_ready=True) / 1000:.1f} s", flush=True)
            print(f"  built:      {analyst.get(page, until_ready=True):.0f} ms", flush=True)
            times = []
            for k in range(args.filters):
                query = f"&cohort={COHORTS[k % len(COHORTS)]}&from={2023 + k // 12}-{k % 12 + 1:02d}-01"
                times.append(analyst.get(page + query, until_ready=True) / 1000)
                print(f"  new filter {query[1:]}: {times[-1]:.2f} s", flush=True)
            print(f"a new filter at {args.patients:,} patients: median {statistics.median(times):.2f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
