"""A scratch store for the query-plan tests: a few thousand synthetic patients per backend, with
encounters, conditions (every other patient's first one a stroke) and conversation notes, their index rows built by the same ``index_rows`` the
store writes with; and the SELECTs a search sends, captured with their parameters. SQLite is left
without statistics, as a production file is; PostgreSQL is ANALYZEd.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text

from sicdoc.codes import MRN_SYSTEM
from sicdoc.db import session_scope
from sicdoc.fhir.search import parse_search
from sicdoc.fhir.search_params import index_rows
from sicdoc.migrate import upgrade
from sicdoc.models import (
    CareEvent,
    DateIndex,
    DiagnosisFact,
    ReferenceIndex,
    Resource,
    StringIndex,
    TokenIndex,
)
from sicdoc.services.unit import UnitOfWork, system_unit
from sicdoc.store.search import search
from tests.conftest import BACKENDS, scratch_postgresql

PATIENTS = 3000
BIG_TABLES = (
    "resource",
    "search_token",
    "search_reference",
    "search_date",
    "search_string",
    "care_event",
    "diagnosis_fact",
)
_SYLLABLES = ("ka", "lo", "mi", "ren", "sa", "tov", "ul", "vin", "yer", "zo", "bek", "dra", "fen", "gu")


def _family(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()


COMMON_CODE = "200000"
# One patient in ten has this family name, and every inpatient encounter was on this ward: more
# than the windowed searches' scaled-down count limit, as "Smith" or a big ward is in a hospital.
COMMON_FAMILY = "Volkov"
COMMON_WARD = "Location/ward-4"


def _condition_code(rng: random.Random, n: int, k: int) -> str:
    if k == 0:
        return str(100000 + n)
    return COMMON_CODE if rng.random() < 0.4 else str(200001 + rng.randrange(40))


def _population(seed: int = 7) -> list[dict[str, Any]]:
    """Patients born 1930-1999 (about one a day), each with two encounters, two conditions and a
    conversation note. A patient's first condition has a code of their own; the second is drawn from
    a few codes, the first of them shared by two patients in five (as prostate cancer or a stroke is
    in a hospital), which PostgreSQL's per-column statistics underestimate a hundredfold."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for n in range(PATIENTS):
        pid = f"pat-{n:05d}"
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(70 * 365))
        out.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [{"system": MRN_SYSTEM, "value": f"11-{n:07d}"}],
                "name": [{"family": COMMON_FAMILY if n % 10 == 0 else _family(rng), "given": [_family(rng)]}],
                "gender": rng.choice(("female", "male")),
                "birthDate": born.isoformat(),
            }
        )
        out.append(
            {
                "resourceType": "Composition",
                "id": f"{pid}-note",
                "status": "final",
                "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "date": "2024-05-01T10:00:00Z",
                "author": [{"display": "Dr Note"}],
                "title": "Conversation note",
                "event": [{"detail": [{"reference": f"Procedure/{pid}-sic"}]}],
            }
        )
        for k in range(2):
            start = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(5 * 8760))
            out.append(
                {
                    "resourceType": "Encounter",
                    "id": f"{pid}-e{k}",
                    "status": "finished",
                    "class": {"code": "IMP"},
                    "subject": {"reference": f"Patient/{pid}"},
                    "location": [{"location": {"reference": COMMON_WARD}}],
                    "period": {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()},
                }
            )
            out.append(
                {
                    "resourceType": "Condition",
                    "id": f"{pid}-c{k}",
                    "subject": {"reference": f"Patient/{pid}"},
                    "code": {
                        "coding": [{"system": "http://snomed.info/sct", "code": _condition_code(rng, n, k)}]
                    },
                    "recordedDate": start.date().isoformat(),
                }
            )
    return out


def _in_cohort(condition: dict[str, Any]) -> bool:
    """Every other patient has a stroke (as the diagnosis projection would write it), the rest none."""
    return int(condition["subject"]["reference"].rsplit("-", 1)[1]) % 2 == 0


def _fill(engine: Engine) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows: dict[Any, list[dict[str, Any]]] = {
        t: []
        for t in (Resource, TokenIndex, ReferenceIndex, DateIndex, StringIndex, CareEvent, DiagnosisFact)
    }
    for i, content in enumerate(_population()):
        key = {"resource_type": content["resourceType"], "resource_id": content["id"]}
        stamp = now + timedelta(seconds=i)
        rows[Resource].append(
            {
                **{"resource_type": key["resource_type"], "id": content["id"]},
                "version_id": 1,
                "last_updated": stamp,
                "deleted": False,
                "content": content,
            }
        )
        found = index_rows(content)
        rows[TokenIndex] += [{**key, "param": p, "system": s, "code": c} for p, s, c in found.tokens]
        rows[ReferenceIndex] += [
            {**key, "param": p, "target_type": t, "target_id": v} for p, t, v in found.references
        ]
        rows[DateIndex] += [{**key, "param": p, "low": lo, "high": hi} for p, lo, hi in found.dates]
        rows[StringIndex] += [{**key, "param": p, "value": v} for p, v in found.strings]
        if content["resourceType"] == "Condition" and content["id"].endswith("-c0") and _in_cohort(content):
            rows[DiagnosisFact].append(
                {
                    "condition_id": content["id"],
                    "cohort": "stroke",
                    "patient_id": content["subject"]["reference"].split("/")[1],
                    "code_system": "http://hl7.org/fhir/sid/icd-10-cm",
                    "code": "I63.9",
                    "diagnosis_date": date.fromisoformat(content["recordedDate"]),
                }
            )
        if content["resourceType"] == "Encounter":  # its stay, as the projection writes it
            rows[CareEvent].append(
                {
                    "event_id": f"Encounter/{content['id']}#0",
                    "source_type": "Encounter",
                    "source_id": content["id"],
                    "patient_id": content["subject"]["reference"].split("/")[1],
                    "kind": "stay",
                    "start_date": date.fromisoformat(content["period"]["start"][:10]),
                }
            )
    with engine.begin() as conn:
        for table, batch in rows.items():
            for start in range(0, len(batch), 2000):
                conn.execute(insert(table.__table__), batch[start : start + 2000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


@pytest.fixture(scope="module", params=BACKENDS, name="scratch")
def scratch_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(app, backend) on a migrated scratch database filled with the synthetic population."""
    from sicdoc.app import create_app

    backend = request.param
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}"
        else:
            url = stack.enter_context(scratch_postgresql("sicdoc_plans"))
        upgrade(url)
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        _fill(app.extensions["sicdoc.engine"])
        yield app, backend
        app.extensions["sicdoc.engine"].dispose()


def fhir_search(rtype: str, query: str) -> Callable[[UnitOfWork], object]:
    """A FHIR search as the REST layer runs it, written as its query string."""
    args = [tuple(part.split("=", 1)) for part in query.split("&")]
    return lambda uow: search(uow.session, parse_search(rtype, [(k, v) for k, v in args]))


def captured(app: Any, run: Callable[[UnitOfWork], object]) -> list[tuple[str, Any]]:
    """The SELECTs on the big tables that ``run`` sends, with their parameters."""
    engine = app.extensions["sicdoc.engine"]
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and any(t in statement for t in BIG_TABLES):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(app) as session:
            run(system_unit(session, app.extensions["sicdoc.store"]))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen, "the search sent no statement"
    return seen
