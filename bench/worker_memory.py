"""Peak memory of a web worker and of the analytics worker under ``sicdoc serve``, local vs shared mode.

    .venv/bin/python bench/worker_memory.py --patients 20000 --runs 3
    .venv/bin/python bench/worker_memory.py --patients 100000 --runs 3
    .venv/bin/python bench/worker_memory.py --patients 1000000 --runs 1 --modes shared

The projection rows of ``--patients`` generated people go into a fresh SQLite file
(bench/population.py), then for each mode and run a real ``sicdoc serve --workers 2`` answers what
an analyst and a clinician ask for: two dashboards, /api/metrics, the worklist and the end-of-life
case review, a write (one new Patient), and the same views again. Before the server stops, the peak
resident set (VmHWM) of each process is read from /proc: the largest of the gunicorn web workers,
the master, and in shared mode the analytics worker it started. Medians of the runs are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analytics import post_patient
from bench.population import insert_population
from bench.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "sicdoc.cli"]
PASSWORD = "bench-password-for-memory"
AS_OF = "2026-06-30"  # the sample generator's cut-off
VIEWS = (
    ("analyst", f"/dashboards/?as_of={AS_OF}"),
    ("analyst", f"/dashboards/goals-and-care?as_of={AS_OF}"),
    ("analyst", f"/api/metrics?as_of={AS_OF}&from=2025-01-01"),
    ("clinician", f"/worklist?as_of={AS_OF}"),
    ("clinician", "/reviews/end-of-life?from=2025-07-01&to=2026-06-30"),
)


def prepare(folder: Path, patients: int) -> str:
    from sicdoc.app import create_app
    from sicdoc.migrate import upgrade
    from sicdoc.services import accounts

    url = f"sqlite:///{folder / 'memory.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    started = time.perf_counter()
    rows = insert_population(app.extensions["sicdoc.engine"], patients)
    print(f"{patients:,} patients: {rows:,} projection rows written in {time.perf_counter() - started:.0f} s")
    with app.extensions["sicdoc.sessionmaker"]() as session:
        accounts.create_user(session, "analyst", PASSWORD, "qi_analyst")
        accounts.create_user(session, "clinician", PASSWORD, "clinician")
    app.extensions["sicdoc.engine"].dispose()
    return url


def write_a_patient(url: str, n: int) -> None:
    """One new Patient through the transaction service, from this process (moves the data version)."""
    from sicdoc.app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": url})
    post_patient(app, n)
    app.extensions["sicdoc.engine"].dispose()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(kib.group(1)) / 1024 if kib else float("nan")


def log_in(base: str, username: str) -> requests.Session:
    http = requests.Session()
    form = http.get(f"{base}/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert token, form[:500]
    resp = http.post(
        f"{base}/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        timeout=30,
        allow_redirects=False,
    )
    assert resp.status_code == 302, resp.text[:500]
    return http


def one_run(url: str, mode: str, n: int) -> dict[str, float]:
    with tempfile.TemporaryFile() as log:
        return serve_and_measure(url, mode, n, log)


def serve_and_measure(url: str, mode: str, n: int, log: IO[bytes]) -> dict[str, float]:
    env = {
        **os.environ,
        "SICDOC_DATABASE_URL": url,
        "SICDOC_DEMO": "true",
        "SICDOC_SECURE_COOKIES": "false",
        "SICDOC_ANALYTICS_MODE": mode,
        "SICDOC_ANALYTICS_WAIT_SECONDS": "300",
        "SICDOC_LOGIN_RATE_LIMIT": "1000/minute",
    }
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the server did not start: {log.read().decode()[-2000:]}")
            time.sleep(0.2)
        sessions = {name: log_in(base, name) for name in ("analyst", "clinician")}
        for round_ in range(2):
            if round_:
                write_a_patient(url, n)
            for _ in range(2):  # two views of each, so both web workers are likely to serve each
                for who, path in VIEWS:
                    resp = sessions[who].get(f"{base}{path}", timeout=600)
                    assert resp.status_code == 200, (path, resp.status_code)
        kids = children(server.pid)
        analytics = [p for p in kids if b"analytics-worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
        web = [p for p in kids if p not in analytics]
        return {
            "web worker": max(peak_mib(p) for p in web),
            "analytics worker": max((peak_mib(p) for p in analytics), default=float("nan")),
            "master": peak_mib(server.pid),
        }
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=("local", "shared"),
        default=["local", "shared"],
        help="local mode at a million patients needs a copy of every frame per web worker",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sicdoc-memory-"))
    try:
        url = prepare(folder, args.patients)
        figures: dict[str, dict[str, list[float]]] = {}
        for run in range(args.runs):
            for mode in args.modes:
                measured = one_run(url, mode, run * 2 + (mode == "shared"))
                for name, value in measured.items():
                    figures.setdefault(mode, {}).setdefault(name, []).append(value)
                shown = ", ".join(f"{k} {v:,.0f} MiB" for k, v in measured.items() if v == v)  # not NaN
                print(f"  run {run + 1} {mode:>6}: {shown}")
        print(f"peak RSS at {args.patients:,} patients, median of {args.runs} runs:")
        for mode, values in figures.items():
            medians = {name: statistics.median(v) for name, v in values.items()}
            shown = ", ".join(f"{name} {m:,.0f} MiB" for name, m in medians.items() if m == m)  # not NaN
            print(f"  {mode:>6} mode: {shown}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
