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

- find-a-patient by family name, whole MRN and birth date, the patient page, and the FHIR searches
  ``Patient?birthdate=ge``, ``Encounter?patient=``, ``Condition?code=`` (the commonest stroke, heart
  failure and cancer codes in turn), ``Observation?patient=&_count=50`` and ``Patient/$everything``:
  each with 1 and with 4 concurrent clients (threads, each with its own login or token), every request
  about another patient, --runs requests per client; p50 and p95 in ms;
- the default QI dashboard: its first view, then built (median of --runs); the dashboard with a filter
  not asked before (a cohort and a start month), median of --runs new ones;
- after a write (a FHIR transaction: a patient with a stroke), the clinician worklist, and the same
  again, medians of --runs;
- the peak RSS (VmHWM) of each server process (the gunicorn master, the web workers and, with
  ``--analytics shared``, the analytics worker) and of the loader (with its --jobs workers).

``--analytics`` sets SICDOC_ANALYTICS_MODE (local: each web worker builds its own figures, the default
dashboard before the workers start; shared: one analytics worker builds them for all). A page answered
503 while the shared worker builds is asked again, and timed until it is served.

``--keep DIR`` keeps the loaded databases (SQLite ``DIR/sicdoc-N-seedS.sqlite3``, PostgreSQL database
``sicdoc_scale_N_S``) with a note of their load figures; with ``--reuse`` a later run measures a kept
database instead of loading again (each run adds its accounts and written patients to it).
``--discard-population`` loads the population one NDJSON file at a time and deletes each once loaded,
for a disk without room for both (a million patients take about 14 GB as NDJSON and about 62 GB in
SQLite); it is generated again when next needed. The table
is printed; ``--json FILE`` also writes every figure with the date, the machine and the settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.databases import create_postgres, drop_postgres, postgres_exists, postgres_url, sqlite_url
from bench.sicdoc_cli import CACHE, SICDOC, environment, population, sicdoc
from sicdoc.codes import COHORTS, MRN_SYSTEM
from sicdoc.config import Config
from sicdoc.models import Resource
from sicdoc.models.projections import DiagnosisFact

CONCURRENCY = (1, 4)
TIMEOUT = 900  # seconds one request may take before the run stops
FHIR_JSON = "application/fhir+json"

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


# -- processes and their peak memory ----------------------------------------------------------


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def process_tree(root: int) -> list[int]:
    """``root`` and every process under it, parents first."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree = [root]
    for pid in tree:
        tree.extend(sorted(children.get(pid, [])))
    return tree


def peak_mib(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MiB; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


class PeakWatch:
    """Polls the VmHWM of a process tree while it runs, keeping the last value seen for each process."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        self.root, self.every = root, every
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            for pid in process_tree(self.root):
                peak = peak_mib(pid)
                if peak is not None:
                    self.peaks[pid] = peak

    def stop(self) -> dict[int, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks


# -- the databases ----------------------------------------------------------------------------


@dataclass
class Store:
    """One database to measure: its URL, how to make it afresh and drop it, and where a kept one's
    load figures are noted."""

    backend: str
    url: str
    note: Path | None  # the load figures of a kept database; None: not kept
    sqlite_file: Path | None = None
    pg_name: str | None = None

    def fresh(self) -> None:
        self.drop()
        if self.pg_name:
            create_postgres(self.pg_name)

    def drop(self) -> None:
        if self.note:
            self.note.unlink(missing_ok=True)
        if self.sqlite_file:
            for path in self.sqlite_file.parent.glob(self.sqlite_file.name + "*"):  # and -wal, -shm
                path.unlink()
        if self.pg_name:
            drop_postgres(self.pg_name)

    def loaded(self) -> dict[str, Any] | None:
        """The load figures of a kept database still there, else None."""
        if not (self.note and self.note.exists()):
            return None
        there = self.sqlite_file.exists() if self.sqlite_file else postgres_exists(str(self.pg_name))
        return json.loads(self.note.read_text()) if there else None


def store_for(backend: str, patients: int, seed: int, keep: Path | None, scratch: Path) -> Store:
    """The database of a backend: named for (N, seed) in ``keep``, else a new one in ``scratch``."""
    tag = f"{patients}_{seed}" if keep else uuid.uuid4().hex[:8]
    note = keep / f"sicdoc-{patients}-seed{seed}-{backend}.loaded.json" if keep else None
    if backend == "sqlite":
        file = keep / f"sicdoc-{patients}-seed{seed}.sqlite3" if keep else scratch / f"scale-{tag}.sqlite3"
        return Store(backend, sqlite_url(file.parent, file.name), note, sqlite_file=file)
    return Store(backend, postgres_url(f"sicdoc_scale_{tag}"), note, pg_name=f"sicdoc_scale_{tag}")


# -- loading ----------------------------------------------------------------------------------

_REFUSAL = re.compile(r"^rejected .+$", re.MULTILINE)
_LOADED = re.compile(r"loaded ([\d,]+) bundles \(([\d,]+) resources\).*?([\d,]+) rejected; ([\d,]+) patients")


def load(store: Store, folder: Path, jobs: int) -> dict[str, Any]:
    """``sicdoc load`` of the population into the migrated store: rates, peak RSS, what it reported."""
    with tempfile.TemporaryFile("w+") as out:
        command = [str(SICDOC), "--database-url", store.url, "load", "--quiet", "--jobs", str(jobs)]
        started = time.perf_counter()
        proc = subprocess.Popen([*command, str(folder)], env=environment(), stdout=out, stderr=out, text=True)
        watch = PeakWatch(proc.pid)
        # wait4 reaps it with its resource usage: ru_maxrss is the largest of it and its workers.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        peaks = watch.stop()
        out.seek(0)
        printed = out.read()
    match = _LOADED.search(printed)
    if proc.returncode not in (0, 1):  # 1: some bundles were rejected, and listed
        raise SystemExit(f"sicdoc load failed ({proc.returncode}):\n{printed[-3000:]}")
    if match:
        bundles, resources, rejected, patients = (int(g.replace(",", "")) for g in match.groups())
    else:  # the summary line reads differently: count what is stored
        bundles, rejected = -1, printed.count("rejected ")
        resources, patients = stored_counts(store.url)
    workers = sorted((mib for pid, mib in peaks.items() if pid != proc.pid), reverse=True)
    return {
        "seconds": round(seconds, 1),
        "bundles": bundles,
        "resources": resources,
        "patients": patients,
        "rejected": rejected,
        "resources_per_s": round(resources / seconds, 1),
        "patients_per_s": round(patients / seconds, 1),
        "jobs": jobs,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "job_peak_rss_mib": [round(mib, 1) for mib in workers],
        # What the loader said of the first refused bundles (``rejected file:line: reason``), kept.
        "rejected_reasons": _REFUSAL.findall(printed)[:50],
    }


def load_discarding(store: Store, folder: Path, jobs: int) -> dict[str, Any]:
    """``load`` one NDJSON file of the population at a time, deleting each once it is in: for a disk
    without room for both the population and the loaded database (a million patients on SQLite). The
    figures are the sums over the files (rates over the summed seconds; peak RSS the largest); the
    population is generated again when next asked for."""
    parts = [load(store, file, jobs) for file in _discarded(sorted(folder.glob("*.ndjson")))]
    folder.rmdir()
    total: dict[str, Any] = {key: sum(part[key] for part in parts) for key in _SUMMED}
    seconds = total["seconds"] = round(total["seconds"], 1)
    return {
        **total,
        "resources_per_s": round(total["resources"] / seconds, 1),
        "patients_per_s": round(total["patients"] / seconds, 1),
        "jobs": jobs,
        "peak_rss_mib": max(part["peak_rss_mib"] for part in parts),
        "job_peak_rss_mib": max((part["job_peak_rss_mib"] for part in parts), default=[]),
        "rejected_reasons": [reason for part in parts for reason in part["rejected_reasons"]][:50],
        "files": len(parts),
    }


_SUMMED = ("seconds", "bundles", "resources", "patients", "rejected")


def _discarded(files: list[Path]) -> Iterator[Path]:
    for file in files:
        yield file
        file.unlink()


def stored_counts(url: str) -> tuple[int, int]:
    """(resources, patients) stored."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            resources = conn.scalar(select(func.count()).select_from(Resource)) or 0
            patients = conn.scalar(select(func.count()).where(Resource.resource_type == "Patient")) or 0
    finally:
        engine.dispose()
    return resources, patients


# -- what to ask for --------------------------------------------------------------------------


def pick_people(url: str, count: int) -> list[dict[str, str]]:
    """``count`` generated patients spread over the store (ids are random, so the first by id), each
    with the search values of theirs, and the commonest cohort codes in turn; URL-quoted."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Resource.id, Resource.content)
                .where(Resource.resource_type == "Patient", Resource.deleted.is_(False))
                .order_by(Resource.id)
                .limit(count * 3)
            ).all()
            counted = conn.execute(
                select(DiagnosisFact.cohort, DiagnosisFact.code_system, DiagnosisFact.code, func.count())
                .group_by(DiagnosisFact.cohort, DiagnosisFact.code_system, DiagnosisFact.code)
                .order_by(func.count().desc())
            ).all()
    finally:
        engine.dispose()
    codes: dict[str, str] = {}
    for cohort, system, code, _ in counted:
        codes.setdefault(cohort, f"{system}|{code}")
    cohort_codes = [codes[c] for c in COHORTS if c in codes] or ["none"]
    people: list[dict[str, str]] = []
    for pid, content in rows:
        mrn = next((i["value"] for i in content.get("identifier", []) if i.get("system") == MRN_SYSTEM), None)
        if mrn is None or "birthDate" not in content:
            continue  # a patient written by an earlier run, not a generated one
        born = date.fromisoformat(content["birthDate"])
        values = {
            "id": pid,
            "family": content["name"][0]["family"],
            "mrn": mrn,
            "born": born.isoformat(),
            "born_mdy": f"{born.month:02d}/{born.day:02d}/{born.year}",
            "code": cohort_codes[len(people) % len(cohort_codes)],
        }
        people.append({k: quote(v, safe="") for k, v in values.items()})
    if len(people) < count:
        raise SystemExit(f"only {len(people)} generated patients found; --runs asks for {count}")
    return people[:count]


# -- HTTP clients -----------------------------------------------------------------------------


class Client:
    """One client of the served app with its own connection and cookies; ``get`` returns milliseconds."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()

    def headers(self) -> dict[str, str]:
        return {}

    def get(self, path: str, *, until_ready: bool = False) -> float:
        """Milliseconds to a 200; ``until_ready``: asked again after each 503 (figures still being
        built by the shared analytics worker), timed until the answer comes."""
        headers = self.headers()  # a token is fetched before the clock starts
        started = time.perf_counter()
        while True:
            answer = self.http.get(self.base + path, headers=headers, timeout=TIMEOUT)
            if not (until_ready and answer.status_code == 503):
                break
            if time.perf_counter() - started > TIMEOUT:
                break
            time.sleep(0.2)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:500]}")
        return elapsed


class Person(Client):
    """Someone logged in through the login form, as a browser does (CSRF token from the form)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        super().__init__(base)
        form = self.http.get(f"{base}/login", timeout=TIMEOUT).text
        tag = re.search(r"<input[^>]*name=\"csrf_token\"[^>]*>", form)
        token = re.search(r"value=\"([^\"]+)\"", tag.group(0)) if tag else None
        if token is None:
            raise SystemExit("no CSRF token on the login form")
        answer = self.http.post(
            f"{base}/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if answer.status_code != 302 or "/login" in answer.headers.get("Location", ""):
            raise SystemExit(f"{username} could not log in: {answer.status_code}")


class Integration(Client):
    """A FHIR client with a bearer token (client credentials), fetched again before it expires."""

    LIFETIME = 240  # seconds a token is used; sicdoc issues them for 300 at most

    def __init__(self, base: str, client_id: str, secret: str) -> None:
        super().__init__(base)
        self.credentials = (client_id, secret)
        self.token, self.fetched = "", -math.inf

    def headers(self) -> dict[str, str]:
        if time.monotonic() - self.fetched > self.LIFETIME:
            answer = self.http.post(
                f"{self.base}/auth/token",
                data={"grant_type": "client_credentials", "scope": "system/*.*"},
                auth=self.credentials,
                timeout=TIMEOUT,
            )
            answer.raise_for_status()
            self.token, self.fetched = answer.json()["access_token"], time.monotonic()
        return {"Authorization": f"Bearer {self.token}", "Accept": FHIR_JSON}

    def transaction(self, bundle: dict[str, Any]) -> float:
        headers = {**self.headers(), "Content-Type": FHIR_JSON}
        started = time.perf_counter()
        answer = self.http.post(f"{self.base}/fhir", json=bundle, headers=headers, timeout=TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise SystemExit(f"POST /fhir: {answer.status_code} {answer.text[:500]}")
        return elapsed


@dataclass
class Clients:
    """A QI analyst, and ``max(CONCURRENCY)`` logged-in clinicians and FHIR clients."""

    analyst: Client
    clinicians: list[Client]
    fhir: list[Integration]


def make_clients(base: str, url: str) -> Clients:
    """New accounts and a new FHIR client in the store (through the CLI), logged in over HTTP."""
    password = secrets.token_urlsafe(18)
    tag = uuid.uuid4().hex[:6]
    for username, role in ((f"clinician-{tag}", "clinician"), (f"analyst-{tag}", "qi_analyst")):
        sicdoc(url, "users", "create", username, "--role", role, "--password-stdin", stdin=password + "\n")
    printed = sicdoc(url, "clients", "create", f"scale {tag}", "--scopes", "system/*.*", "--secret")
    fields = dict(line.split(": ", 1) for line in printed.splitlines() if ": " in line)
    many = range(max(CONCURRENCY))
    return Clients(
        analyst=Person(base, f"analyst-{tag}", password),
        clinicians=[Person(base, f"clinician-{tag}", password) for _ in many],
        fhir=[Integration(base, fields["client_id"], fields["client_secret"]) for _ in many],
    )


# -- measuring --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "n": len(values),
    }


def concurrent(clients: list[Client], paths: list[list[str]]) -> list[float]:
    """Each client asks for its own paths in turn, all clients at once; every time in ms."""
    times: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(len(clients))
    lock = threading.Lock()

    def run(client: Client, mine: list[str]) -> None:
        start.wait()
        try:
            for path in mine:
                elapsed = client.get(path)
                with lock:
                    times.append(elapsed)
        except (SystemExit, requests.RequestException) as exc:  # a thread's SystemExit goes unseen
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=pair) for pair in zip(clients, paths, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(errors[0])
    return times


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


def measure_qi(clients: Clients, runs: int) -> dict[str, Any]:
    """The dashboard built, with a new filter, and the worklist after a write; medians in ms."""
    analyst, clinician, fhir = clients.analyst, clients.clinicians[0], clients.fhir[0]
    first = analyst.get("/dashboards/", until_ready=True)  # built at start in local mode, asked for in shared
    built = [analyst.get("/dashboards/") for _ in range(runs)]
    filtered = [analyst.get("/dashboards/" + query, until_ready=True) for query in new_scopes(runs)]
    clinician.get("/worklist", until_ready=True)
    fhir.transaction(stroke_admission(-1))  # the first write of a worker imports the FHIR models
    writes, after, again = [], [], []
    for k in range(runs):
        writes.append(fhir.transaction(stroke_admission(k)))
        after.append(clinician.get("/worklist", until_ready=True))
        again.append(clinician.get("/worklist"))
    figures = {
        "dashboard_first_ms": round(first, 1),
        "dashboard_built_ms": round(statistics.median(built), 1),
        "dashboard_new_filter_ms": round(statistics.median(filtered), 1),
        "fhir_transaction_ms": round(statistics.median(writes), 1),
        "worklist_after_write_ms": round(statistics.median(after), 1),
        "worklist_again_ms": round(statistics.median(again), 1),
    }
    for name, value in figures.items():
        print(f"  {name:<32} {value:>9.1f}", flush=True)
    return figures


# -- the server -------------------------------------------------------------------------------


def analytics_setting(asked: str) -> tuple[str, dict[str, str]]:
    """The analytics mode the server runs with, and its setting when this version has one."""
    if hasattr(Config, "ANALYTICS_MODE"):
        return asked, {"SICDOC_ANALYTICS_MODE": asked}
    if asked != "local":
        print(f"SICDOC_ANALYTICS_MODE is not a setting of this version: --analytics {asked} runs local")
    return "local", {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base: str
    pid: int
    started_s: float

    def peaks(self) -> dict[str, float]:
        """VmHWM of the master and each process under it: forked web workers run the master's command
        line, the shared analytics worker its own."""
        names, web = {}, 0
        for n, pid in enumerate(process_tree(self.pid)):
            peak = peak_mib(pid)
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if peak is None:
                continue
            if n == 0:
                label = "master"
            elif "analytics-worker" in command:
                label = "analytics worker"
            elif "sicdoc" in command or "gunicorn" in command:
                web += 1
                label = f"web worker {web}"
            else:
                label = command[:60]
            names[label] = round(peak, 1)
        return names


@contextmanager
def serving(url: str, workers: int, env: dict[str, str], log: Path) -> Iterator[Server]:
    """``sicdoc serve`` on a free port of 127.0.0.1 until the block ends; waits until it answers
    (the default dashboard is built before the workers start, minutes for a million patients)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = {
        "SICDOC_BASE_URL": base,
        "SICDOC_SECURE_COOKIES": "false",  # plain http on 127.0.0.1
        "SICDOC_LOGIN_RATE_LIMIT": "10000/minute",
        "SICDOC_TOKEN_RATE_LIMIT": "10000/minute",
        **env,
    }
    command = [str(SICDOC), "--database-url", url, "serve", "--host", "127.0.0.1"]
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--workers", str(workers)],
            env=environment(**settings),
            stdout=subprocess.DEVNULL,  # the access log
            stderr=out,
        )
        try:
            while True:
                try:
                    if requests.get(f"{base}/fhir/metadata", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass  # not listening yet: the default dashboard is built first
                if proc.poll() is not None:
                    raise SystemExit(f"the server stopped:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            yield Server(base, proc.pid, time.perf_counter() - started)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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
        figures["load"] = loading(store, folder, args.jobs)
        if store.note:
            store.note.write_text(json.dumps(figures["load"], indent=1))
    else:
        sicdoc(store.url, "migrate")  # a kept database is brought up to the current schema
        figures["load"] = {**reused, "reused": True}
    loaded = figures["load"]
    print(
        f"  load{' (kept from before)' if reused else ''}: {loaded['patients']:,} patients, "
        f"{loaded['resources']:,} resources in {loaded['seconds']:,.1f} s = {loaded['resources_per_s']:,.0f} "
        f"resources/s, {loaded['patients_per_s']:,.0f} patients/s; peak RSS {loaded['peak_rss_mib']:,.0f} MiB",
        flush=True,
    )
    people = pick_people(store.url, sum(CONCURRENCY) * args.runs + 1)
    mode, env = analytics_setting(args.analytics)
    figures["analytics"] = mode
    with serving(store.url, args.workers, env, scratch / f"serve-{store.backend}.log") as server:
        figures["server_start_s"] = round(server.started_s, 1)
        built = " (default dashboard built)" if mode == "local" else ""
        print(f"  server up in {server.started_s:,.1f} s{built}", flush=True)
        clients = make_clients(server.base, store.url)
        print(f"  {'ms':<32} {'1 p50':>9} {'1 p95':>9} {'4 p50':>9} {'4 p95':>9}", flush=True)
        figures["requests"] = measure_probes(clients, people, args.runs)
        figures["qi"] = measure_qi(clients, args.runs)
        figures["server_peak_rss_mib"] = server.peaks()
    print(f"  server peak RSS MiB: {figures['server_peak_rss_mib']}", flush=True)
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
    for kind in ("master", "web worker", "analytics worker"):
        peaks = [
            [mib for name, mib in r["server_peak_rss_mib"].items() if name.startswith(kind)] for r in results
        ]
        rows.append((f"{kind} peak RSS MiB", [", ".join(f"{mib:,.0f}" for mib in p) or "-" for p in peaks]))
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
