"""What sicdoc tells PostgreSQL's planner, and what it keeps from it, for searches at a hospital's size:
statistics on codes many conditions share, a search's transaction without parallel workers or bitmap
scans, and a page of one criterion that reads only its own resources. On the scratch store of
``plan_store``; SQLite has none of these planner choices.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select, text

from sicdoc.db import session_scope
from sicdoc.fhir.search import parse_search
from sicdoc.models import TokenIndex
from sicdoc.services.unit import system_unit
from sicdoc.store import search as store_search
from sicdoc.store.search import search
from tests.integration.plan_store import (
    COMMON_CODE,
    COMMON_FAMILY,
    PATIENTS,
    captured,
    fhir_search,
    scratch_store,  # noqa: F401 - the ``scratch`` fixture
)


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
    run = fhir_search("Patient", f"family={COMMON_FAMILY}&_count=5")
    statements = [s for s, _ in captured(app, run)]
    reading = [s for s in statements if "resource.content" in s]
    assert reading and all("search_string" not in s for s in reading), reading
    with session_scope(app) as session:
        page = run(system_unit(session, app.extensions["sicdoc.store"]))
    assert isinstance(page, store_search.SearchResult) and len(page.matches) == 5
    assert [m.id for m in page.matches] == sorted(m.id for m in page.matches)
