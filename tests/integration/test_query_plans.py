"""Every search is served by an index: the plans of the statements the real code paths send.

A scratch database per backend holds a few thousand synthetic patients with encounters and
conditions, their index rows built by the same ``index_rows`` the store writes with. The searches run
through ``search`` and ``find_patients``; every SELECT they send is captured and explained with its
own parameters. SQLite is left without statistics, as a production file is; PostgreSQL is ANALYZEd.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import Engine, create_engine, event, func, insert, select, text

from sicdoc.analytics.scope import parse_scope
from sicdoc.codes import MRN_SYSTEM
from sicdoc.db import session_scope
from sicdoc.fhir.search import SearchRequest, parse_search
from sicdoc.fhir.search_params import index_rows
from sicdoc.migrate import upgrade
from sicdoc.models import CareEvent, DateIndex, ReferenceIndex, Resource, StringIndex, TokenIndex
from sicdoc.services.chart_header import care_focus_records, documented
from sicdoc.services.charts import recently_updated
from sicdoc.services.patient_search import find_patients
from sicdoc.services.unit import UnitOfWork, system_unit
from sicdoc.services.worklist import due
from sicdoc.store import search as store_search
from sicdoc.store.conversation_details import notes_of
from sicdoc.store.search import search
from tests.conftest import BACKENDS, PG_ADMIN_URL

PATIENTS = 3000
BIG_TABLES = ("resource", "search_token", "search_reference", "search_date", "search_string", "care_event")
_TABLES = "|".join(BIG_TABLES)
_SCAN = re.compile(rf"^SCAN ({_TABLES})\b")
# A search on the type alone walks every resource of the type (or every index row of it).
_WHOLE_TYPE = re.compile(rf"^SEARCH ({_TABLES}) USING (COVERING )?INDEX \w+ \(resource_type=\?\)$")
# So does one on the type and every id after a page's cursor, unless a window's offset bounds it.
_PAST_CURSOR = re.compile(rf"^SEARCH ({_TABLES}) USING (COVERING )?INDEX \w+ \(resource_type=\? AND id>\?\)$")
# A lookup on type and parameter alone reads every value of the parameter (a name search did, when
# its range reached SQLite as ``(...) = 1``).
_WHOLE_PARAM = re.compile(
    rf"^SEARCH ({_TABLES}) USING (COVERING )?INDEX \w+_lookup \(resource_type=\? AND param=\?\)$"
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


def _fill(engine: Engine) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows: dict[Any, list[dict[str, Any]]] = {
        t: [] for t in (Resource, TokenIndex, ReferenceIndex, DateIndex, StringIndex, CareEvent)
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


@pytest.fixture(scope="module", params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(app, backend) on a migrated scratch database filled with the synthetic population."""
    from sicdoc.app import create_app

    backend = request.param
    admin = None
    name = f"sicdoc_plans_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.sqlite3'}"
    else:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        _fill(app.extensions["sicdoc.engine"])
        yield app, backend
        app.extensions["sicdoc.engine"].dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _fhir(rtype: str, query: str) -> Callable[[UnitOfWork], object]:
    """A FHIR search as the REST layer runs it, written as its query string."""
    args = [tuple(part.split("=", 1)) for part in query.split("&")]
    return lambda uow: search(uow.session, parse_search(rtype, [(k, v) for k, v in args]))


def _fhir_in_windows(rtype: str, query: str) -> Callable[[UnitOfWork], object]:
    """As _fhir, in windows (``_in_windows``)."""
    return _in_windows(_fhir(rtype, query))


def _in_windows(run: Callable[[UnitOfWork], object]) -> Callable[[UnitOfWork], object]:
    """``run`` with a count limit whose id-order window (ten times as many resources) is well inside
    the scratch store's 3,000 patients, as it is inside a hospital's million."""

    def scaled(uow: UnitOfWork) -> object:
        with mock.patch.object(store_search, "TOTAL_COUNTED_UP_TO", 100):
            return run(uow)

    return scaled


def _past(req: SearchRequest) -> SearchRequest:
    """``req`` continued after a cursor, as a next link asks for it."""
    req.cursor = {"id": f"{PATIENT}-e0"}
    return req


@dataclass(frozen=True)
class Case:
    run: Callable[[UnitOfWork], object]
    indexes: tuple[str, ...]  # each must serve at least one of the statements
    # The page comes off an index in order: no sort, and walking the type's index is how it starts.
    index_order: bool = False
    per_row_sort_key: bool = False  # a correlated subquery reads each match's sort key
    # Resources read in id order each probe their own index rows (a search matching many).
    probes_each: bool = False


PATIENT = "pat-01234"
CASES = {
    "find by birth date": Case(lambda uow: find_patients(uow, "12/07/1943"), ("ix_search_date_lookup",)),
    "find by name words": Case(lambda uow: find_patients(uow, "Kaloren Mi"), ("ix_search_string_lookup",)),
    # A family name one patient in ten has: the first patients in id order each probe their own names.
    "find by a common name": Case(
        _in_windows(lambda uow: find_patients(uow, COMMON_FAMILY)),
        ("ix_search_string_resource",),
        probes_each=True,
    ),
    "find by whole MRN": Case(lambda uow: find_patients(uow, "11-0001234"), ("ix_search_token_lookup",)),
    "find by MRN prefix": Case(lambda uow: find_patients(uow, "11-00012"), ("ix_search_token_lookup",)),
    "recently updated patients": Case(
        lambda uow: recently_updated(uow), ("ix_resource_type_updated",), index_order=True
    ),
    "Patient?_sort=-_lastUpdated": Case(
        _fhir("Patient", "_sort=-_lastUpdated&_count=10&_total=none"),
        ("ix_resource_type_updated",),
        index_order=True,
    ),
    "Patient?birthdate=ge": Case(_fhir("Patient", "birthdate=ge1999-12-01"), ("ix_search_date_high",)),
    # Half the patients: the page comes from the first patients in id order, each probing its own date.
    "Patient?birthdate=ge (half)": Case(
        _fhir_in_windows("Patient", "birthdate=ge1965-01-01"),
        # Each patient of the window probes its own birth date (PostgreSQL once hashed every date).
        ("ix_search_date_high", "ix_search_date_resource"),
        probes_each=True,  # may sort a window's few hundred ids, never more
    ),
    "Patient?birthdate=lt": Case(_fhir("Patient", "birthdate=lt1930-01-20"), ("ix_search_date_lookup",)),
    "Patient?birthdate=a,b": Case(
        _fhir("Patient", "birthdate=1950-03-04,1960-05-06"), ("ix_search_date_lookup",)
    ),
    "Patient?family": Case(_fhir("Patient", "family=kalo"), ("ix_search_string_lookup",)),
    "Patient?name:exact": Case(
        _fhir("Patient", "name:exact=Kalorenmi"),
        ("ix_search_string_lookup",),
    ),
    "Patient?identifier": Case(
        _fhir("Patient", f"identifier={MRN_SYSTEM}|11-0000042"), ("ix_search_token_lookup",)
    ),
    # A page of a common code is read along the index in id order, not by sorting every match.
    "Condition?code": Case(
        _fhir("Condition", "code=http://snomed.info/sct|101234"),
        ("ix_search_token_lookup",),
        index_order=True,
    ),
    # Every encounter was on the ward: each encounter of the window probes its own locations.
    "Encounter?location (many)": Case(
        _fhir_in_windows("Encounter", f"location={COMMON_WARD}"),
        (),  # SQLite probes along the lookup index, PostgreSQL along the per-resource one: both by id
        probes_each=True,
    ),
    "Encounter?patient": Case(_fhir("Encounter", f"patient={PATIENT}"), ("ix_search_reference_lookup",)),
    # The second page of a patient's encounters: from the patient's index rows, past the cursor.
    "Encounter?patient, next page": Case(
        lambda uow: search(
            uow.session, _past(parse_search("Encounter", [("patient", PATIENT), ("_count", "1")]))
        ),
        ("ix_search_reference_lookup",),
    ),
    "Condition?patient&_count=5": Case(
        _fhir("Condition", f"patient={PATIENT}&_count=5"), ("ix_search_reference_lookup",)
    ),
    "Encounter?patient&_sort=-date": Case(
        _fhir("Encounter", f"patient={PATIENT}&_sort=-date"),
        ("ix_search_reference_lookup", "ix_search_date_resource"),
        per_row_sort_key=True,  # for the patient's few encounters, on the per-resource index
    ),
    # Whether a patient is due a conversation: their own rows of every projection table, by patient.
    "patient page: conversation due": Case(
        lambda uow: due(uow, parse_scope({}, today=date(2026, 6, 30)), PATIENT), ("ix_care_event_patient",)
    ),
    "patient header: care focus outside conversations": Case(
        lambda uow: care_focus_records(uow.session, PATIENT), ("ix_care_event_patient",)
    ),
    "patient header: conversations with their answers": Case(
        lambda uow: documented(uow.session, PATIENT),
        (),  # the scratch store has no conversations: what counts is that no Procedure index is walked
        per_row_sort_key=True,  # sorts the patient's few conversations
    ),
    "conversation without a response: its notes": Case(
        lambda uow: notes_of(uow.session, "proc-1", PATIENT), ("ix_search_reference_lookup",)
    ),
    "Patient?_id&_revinclude": Case(
        _fhir("Patient", f"_id={PATIENT}&_revinclude=Encounter:patient"),
        ("ix_search_reference_lookup",),
    ),
}


def _captured(app: Any, case: Case) -> list[tuple[str, Any]]:
    """The SELECTs on the big tables that ``case`` sends, with their parameters."""
    engine = app.extensions["sicdoc.engine"]
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and any(t in statement for t in BIG_TABLES):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(app) as session:
            case.run(system_unit(session, app.extensions["sicdoc.store"]))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen, "the search sent no statement"
    return seen


def _probes(rows: list[Any]) -> list[str]:
    """The index searches of an EXPLAIN QUERY PLAN that run once per row of an outer query."""
    parent = {r[0]: r[1] for r in rows}
    detail = {r[0]: str(r[3]) for r in rows}

    def correlated(node: int) -> bool:
        while node in parent:
            node = parent[node]
            if detail.get(node, "").startswith("CORRELATED"):
                return True
        return False

    return [detail[r[0]] for r in rows if detail[r[0]].startswith("SEARCH") and correlated(r[0])]


def _sqlite_problems(conn: Any, statement: str, parameters: Any, case: Case) -> tuple[list[str], str]:
    rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    details = [str(r[3]) for r in rows]
    problems = [f"full scan: {d}" for d in details if _SCAN.match(d)]
    # A resource probing its own index rows finds them by its id: read by value, a probe for a name
    # or target many share read all their rows, once per resource probed.
    problems += [f"probes by value, not by resource: {d}" for d in _probes(rows) if "resource_id=?" not in d]
    if not case.per_row_sort_key:  # the matches come in index order, each read once
        if not case.probes_each:
            problems += [f"per-row subquery: {d}" for d in details if "CORRELATED" in d]
        problems += [f"sorts: {d}" for d in details if "TEMP B-TREE" in d]
    if not case.index_order:
        problems += [f"walks the whole type: {d}" for d in details if _WHOLE_TYPE.match(d)]
    if not (case.index_order or case.probes_each):  # a window's end is found a bounded walk away
        problems += [f"walks every id after the cursor: {d}" for d in details if _PAST_CURSOR.match(d)]
    problems += [f"reads every value of the parameter: {d}" for d in details if _WHOLE_PARAM.match(d)]
    return problems, "\n".join(details)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _postgresql_problems(conn: Any, statement: str, parameters: Any, case: Case) -> tuple[list[str], str]:
    raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = list(_nodes(plan))
    problems = [
        f"sequential scan of {n['Relation Name']}"
        for n in nodes
        if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG_TABLES
    ]
    if case.index_order:
        problems += [f"sorts {n.get('Sort Key')}" for n in nodes if n["Node Type"] == "Sort"]
    return problems, json.dumps(plan, indent=1)


def _index_names(plan_text: str, backend: str) -> set[str]:
    pattern = r"USING (?:COVERING )?INDEX (\w+)" if backend == "sqlite" else r'"Index Name": "(\w+)"'
    return set(re.findall(pattern, plan_text))


@pytest.mark.parametrize("name", list(CASES))
def test_each_search_reads_its_index(scratch: Any, name: str) -> None:
    app, backend = scratch
    case = CASES[name]
    explain = _sqlite_problems if backend == "sqlite" else _postgresql_problems
    used: set[str] = set()
    report = []
    with app.extensions["sicdoc.engine"].connect() as conn:
        for statement, parameters in _captured(app, case):
            problems, plan = explain(conn, statement, parameters, case)
            used |= _index_names(plan, backend)
            if problems:
                report.append(f"{'; '.join(problems)}\n{statement}\n{plan}")
    missing = [i for i in case.indexes if i not in used]
    assert not report, "\n\n".join(report)
    assert not missing, f"{name}: no statement used {missing} (used {sorted(used)})"


@pytest.mark.parametrize("scratch", ["postgresql"], indirect=True)  # SQLite walks the index unaided
@pytest.mark.parametrize("system", ["http://snomed.info/sct", None], ids=["system|code", "code"])
def test_postgresql_knows_how_many_share_a_common_code(scratch: Any, system: str | None) -> None:
    """The planner's estimate for one code of one parameter is near its real count. Taking type,
    parameter, system and code as independent, it once estimated 110 conditions with a code 38,061
    shared, and read and sorted every match instead of paging along the index."""
    app, _backend = scratch
    lookup = (
        select(TokenIndex.resource_id)
        .where(TokenIndex.resource_type == "Condition", TokenIndex.param == "code")
        .where(TokenIndex.code == COMMON_CODE)
    )
    if system is not None:
        lookup = lookup.where(TokenIndex.system == system)
    with app.extensions["sicdoc.engine"].connect() as conn:
        real = conn.scalar(select(func.count()).select_from(lookup.subquery()))
        statement = lookup.compile(conn, compile_kwargs={"literal_binds": True})
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}").scalar()
    estimated = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]["Plan Rows"]
    assert real and real > PATIENTS // 4
    assert real / 2 <= estimated <= real * 2, f"estimated {estimated} rows for {real}"


@pytest.mark.parametrize("scratch", ["postgresql"], indirect=True)  # SQLite has neither
def test_a_search_runs_without_parallel_workers_or_bitmap_scans_and_only_it(scratch: Any) -> None:
    """A page of a code thousands share was planned with parallel workers, slower to start than the
    page to read, and a count of at most 1,001 rows with a bitmap scan, which reads every match
    first; the search switches both off for its own transaction alone."""
    app, _backend = scratch
    settings = ("max_parallel_workers_per_gather", "enable_bitmapscan")
    with session_scope(app) as session:
        default = [session.scalar(text(f"SHOW {name}")) for name in settings]
        search(session, parse_search("Condition", [("code", f"http://snomed.info/sct|{COMMON_CODE}")]))
        assert [session.scalar(text(f"SHOW {name}")) for name in settings] == ["0", "off"]
        session.commit()
        assert [session.scalar(text(f"SHOW {name}")) for name in settings] == default
    assert default != ["0", "off"]


@pytest.mark.parametrize("scratch", ["postgresql"], indirect=True)  # SQLite reads only the page already
def test_a_page_of_one_criterion_reads_the_resources_of_that_page_alone(scratch: Any) -> None:
    """PostgreSQL joined a criterion's matches to their resources before keeping the first few, so a
    family name 1,795 patients share read 1,795 patients for a page of 25: the page's ids come from the
    index rows first, and only those resources are read."""
    app, _backend = scratch
    run = _fhir("Patient", f"family={COMMON_FAMILY}&_count=5")
    statements = [s for s, _ in _captured(app, Case(run, ()))]
    reading = [s for s in statements if "resource.content" in s]
    assert reading and all("search_string" not in s for s in reading), reading
    with session_scope(app) as session:
        page = run(system_unit(session, app.extensions["sicdoc.store"]))
    assert isinstance(page, store_search.SearchResult) and len(page.matches) == 5
    assert [m.id for m in page.matches] == sorted(m.id for m in page.matches)
