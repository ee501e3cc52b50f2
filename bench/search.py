"""Search latency on the real store: find-a-patient and FHIR searches over N generated patients.

    .venv/bin/python bench/search.py --patients 5000 [--runs 15] [--backend sqlite|postgresql|both]
    .venv/bin/python bench/search.py --sqlite FILE --postgresql URL     reuse databases already loaded

The population comes from the sample generator (kept on disk between runs, see bench/sicdoc_cli.py)
and goes in through ``sicdoc load`` (a fresh SQLite file and a fresh PostgreSQL database, migrated
first). Reused databases are migrated to the head before measuring. Each search runs through the
service the page or the FHIR API calls, in a session of its own, once to warm up and then --runs
times over different patients (fewer once a search has taken --budget seconds); the figures are the
median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sqlalchemy import select

from bench.databases import create_postgres, drop_postgres, sqlite_url
from bench.sicdoc_cli import population, sicdoc
from sicdoc.app import create_app
from sicdoc.db import session_scope
from sicdoc.fhir.search import parse_search
from sicdoc.migrate import upgrade
from sicdoc.models import Resource, TokenIndex
from sicdoc.services.charts import recently_updated
from sicdoc.services.patient_search import find_patients
from sicdoc.services.unit import UnitOfWork, system_unit
from sicdoc.store.search import search

Search = Callable[[UnitOfWork, dict[str, str]], object]


def _fhir(rtype: str, query: str) -> Search:
    def run(uow: UnitOfWork, p: dict[str, str]) -> object:
        args = [tuple(part.split("=", 1)) for part in query.format(**p).split("&")]
        return search(uow.session, parse_search(rtype, [(k, v) for k, v in args]))

    return run


def _mdy(iso: str) -> str:
    born = date.fromisoformat(iso)
    return f"{born.month:02d}/{born.day:02d}/{born.year}"


SEARCHES: dict[str, Search] = {
    "find: birth date": lambda uow, p: find_patients(uow, _mdy(p["born"])),
    "find: family name": lambda uow, p: find_patients(uow, p["family"]),
    "find: whole MRN": lambda uow, p: find_patients(uow, p["mrn"]),
    "find: MRN prefix": lambda uow, p: find_patients(uow, p["mrn"][:6]),
    "find: name and birth date": lambda uow, p: find_patients(uow, f"{p['family']} {_mdy(p['born'])}"),
    "recently updated (10)": lambda uow, p: recently_updated(uow),
    "Patient?birthdate=": _fhir("Patient", "birthdate={born}"),
    "Patient?birthdate=ge": _fhir("Patient", "birthdate=ge{born}&_count=50"),
    "Patient?name=": _fhir("Patient", "name={family}"),
    "Patient?identifier=": _fhir("Patient", "identifier={mrn}"),
    "Patient?_sort=-_lastUpdated": _fhir("Patient", "_sort=-_lastUpdated&_count=10"),
    "Encounter?patient=": _fhir("Encounter", "patient={id}"),
    "Encounter?patient=&_sort=-date": _fhir("Encounter", "patient={id}&_sort=-date"),
    "Condition?patient=&_count=5": _fhir("Condition", "patient={id}&_count=5"),
    "Condition?code=": _fhir("Condition", "code={code}"),
    "Condition?code=&clinical-status=": _fhir("Condition", "code={code}&clinical-status=active"),
    "Observation?patient=&_count=50": _fhir("Observation", "patient={id}&_count=50"),
}


def _load(url: str, folder: Path) -> float:
    sicdoc(url, "migrate")
    started = time.perf_counter()
    sicdoc(url, "load", "--quiet", str(folder))
    return time.perf_counter() - started


def _people(app: Any, runs: int) -> list[dict[str, str]]:
    """The same spread of patients on every database: every k-th by id, with a condition code of theirs."""
    with session_scope(app) as session:
        ids = session.scalars(
            select(Resource.id).where(Resource.resource_type == "Patient").order_by(Resource.id)
        ).all()
        picked = ids[:: max(1, len(ids) // (runs + 1))][: runs + 1]
        people: list[dict[str, str]] = []
        for pid in picked:
            content = session.get(Resource, ("Patient", pid)).content  # type: ignore[union-attr]
            code = session.scalar(
                select(TokenIndex.code)
                .where(TokenIndex.resource_type == "Condition", TokenIndex.param == "code")
                .order_by(TokenIndex.resource_id, TokenIndex.code)
                .offset(len(people))
                .limit(1)
            )
            people.append(
                {
                    "id": pid,
                    "born": content.get("birthDate", "1950-01-01"),
                    "family": content["name"][0]["family"],
                    "mrn": content["identifier"][0]["value"],
                    "code": code or "none",
                }
            )
    return people


def measure(url: str, runs: int, budget: float = 60) -> dict[str, tuple[float, float]]:
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    store = app.extensions["sicdoc.store"]
    people = _people(app, runs)
    print(f"{app.extensions['sicdoc.engine'].dialect.name}: median / p95 ms", flush=True)
    figures = {}
    for name, run in SEARCHES.items():
        times: list[float] = []
        for p in people:  # the first is the warm-up
            with session_scope(app) as session:
                uow = system_unit(session, store)
                started = time.perf_counter()
                run(uow, p)
                times.append((time.perf_counter() - started) * 1000)
            if sum(times) > budget * 1000:  # a search this slow is measured on fewer patients
                break
        times = sorted(times[1:] or times)
        figures[name] = (statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))])
        print(f"  {name:<32} {figures[name][0]:9.1f} {figures[name][1]:9.1f}", flush=True)
    app.extensions["sicdoc.engine"].dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--budget", type=float, default=60, help="seconds per search before fewer runs")
    parser.add_argument("--sqlite", metavar="FILE", help="measure this loaded SQLite file instead")
    parser.add_argument("--postgresql", metavar="URL", help="measure this loaded PostgreSQL database instead")
    args = parser.parse_args()
    if args.sqlite or args.postgresql:
        if args.sqlite:
            measure(f"sqlite:///{Path(args.sqlite).resolve()}", args.runs, args.budget)
        if args.postgresql:
            measure(args.postgresql, args.runs, args.budget)
        return
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    folder = population(args.patients, 11)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            if backend == "sqlite":
                url, name = sqlite_url(Path(tmp)), None
            else:
                url, name = create_postgres()
            try:
                seconds = _load(url, folder)
                print(f"{backend}: loaded {args.patients:,} patients in {seconds:,.0f} s")
                measure(url, args.runs, args.budget)
            finally:
                if name:
                    drop_postgres(name)


if __name__ == "__main__":
    main()
