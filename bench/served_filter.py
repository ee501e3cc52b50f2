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
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import free_port
from bench.worker_memory import AS_OF, CLI, ROOT, log_in, prepare
from sicdoc.codes import COHORTS

WAIT_SECONDS = 900


def served(url: str, log: Path) -> tuple[subprocess.Popen, str]:
    env = {
        **os.environ,
        "SICDOC_DATABASE_URL": url,
        "SICDOC_DEMO": "true",
        "SICDOC_SECURE_COOKIES": "false",
        "SICDOC_ANALYTICS_MODE": "shared",
        "SICDOC_ANALYTICS_WAIT_SECONDS": "300",
    }
    port = free_port()
    with log.open("wb") as errors:
        server = subprocess.Popen(
            [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                return server, base
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"the server did not start: {log.read_text()[-2000:]}")


def seconds_to_page(http: requests.Session, url: str) -> float:
    """Seconds until ``url`` answers 200, asking again 0.2 s after each 503 (still being built)."""
    started = time.perf_counter()
    while True:
        answer = http.get(url, timeout=WAIT_SECONDS)
        if answer.status_code != 503 or time.perf_counter() - started > WAIT_SECONDS:
            break
        time.sleep(0.2)
    if answer.status_code != 200:
        raise SystemExit(f"GET {url}: {answer.status_code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--filters", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sicdoc-served-"))
    try:
        url = prepare(folder, args.patients)
        server, base = served(url, folder / "serve.log")
        try:
            http = log_in(base, "analyst")
            page = f"{base}/dashboards/?as_of={AS_OF}"
            print(f"  first view: {seconds_to_page(http, page):.1f} s", flush=True)
            print(f"  built:      {seconds_to_page(http, page) * 1000:.0f} ms", flush=True)
            times = []
            for k in range(args.filters):
                query = f"&cohort={COHORTS[k % len(COHORTS)]}&from={2023 + k // 12}-{k % 12 + 1:02d}-01"
                times.append(seconds_to_page(http, page + query))
                print(f"  new filter {query[1:]}: {times[-1]:.2f} s", flush=True)
            print(f"a new filter at {args.patients:,} patients: median {statistics.median(times):.2f} s")
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
