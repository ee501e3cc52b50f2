"""Scale on the real store: ``sicdoc load`` of N generated patients, then the served app over HTTP.

    .venv/bin/python bench/scale.py [--patients 100000 | --million] [--backend sqlite|postgresql|both]
                                    [--runs 5] [--jobs 1] [--workers 2] [--analytics local|shared]
                                    [--keep DIR [--reuse]] [--discard-population] [--json FILE]

For each backend: the population (``sicdoc sample``, one patient per NDJSON bundle, generated once per
(N, seed) and kept, see bench/sicdoc_cli.py) goes through ``sicdoc migrate`` and ``sicdoc load`` into
a fresh SQLite file or a fresh PostgreSQL database: resources/s and patients/s of the load command's
wall clock, and its peak RSS. Then ``sicdoc serve`` (gunicorn, on a free port of 127.0.0.1) serves it,
with a clinician, a QI analyst (both logged in through the login form, as a browser does) and a FHIR
client (client credentials), all new, and the figures are taken over HTTP:

- the first views of the QI dashboard and of the clinician worklist, as soon as the server listens
  (with ``--analytics shared``, the wait for the analytics worker's first read of the store); what
  follows is measured once they are served, on a server no longer reading its store;
- find-a-patient by family name, whole MRN and birth date, the patient page, and the FHIR searches
  ``Patient?birthdate=ge``, ``Encounter?patient=``, ``Condition?code=`` (the commonest stroke, heart
  failure and cancer codes in turn), ``Observation?patient=&_count=50`` and ``Patient/$everything``:
  each with 1 and with 4 concurrent clients (threads, each with its own login or token), every request
  about another patient, --runs requests per client; p50 and p95 in ms;
- the default QI dashboard built (median of --runs); the dashboard with a filter
  not asked before (a cohort and a start month), median of --runs new ones;
- after a write (a FHIR transaction: a patient with a stroke), the clinician worklist, and the same
  again, medians of --runs;
- the peak RSS (VmHWM) of each server process (the gunicorn master, the web workers and, with
  ``--analytics shared``, the analytics worker), the web workers' also after the searches and pages
  alone, and their RSS at the end (what they hold, without a peak's transients), and of the loader
  (with its --jobs workers).

``--analytics`` sets SICDOC_ANALYTICS_MODE (local: each web worker builds its own figures, the default
dashboard before the workers start; shared: one analytics worker builds them for all). A page answered
503 while the shared worker builds is asked again, and timed until it is served.

``--keep DIR`` keeps the loaded databases (SQLite ``DIR/sicdoc-N-seedS.sqlite3``, PostgreSQL database
``sicdoc_scale_N_S``) with a note of their load figures; with ``--reuse`` a later run measures a kept
database instead of loading again (each run adds its accounts and written patients to it; the analytics
results earlier runs built are dropped first, so the first view and the new filters are built again).
``--discard-population`` loads the population one NDJSON file at a time and deletes each once loaded,
for a disk without room for both (a million patients take about 14 GB as NDJSON and about 62 GB in
SQLite); it is generated again when next needed. On PostgreSQL a ``VACUUM (ANALYZE)`` of the whole
database follows, timed with the load, as one ``sicdoc load`` of every file would end. The table is
printed; ``--json FILE`` also writes every figure with the date, the machine and the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.databases import server_settings, wal_counters
from bench.http_clients import Client, Clients, concurrent, make_clients, serving, spread
from bench.scale_store import Store, forget_results, load, load_discarding, pick_people, store_for
from bench.sicdoc_cli import CACHE, population, sicdoc
from sicdoc.codes import COHORTS
from sicdoc.config import Config

CONCURRENCY = (1, 4)

# name: (who asks, path); the fields come from ``pick_people``.
PROBES: dict[str, tuple[str, str]] = {
    "find by name": ("clinician", "/patients?q={family}"),
    "find by MRN": ("clinician", "/patients?q={mrn}"),
    "find by birth date": ("clinician", "/patients?q={born_mdy}"),
    "patient page": ("clinician", "/patients/{id}"),
    "Patient?birthdate=ge": ("fhir", "/fhir/Patient?birthdate=ge{born}"),
    "Encounter?patient=": ("fhir", "/fhir/Encounter?patient={id}"),
    "Condition?code=": ("fhir", "/fhir/Condition?code={code}"),
    "Observation?patient=&_count=50": ("fhir", "/fhir/Observation?patient={id}&_count=50"),
    "Patient/$everything": ("fhir", "/fhir/Patient/{id}/$everything"),
}


# -- measuring --------------------------------------------------------------------------------


def measure_probes(clients: Clients, people: list[dict[str, str]], runs: int) -> dict[str, Any]:
    """Every probe at each concurrency, each request about another patient; p50/p95 in ms."""
    figures: dict[str, Any] = {}
    for name, (who, template) in PROBES.items():
        pool: list[Client] = list(clients.clinicians if who == "clinician" else clients.fhir)
        # Warm-up by every client at once, so that each web worker has served it: a patient not measured.
        concurrent(pool, [[template.format(**people[0])] for _ in pool])
        figures[name] = {}
        first = 1  # each concurrency asks about patients of its own
        for n in CONCURRENCY:
            paths = [[template.format(**people[first + c * runs + k]) for k in range(runs)] for c in range(n)]
            figures[name][str(n)] = spread(concurrent(pool[:n], paths))
            first += n * runs
        one, many = figures[name]["1"], figures[name][str(CONCURRENCY[-1])]
        print(
            f"  {name:<32} {one['p50']:>9.1f} {one['p95']:>9.1f} {many['p50']:>9.1f} {many['p95']:>9.1f}",
            flush=True,
        )
    return figures


def new_scopes(runs: int) -> Iterator[str]:
    """Dashboard filters not asked for before in this server's life: a cohort and a start month."""
    for k in range(runs):
        month = date(2023 + k // 12 % 3, 1 + k % 12, 1)
        yield f"?cohort={COHORTS[k % len(COHORTS)]}&from={month.isoformat()}"


def stroke_admission(k: int) -> dict[str, Any]:
    """A transaction: a new patient with a stroke, which changes what the worklist shows."""
    patient, today = f"urn:uuid:{uuid.uuid4()}", date.today().isoformat()
    icd10 = "http://hl7.org/fhir/sid/icd-10-cm"
    resources = [
        {
            "fullUrl": patient,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:sicdoc-bench", "value": uuid.uuid4().hex}],
                "name": [{"family": "Scale", "given": [f"Run{k}"]}],
                "gender": "female",
                "birthDate": "1950-01-02",
            },
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "resource": {
                "resourceType": "Condition",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "code": {"coding": [{"system": icd10, "code": "I63.9"}]},
                "subject": {"reference": patient},
                "onsetDateTime": today,
                "recordedDate": today,
            },
            "request": {"method": "POST", "url": "Condition"},
        },
    ]
    return {"resourceType": "Bundle", "type": "transaction", "entry": resources}


def first_views(clients: Clients) -> dict[str, Any]:
    """The QI dashboard's and the worklist's first views after the server starts, in ms: with
    ``--analytics shared`` the wait for the analytics worker's first read of every patient's rows
    (the default dashboard is built before the server listens in local mode). Taken before the
    probes, so that those measure a server at work and not one still reading its store."""
    figures = {
        "dashboard_first_ms": round(clients.analyst.get("/dashboards/", until_ready=True), 1),
        "worklist_first_ms": round(clients.clinicians[0].get("/worklist", until_ready=True), 1),
    }
    for name, value in figures.items():
        print(f"  {name:<32} {value:>9.1f}", flush=True)
    return figures


def measure_qi(clients: Clients, runs: int) -> dict[str, Any]:
    """The dashboard built, with a new filter, and the worklist after a write; medians in ms."""
    analyst, clinician, fhir = clients.analyst, clients.clinicians[0], clients.fhir[0]
    built = [analyst.get("/dashboards/") for _ in range(runs)]
    filtered = [analyst.get("/dashboards/" + query, until_ready=True) for query in new_scopes(runs)]
    fhir.transaction(stroke_admission(-1))  # the first write of a worker imports the FHIR models
    writes, after, again = [], [], []
    for k in range(runs):
        writes.append(fhir.transaction(stroke_admission(k)))
        after.append(clinician.get("/worklist", until_ready=True))
        again.append(clinician.get("/worklist"))
    figures = {
        "dashboard_built_ms": round(statistics.median(built), 1),
        "dashboard_new_filter_ms": round(statistics.median(filtered), 1),
        "fhir_transaction_ms": round(statistics.median(writes), 1),
        "worklist_after_write_ms": round(statistics.median(after), 1),
        "worklist_again_ms": round(statistics.median(again), 1),
    }
    for name, value in figures.items():
        print(f"  {name:<32} {value:>9.1f}", flush=True)
    return figures


# -- the analytics mode -----------------------------------------------------------------------


def analytics_setting(asked: str) -> tuple[str, dict[str, str]]:
    """The analytics mode the server runs with, and its setting when this version has one."""
    if hasattr(Config, "ANALYTICS_MODE"):
        return asked, {"SICDOC_ANALYTICS_MODE": asked}
    if asked != "local":
        print(f"SICDOC_ANALYTICS_MODE is not a setting of this version: --analytics {asked} runs local")
    return "local", {}


# -- one backend, the whole run ---------------------------------------------------------------


def run_backend(store: Store, args: argparse.Namespace, patients: int, scratch: Path) -> dict[str, Any]:
    print(f"{store.backend}: {store.url}", flush=True)
    figures: dict[str, Any] = {"backend": store.backend}
    reused = store.loaded() if args.reuse else None
    if reused is None:
        store.fresh()
        started = time.perf_counter()
        sicdoc(store.url, "migrate")
        figures["migrate_s"] = round(time.perf_counter() - started, 1)
        loading = load_discarding if args.discard_population else load
        # Generated (or found in the cache) only when a store is loaded: a kept one needs none.
        folder = population(patients, args.seed, args.cache)
        before = wal_counters() if store.pg_name else None
        figures["load"] = loading(store, folder, args.jobs)
        if before is not None:  # what the server ran with, and what the load cost its log
            after = wal_counters()
            figures["load"]["server"] = {
                "settings": server_settings(),
                **{key: after[key] - before[key] for key in after},
            }
        if store.note:
            store.note.write_text(json.dumps(figures["load"], indent=1))
    else:
        sicdoc(store.url, "migrate")  # a kept database is brought up to the current schema
        figures["load"] = {**reused, "reused": True}
        figures["results_dropped"] = forget_results(store.url)
    loaded = figures["load"]
    print(
        f"  load{' (kept from before)' if reused else ''}: {loaded['patients']:,} patients, "
        f"{loaded['resources']:,} resources in {loaded['seconds']:,.1f} s = {loaded['resources_per_s']:,.0f} "
        f"resources/s, {loaded['patients_per_s']:,.0f} patients/s; peak RSS {loaded['peak_rss_mib']:,.0f} MiB",
        flush=True,
    )
    if server := loaded.get("server"):
        print(
            f"  server: {', '.join(f'{k} {v}' for k, v in server['settings'].items())}; the load wrote "
            f"{server['wal_bytes'] / 2**30:,.1f} GiB of log, {server['wal_fpi']:,} full-page images, "
            f"{server['checkpoints']} checkpoints",
            flush=True,
        )
    people = pick_people(store.url, sum(CONCURRENCY) * args.runs + 1)
    mode, env = analytics_setting(args.analytics)
    figures["analytics"] = mode
    with serving(store.url, args.workers, env, scratch / f"serve-{store.backend}.log") as server:
        figures["server_start_s"] = round(server.started_s, 1)
        built = " (default dashboard built)" if mode == "local" else ""
        print(f"  server up in {server.started_s:,.1f} s{built}", flush=True)
        clients = make_clients(server.base, store.url, max(CONCURRENCY))
        first = first_views(clients)
        print(f"  {'ms':<32} {'1 p50':>9} {'1 p95':>9} {'4 p50':>9} {'4 p95':>9}", flush=True)
        figures["requests"] = measure_probes(clients, people, args.runs)
        # Taken between the two, so that what the searches and what the QI views cost can be told apart.
        figures["server_peak_rss_after_searches_mib"] = server.peaks()
        figures["qi"] = first | measure_qi(clients, args.runs)
        figures["server_peak_rss_mib"] = server.peaks()
        figures["server_rss_at_end_mib"] = server.resident()
    print(f"  server peak RSS MiB: {figures['server_peak_rss_mib']}", flush=True)
    print(f"  server RSS at the end MiB: {figures['server_rss_at_end_mib']}", flush=True)
    return figures


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return {
        "cpu": model.group(1).strip() if model else platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
    }


QI_LABELS = {
    "dashboard_first_ms": "QI dashboard, first view ms",
    "worklist_first_ms": "worklist, first view ms",
    "dashboard_built_ms": "QI dashboard (built) ms",
    "dashboard_new_filter_ms": "QI dashboard, new filter ms",
    "fhir_transaction_ms": "FHIR transaction (write) ms",
    "worklist_after_write_ms": "worklist after a write ms",
    "worklist_again_ms": "worklist again ms",
}


def table(results: list[dict[str, Any]]) -> str:
    """The figures side by side, one column per backend."""

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> tuple[str, list[str]]:
        return label, [cell(r) for r in results]

    rows = [
        row("load resources/s", lambda r: f"{r['load']['resources_per_s']:,.0f}"),
        row("load patients/s", lambda r: f"{r['load']['patients_per_s']:,.0f}"),
        row("load wall s", lambda r: f"{r['load']['seconds']:,.0f}"),
        row("loader peak RSS MiB", lambda r: f"{r['load']['peak_rss_mib']:,.0f}"),
        row("server start s", lambda r: f"{r['server_start_s']:,.1f}"),
    ]
    for name in PROBES:
        for n in map(str, CONCURRENCY):
            rows.append(
                (
                    f"{name} ×{n} p50/p95 ms",
                    [
                        f"{r['requests'][name][n]['p50']:,.0f} / {r['requests'][name][n]['p95']:,.0f}"
                        for r in results
                    ],
                )
            )
    rows += [(label, [f"{r['qi'][key]:,.0f}" for r in results]) for key, label in QI_LABELS.items()]
    for kind, key, label in (
        ("master", "server_peak_rss_mib", "master peak RSS MiB"),
        ("web worker", "server_peak_rss_after_searches_mib", "web worker peak RSS MiB, searches"),
        ("web worker", "server_peak_rss_mib", "web worker peak RSS MiB, then QI"),
        ("web worker", "server_rss_at_end_mib", "web worker RSS MiB at the end"),
        ("analytics worker", "server_peak_rss_mib", "analytics worker peak RSS MiB"),
    ):
        peaks = [[mib for name, mib in r.get(key, {}).items() if name.startswith(kind)] for r in results]
        rows.append((label, [", ".join(f"{mib:,.0f}" for mib in p) or "-" for p in peaks]))
    width = max(len(label) for label, _ in rows)
    lines = [f"{'':<{width}}  " + "  ".join(f"{r['backend']:>16}" for r in results)]
    lines += [f"{label:<{width}}  " + "  ".join(f"{cell:>16}" for cell in cells) for label, cells in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 patients")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--runs", type=int, default=5, help="requests per client and figure")
    parser.add_argument("--jobs", type=int, default=1, help="sicdoc load --jobs")
    parser.add_argument("--workers", type=int, default=2, help="sicdoc serve --workers")
    parser.add_argument("--analytics", choices=("local", "shared"), default="local")
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep the loaded databases (SQLite files in DIR)"
    )
    parser.add_argument("--reuse", action="store_true", help="measure the databases --keep kept, if loaded")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated populations are kept")
    parser.add_argument(
        "--discard-population",
        action="store_true",
        help="load the population a file at a time and delete each once loaded (a disk without room for both)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here as JSON")
    args = parser.parse_args()
    patients = 1_000_000 if args.million else args.patients
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")
    if args.discard_population and args.backend == "both":
        parser.error("--discard-population loads one backend: name it with --backend")
    if patients < 1 or args.runs < 1:
        parser.error("--patients and --runs must be at least 1")
    if args.keep:
        args.keep = args.keep.resolve()
        args.keep.mkdir(parents=True, exist_ok=True)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "patients": patients,
        "seed": args.seed,
        "runs": args.runs,
        "workers": args.workers,
        "jobs": args.jobs,
        "results": [],
    }
    with tempfile.TemporaryDirectory(prefix="sicdoc-scale-") as tmp:
        for backend in backends:
            store = store_for(backend, patients, args.seed, args.keep, Path(tmp))
            try:
                report["results"].append(run_backend(store, args, patients, Path(tmp)))
            finally:
                if not args.keep:
                    store.drop()
    print(
        f"\n{patients:,} patients, {args.runs} runs, {report['machine']['cpu']}, {report['machine']['cores']} cores"
    )
    print(table(report["results"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
