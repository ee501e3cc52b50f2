"""Time and peak memory of the QI dashboards on generated populations.

    .venv/bin/python bench/analytics.py                 # 100,000 and 1,000,000 patients, page for 100,000
    .venv/bin/python bench/analytics.py --patients 20000 --runs 2 --no-page
    .venv/bin/python bench/analytics.py --store sqlite:///DIR/sicdoc-100000-seed11.sqlite3 \
                                        --patients 1000000 --no-page

For each size: building every dashboard table (all panels and the metrics report, i.e. every
statistic the dashboard shows) from frames already in memory, median of ``--runs`` runs; the same
with the figures; the peak memory of one more run under tracemalloc; and the process's peak RSS.
The page: the projection rows of the first size go into a fresh SQLite file by bulk insert, and the
dashboard is requested through the app (first view: frames read from the database and built, what
the warm-up before the workers start costs; warm: the same view again; after a write: a patient is
posted and the view asked for again, which shows the last figures while they are rebuilt in the
background; the clinician worklist after a write, which reads the changed table again in the
foreground; new filter: frames cached, dashboard built for another scope). A new filter is also
timed on the frames in memory: a cohort and a start month not asked before, after the
default view has built the frames' derived tables.
See bench/population.py for how the rows are made without going through FHIR. With ``--store``, the
projection tables of a loaded database (one ``bench/scale.py --keep`` left) are read instead, and each
size is made of whole copies of them: records that went through FHIR ingest, as the app reads them.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from datetime import date
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.population import frames_from_rows, plan_rows, tile
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import parse_qi_scope, parse_scope
from sicdoc.codes import COHORTS
from sicdoc.dashboards.build import build_dashboard, build_tables
from sicdoc.dashboards.definitions import load_definitions

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 6, 30)  # the sample generator's cut-off
BLOCK = 100_000


def timed(fn, runs: int) -> tuple[float, float, list[float]]:  # type: ignore[no-untyped-def]
    """Median wall-clock seconds, median CPU seconds of this process, and every wall time.

    CPU time is reported too because on a shared machine wall time mostly measures the neighbours.
    """
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), walls


def peak_mb(fn) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_compute(frames: Frames, board, runs: int) -> None:  # type: ignore[no-untyped-def]
    scope = parse_scope({"as_of": AS_OF.isoformat()}, today=AS_OF, default_months=board.default_period_months)

    # Each run gets frames with nothing derived yet (``replace`` drops the memo), as after a write.
    def tables_only() -> None:
        build_tables(replace(frames), scope, board, "bench")

    tables_only()  # imports and first-use costs out of the way
    tables, tables_cpu, all_tables = timed(tables_only, runs)
    full, full_cpu, _ = timed(lambda: build_dashboard(replace(frames), scope, board, "bench"), runs)
    peak = peak_mb(tables_only)
    # A filter nobody asked for before, on frames whose derived tables the default view has built
    # (what an analyst waits for when choosing a cohort and a start month on the page).
    kept = replace(frames)
    build_dashboard(kept, scope, board, "bench")
    filters = iter(
        parse_qi_scope(
            {
                "as_of": AS_OF.isoformat(),
                "cohort": COHORTS[k % len(COHORTS)],
                "from": f"{2023 + k // 12}-{k % 12 + 1:02d}-01",
            },
            today=AS_OF,
        )
        for k in range(runs)
    )
    new_filter, new_filter_cpu, _ = timed(lambda: build_dashboard(kept, next(filters), board, "bench"), runs)
    runs_text = ", ".join(f"{t:.2f}" for t in all_tables)
    print(
        f"  all dashboard tables and metrics: median {tables:.2f} s wall, {tables_cpu:.2f} s CPU (runs {runs_text})"
    )
    print(f"  with figures:                     median {full:.2f} s wall, {full_cpu:.2f} s CPU")
    print(f"  a new filter, with figures:       median {new_filter:.2f} s wall, {new_filter_cpu:.2f} s CPU")
    print(f"  peak traced memory of one build:  {peak:.0f} MiB; process peak RSS so far {rss_mb():.0f} MiB")


def bench_page(tables: dict, board, runs: int) -> None:  # type: ignore[no-untyped-def]
    from sicdoc.app import create_app
    from sicdoc.migrate import upgrade
    from sicdoc.store.frames import TABLES, load_frames

    folder = Path(tempfile.mkdtemp(prefix="sicdoc-bench-"))
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False})
    start = time.perf_counter()
    with app.extensions["sicdoc.engine"].begin() as conn:
        for name, (model, _) in TABLES.items():
            records = tables[name].astype(object).where(tables[name].notna(), None).to_dict("records")
            for i in range(0, len(records), 50_000):
                conn.execute(insert(model), records[i : i + 50_000])
    print(f"  bulk insert of the projection rows into SQLite: {time.perf_counter() - start:.1f} s")
    from sicdoc.services import accounts

    password = "bench-password"
    clients = {}
    for username, role in (("analyst", "qi_analyst"), ("clinician", "clinician")):
        with app.extensions["sicdoc.sessionmaker"]() as session:
            accounts.create_user(session, username, password, role)
        clients[role] = app.test_client()
        login = clients[role].post("/login", data={"username": username, "password": password})
        assert login.status_code == 302
    query = f"as_of={AS_OF.isoformat()}"

    def get(path: str, role: str = "qi_analyst") -> float:
        start = time.perf_counter()
        answer = clients[role].get(path)
        assert answer.status_code == 200, answer.status_code
        return time.perf_counter() - start

    with app.app_context():
        start = time.perf_counter()
        with app.extensions["sicdoc.engine"].connect() as conn:
            load_frames(conn).normalised()
        read = time.perf_counter() - start
    cpu = time.process_time()
    cold = get(f"/dashboards/?{query}")
    cold_cpu = time.process_time() - cpu
    warm = statistics.median(get(f"/dashboards/?{query}") for _ in range(runs))
    analytics = app.extensions["sicdoc.analytics"]
    after_write, refresh = [], []
    for n in range(runs):
        post_patient(app, n)
        after_write.append(get(f"/dashboards/?{query}"))
        start = time.perf_counter()
        analytics.wait_for_refreshes()
        refresh.append(after_write[-1] + time.perf_counter() - start)
    new_filter = get(f"/dashboards/?{query}&cohort=stroke")
    csv = get(f"/dashboards/headline.csv?{query}")
    api = get(f"/api/metrics?{query}&from=2025-01-01")
    worklist = []
    for n in range(runs, 2 * runs):
        post_patient(app, n)
        worklist.append(get("/worklist", "clinician"))
    worklist_again = get("/worklist", "clinician")
    print(f"  read and normalise every projection row:          {read:.2f} s")
    print(f"  GET /dashboards first view (read frames, build): {cold:.2f} s wall, {cold_cpu:.2f} s CPU")
    print(f"  GET /dashboards again (cached), median of {runs}:   {warm * 1000:.0f} ms")
    print(
        f"  GET /dashboards after a write, median of {runs}:    {statistics.median(after_write) * 1000:.0f} ms"
        f" (last figures; the new ones ready after {statistics.median(refresh):.2f} s)"
    )
    print(f"  GET /dashboards with a new filter (frames cached): {new_filter:.2f} s")
    print(f"  GET /dashboards/headline.csv (cached):            {csv * 1000:.0f} ms")
    print(f"  GET /api/metrics for a new period:                {api:.2f} s")
    print(
        f"  GET /worklist (clinician) after a write, median of {runs}: {statistics.median(worklist):.2f} s;"
        f" again {worklist_again * 1000:.0f} ms"
    )
    app.extensions["sicdoc.engine"].dispose()
    shutil.rmtree(folder, ignore_errors=True)


def post_patient(app, n: int) -> None:  # type: ignore[no-untyped-def]
    """One new Patient through the FHIR transaction service (moves the data version)."""
    from sicdoc.db import session_scope
    from sicdoc.services.bundles import process_transaction
    from sicdoc.services.unit import system_unit

    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:bench", "value": f"p{n}"}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient, "request": {"method": "POST", "url": "Patient"}}],
    }
    with session_scope(app) as session:
        process_transaction(system_unit(session, app.extensions["sicdoc.store"]), bundle)


def stored_tables(url: str) -> dict:
    from sqlalchemy import create_engine

    from sicdoc.store.frames import TABLES, load_tables

    engine = create_engine(url)
    with engine.connect() as conn:
        return load_tables(conn, TABLES)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-page", action="store_true")
    parser.add_argument("--store", metavar="URL", help="tile the projection tables of this database")
    args = parser.parse_args()
    board = load_definitions(ROOT / "dashboards")["qi-overview"]
    start = time.perf_counter()
    if args.store:
        base = stored_tables(args.store)
        block = len(base["patients"])
    else:
        block = min(BLOCK, min(args.patients))
        base = frames_from_rows(plan_rows(block))
    sizes = ", ".join(f"{name} {len(t):,}" for name, t in base.items())
    how = "read" if args.store else "generated"
    print(f"{how} {block:,} patients in {time.perf_counter() - start:.0f} s ({sizes})")
    for n in args.patients:
        copies = max(1, round(n / block))
        tables = base if copies == 1 else tile(base, copies)
        frames = Frames(**tables).normalised()  # the app keeps frames normalised in its cache
        rows = sum(len(t) for t in tables.values())
        print(f"{copies * block:,} patients ({rows:,} projection rows):")
        bench_compute(frames, board, args.runs)
        if n == args.patients[0] and not args.no_page:
            bench_page(tables, board, max(args.runs, 5))
        del frames, tables


if __name__ == "__main__":
    main()
