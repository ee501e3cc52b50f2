"""Every search is served by an index: the plans of the statements the real code paths send.

The searches run through ``search`` and ``find_patients`` on the scratch store of ``plan_store``; every
SELECT they send is captured and explained with its own parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import text

from sicdoc.analytics.scope import parse_scope
from sicdoc.app import create_app
from sicdoc.codes import MRN_SYSTEM
from sicdoc.db import session_scope
from sicdoc.fhir.search import SearchRequest, parse_search
from sicdoc.migrate import upgrade
from sicdoc.services.chart_header import care_focus_records, documented
from sicdoc.services.charts import recently_updated
from sicdoc.services.patient_search import find_patients
from sicdoc.services.unit import UnitOfWork
from sicdoc.services.worklist import due
from sicdoc.store import search as store_search
from sicdoc.store.conversation_details import notes_of
from sicdoc.store.reads import read_many
from sicdoc.store.search import search
from tests.conftest import scratch_postgresql
from tests.integration.plan_store import (
    BIG_TABLES,
    COMMON_FAMILY,
    COMMON_WARD,
    captured,
    fhir_search,
    scratch_store,  # noqa: F401 - the ``scratch`` fixture
)

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


def _fhir_in_windows(rtype: str, query: str) -> Callable[[UnitOfWork], object]:
    """As _fhir, in windows (``_in_windows``)."""
    return _in_windows(fhir_search(rtype, query))


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


PATIENT = "pat-01234"  # a stroke patient (plan_store gives every other patient one)
OUTSIDE_COHORTS = "pat-01235"
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
        fhir_search("Patient", "_sort=-_lastUpdated&_count=10&_total=none"),
        ("ix_resource_type_updated",),
        index_order=True,
    ),
    "Patient?birthdate=ge": Case(fhir_search("Patient", "birthdate=ge1999-12-01"), ("ix_search_date_high",)),
    # Half the patients: the page comes from the first patients in id order, each probing its own date.
    "Patient?birthdate=ge (half)": Case(
        _fhir_in_windows("Patient", "birthdate=ge1965-01-01"),
        # Each patient of the window probes its own birth date (PostgreSQL once hashed every date).
        ("ix_search_date_high", "ix_search_date_resource"),
        probes_each=True,  # may sort a window's few hundred ids, never more
    ),
    "Patient?birthdate=lt": Case(
        fhir_search("Patient", "birthdate=lt1930-01-20"), ("ix_search_date_lookup",)
    ),
    "Patient?birthdate=a,b": Case(
        fhir_search("Patient", "birthdate=1950-03-04,1960-05-06"), ("ix_search_date_lookup",)
    ),
    "Patient?family": Case(fhir_search("Patient", "family=kalo"), ("ix_search_string_lookup",)),
    "Patient?name:exact": Case(
        fhir_search("Patient", "name:exact=Kalorenmi"),
        ("ix_search_string_lookup",),
    ),
    "Patient?identifier": Case(
        fhir_search("Patient", f"identifier={MRN_SYSTEM}|11-0000042"), ("ix_search_token_lookup",)
    ),
    # A page of a common code is read along the index in id order, not by sorting every match.
    "Condition?code": Case(
        fhir_search("Condition", "code=http://snomed.info/sct|101234"),
        ("ix_search_token_lookup",),
        index_order=True,
    ),
    # Every encounter was on the ward: each encounter of the window probes its own locations.
    "Encounter?location (many)": Case(
        _fhir_in_windows("Encounter", f"location={COMMON_WARD}"),
        (),  # SQLite probes along the lookup index, PostgreSQL along the per-resource one: both by id
        probes_each=True,
    ),
    "Encounter?patient": Case(
        fhir_search("Encounter", f"patient={PATIENT}"), ("ix_search_reference_lookup",)
    ),
    # The second page of a patient's encounters: from the patient's index rows, past the cursor.
    "Encounter?patient, next page": Case(
        lambda uow: search(
            uow.session, _past(parse_search("Encounter", [("patient", PATIENT), ("_count", "1")]))
        ),
        ("ix_search_reference_lookup",),
    ),
    "Condition?patient&_count=5": Case(
        fhir_search("Condition", f"patient={PATIENT}&_count=5"), ("ix_search_reference_lookup",)
    ),
    "Encounter?patient&_sort=-date": Case(
        fhir_search("Encounter", f"patient={PATIENT}&_sort=-date"),
        ("ix_search_reference_lookup", "ix_search_date_resource"),
        per_row_sort_key=True,  # for the patient's few encounters, on the per-resource index
    ),
    # Whether a patient is due a conversation: their own rows of the tables the worklist's rule reads,
    # by patient (of those, this store fills diagnoses at scale; the chart's check reads no care event).
    "patient page: conversation due": Case(
        lambda uow: due(uow, parse_scope({}, today=date(2026, 6, 30)), PATIENT),
        ("ix_diagnosis_fact_patient",),
    ),
    # Outside every cohort: their diagnoses alone.
    "patient page: nothing due outside every cohort": Case(
        lambda uow: due(uow, parse_scope({}, today=date(2026, 6, 30)), OUTSIDE_COHORTS),
        ("ix_diagnosis_fact_patient",),
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
    "bulk load: the resources a batch's conditional creates match": Case(
        lambda uow: read_many(uow.session, [("Patient", PATIENT), ("Patient", OUTSIDE_COHORTS)]),
        ("pk_resource",),
    ),
    "Patient?_id&_revinclude": Case(
        fhir_search("Patient", f"_id={PATIENT}&_revinclude=Encounter:patient"),
        ("ix_search_reference_lookup",),
    ),
}


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
    """The indexes a plan reads, a primary key's under its PostgreSQL name (``pk_<table>``), which
    SQLite calls ``sqlite_autoindex_<table>_1``."""
    if backend == "postgresql":
        return set(re.findall(r'"Index Name": "(\w+)"', plan_text))
    names = set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", plan_text))
    return {re.sub(r"^sqlite_autoindex_(\w+)_1$", r"pk_\1", name) for name in names}


@pytest.mark.parametrize("name", list(CASES))
def test_each_search_reads_its_index(scratch: Any, name: str) -> None:
    app, backend = scratch
    case = CASES[name]
    explain = _sqlite_problems if backend == "sqlite" else _postgresql_problems
    used: set[str] = set()
    report = []
    with app.extensions["sicdoc.engine"].connect() as conn:
        for statement, parameters in captured(app, case.run):
            problems, plan = explain(conn, statement, parameters, case)
            used |= _index_names(plan, backend)
            if problems:
                report.append(f"{'; '.join(problems)}\n{statement}\n{plan}")
    missing = [i for i in case.indexes if i not in used]
    assert not report, "\n\n".join(report)
    assert not missing, f"{name}: no statement used {missing} (used {sorted(used)})"


@pytest.mark.parametrize(
    "query", [f"family={COMMON_FAMILY}", "birthdate=ge1950-01-01", "identifier=11-0001234"]
)
def test_one_criterion_alone_reads_its_capped_index_rows_once(scratch: Any, query: str) -> None:
    """Whether it matches many and its total come from one read of at most 1,001 index rows."""
    app, _backend = scratch
    statements = [s for s, _ in captured(app, fhir_search("Patient", query))]
    # A capped read: index rows, a LIMIT and no order (a page of index rows is read in id order).
    capped = [s for s in statements if "LIMIT" in s and "ORDER BY" not in s and "FROM resource" not in s]
    assert len(capped) == 1, "\n\n".join(statements)


def test_a_name_probe_reads_the_patients_own_rows_on_stale_statistics() -> None:
    """At a million patients PostgreSQL probed each patient of a window for a common family name along
    the lookup index (type, param, value, id), having misjudged how many names share the prefix: every
    probe read all 16,809 ``baker%`` rows, 2.4 s for a page. Here the statistics were taken before a
    third of the patients got the name, and each patient has twelve other names, as then."""
    with scratch_postgresql("sicdoc_probe") as url:
        upgrade(url)
        app = create_app({"TESTING": True, "DATABASE_URL": url})
        engine = app.extensions["sicdoc.engine"]
        try:
            with engine.begin() as conn:
                conn.execute(text("ALTER TABLE search_string SET (autovacuum_enabled = false)"))
                conn.execute(
                    text(
                        "INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) "
                        "SELECT 'Patient', lpad(g::text, 8, '0'), 1, now(), false, "
                        '\'{"resourceType": "Patient"}\'::jsonb FROM generate_series(1, 20000) g'
                    )
                )
                names = (
                    "INSERT INTO search_string (resource_type, resource_id, param, value) SELECT 'Patient', "
                )
                conn.execute(
                    text(
                        names + "lpad(g::text, 8, '0'), 'name', 'n' || md5(g::text || k::text) "
                        "FROM generate_series(1, 20000) g, generate_series(1, 12) k"
                    )
                )
                conn.execute(text("ANALYZE resource, search_string"))
                conn.execute(
                    text(names + "lpad(g::text, 8, '0'), 'name', 'baker' FROM generate_series(1, 20000, 3) g")
                )
            with mock.patch.object(store_search, "TOTAL_COUNTED_UP_TO", 100):
                run = fhir_search("Patient", "name=Baker&_count=25&_total=none")
                statements = captured(app, run)
                with engine.connect() as conn:
                    plans = [
                        conn.exec_driver_sql(
                            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters
                        ).scalar()
                        for statement, parameters in statements
                    ]
                with session_scope(app) as session:
                    found = search(session, parse_search("Patient", [("name", "Baker"), ("_count", "25")]))
        finally:
            engine.dispose()
    probes = [
        node
        for plan in plans
        for node in _nodes((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
        if node.get("Relation Name") == "search_string" and node.get("Actual Loops", 1) > 1
    ]
    assert probes, "the page came from no window"
    assert {node["Index Name"] for node in probes} == {"ix_search_string_resource"}
    assert len(found.matches) == 25
