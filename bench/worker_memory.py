"""Peak memory of a web worker and of the analytics worker under ``sicdoc serve``, local vs shared mode.

    .venv/bin/python bench/worker_memory.py --patients 20000 --runs 3
    .venv/bin/python bench/worker_memory.py --patients 100000 --runs 3
    .venv/bin/python bench/worker_memory.py --patients 1000000 --runs 1 --modes shared

The projection rows of ``--patients`` generated people go into a fresh SQLite file
(bench/population.py), then for each mode and run a real ``sicdoc serve --workers 2`` answers what
an analyst and a clinician ask for: two dashboards, /api/metrics, the worklist and the end-of-life
case review, a write (one new Patient, a FHIR transaction through the server, as an EHR sends it),
and the same views again. Before the server stops, the peak resident set (VmHWM) of each process is
read from /proc: the largest of the gunicorn web workers, the master, and in shared mode the analytics
worker it started. Medians of the runs are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_clients import Server, make_clients, serving
from bench.population import insert_population

AS_OF = "2026-06-30"  # the sample generator's cut-off
VIEWS = (
    ("analyst", f"/dashboards/?as_of={AS_OF}"),
    ("analyst", f"/dashboards/goals-and-care?as_of={AS_OF}"),
    ("analyst", f"/api/metrics?as_of={AS_OF}&from=2025-01-01"),
    ("clinician", f"/worklist?as_of={AS_OF}"),
    ("clinician", "/reviews/end-of-life?from=2025-07-01&to=2026-06-30"),
)


def prepare(path: Path, patients: int) -> str:
    """The URL of a SQLite file of the projection rows of ``patients`` generated people, made now
    unless ``path`` exists (kept from an earlier run with ``--keep``)."""
    from sicdoc.app import create_app
    from sicdoc.migrate import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    if path.stat().st_size and _patients(url) >= patients:
        print(f"{patients:,} patients: the store {path} kept from before")
        return url
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    started = time.perf_counter()
    rows = insert_population(app.extensions["sicdoc.engine"], patients)
    print(f"{patients:,} patients: {rows:,} projection rows written in {time.perf_counter() - started:.0f} s")
    app.extensions["sicdoc.engine"].dispose()
    return url


def _patients(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from sicdoc.models import PatientFact

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(PatientFact)) or 0)
    finally:
        engine.dispose()


def new_patient(n: int) -> dict[str, Any]:
    """A transaction of one new Patient, as an EHR's interface would send it (moves the data version)."""
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:bench", "value": f"memory-{n}"}]}
    entry = {"resource": patient, "request": {"method": "POST", "url": "Patient"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}


def one_run(url: str, mode: str, n: int, folder: Path, steps: bool = False) -> dict[str, float]:
    """Peak RSS (MiB) of each kind of process of one ``sicdoc serve`` that answered the views twice,
    took a write through its FHIR API, and answered them twice again; with ``steps``, what each web
    worker holds after each request is printed too."""
    env = {"SICDOC_ANALYTICS_MODE": mode, "SICDOC_ANALYTICS_WAIT_SECONDS": "300"}
    with serving(url, 2, env, folder / f"serve-{mode}-{n}.log") as server:
        clients = make_clients(server.base, url, 1)
        people = {"analyst": clients.analyst, "clinician": clients.clinicians[0]}
        show = (lambda label: _show(server, label)) if steps else (lambda label: None)
        show("logged in")
        for round_ in range(2):
            if round_:
                clients.fhir[0].transaction(new_patient(n))
                show("a token, then a FHIR transaction")
            for _ in range(2):  # two views of each, so both web workers are likely to serve each
                for who, path in VIEWS:
                    people[who].get(path, until_ready=True)
                    show(path)
        peaks = server.peaks()
    web = [mib for name, mib in peaks.items() if name.startswith("web worker")]
    return {
        "web worker": max(web),
        "analytics worker": peaks.get("analytics worker", float("nan")),
        "master": peaks["master"],
    }


def _show(server: Server, label: str) -> None:
    now, peak = server.resident(), server.peaks()
    web = sorted(name for name in now if name.startswith("web worker"))
    cells = ", ".join(f"{now[name]:,.0f} ({peak.get(name, float('nan')):,.0f})" for name in web)
    print(f"    {label[:56]:<56} web workers now (peak): {cells} MiB", flush=True)


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
    parser.add_argument(
        "--steps", action="store_true", help="print what each web worker holds after each request"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="the population's SQLite file: made if missing, used as it is if not, and kept "
        "(runs of two versions of the code then measure one store)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="sicdoc-memory-"))
    try:
        url = prepare(args.keep or folder / "memory.sqlite3", args.patients)
        figures: dict[str, dict[str, list[float]]] = {}
        for run in range(args.runs):
            for mode in args.modes:
                measured = one_run(url, mode, run * 2 + (mode == "shared"), folder, args.steps)
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
