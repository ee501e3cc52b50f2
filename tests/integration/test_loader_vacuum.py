"""What ``sicdoc load`` leaves PostgreSQL's planner: statistics kept up with what the load looks up
while it runs, and at its end the tables it changed by a tenth or more vacuumed (SQLite is left
without statistics, as a production file is)."""

import os
import re
import signal
from pathlib import Path

import pytest
from sqlalchemy import event

from sicdoc import loader
from sicdoc.models import Base
from sicdoc.sample.writer import generate
from sicdoc.services import bulk
from tests.web.fhir_helpers import table_counts


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("population") / "ndjson"
    generate(200, 5, out, "ndjson")
    return out


def test_the_loader_keeps_postgresql_statistics_up_with_what_it_looks_up_and_vacuums_at_the_end(
    app, tmp_path, population, monkeypatch
):
    """Planned on the statistics of empty tables, PostgreSQL looked identifiers up by reading every one
    of the type: the loader ANALYZEs as what it wrote doubles, and VACUUMs (ANALYZE) at the end. SQLite
    is left without statistics, as a production file is."""
    monkeypatch.setattr(loader, "ANALYZE_AFTER_RESOURCES", 20)
    engine = app.extensions["sicdoc.engine"]
    file = tmp_path / "six.ndjson"
    file.write_text("\n".join(next(population.glob("*.ndjson")).read_text().splitlines()[:6]) + "\n")
    analyzed: list[int] = []
    written: list[int] = []
    looked_up: set[str] = set()  # the tables the load's statements read
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:  # statistics of the emptied tables: none to plan by
            conn.exec_driver_sql("ANALYZE")

    def seen(_conn, _cursor, statement, _params, _ctx, _many) -> None:
        if statement.strip().upper().startswith(("ANALYZE", "VACUUM (ANALYZE)")):
            analyzed.append(len(written))
            if not statement.startswith("VACUUM (ANALYZE) "):
                assert statement.strip() == f"ANALYZE {', '.join(loader.LOAD_PLANNED_TABLES)}"
        elif statement.lstrip().upper().startswith(("SELECT", "WITH")):
            looked_up.update(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)\b", statement, flags=re.IGNORECASE))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        report = loader.load_paths(app, [file], batch_size=1, progress=lambda _b, _p: written.append(1))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert report.loaded == 6 and report.resources > 40
    if engine.dialect.name == "sqlite":
        assert analyzed == []
        return
    # After the batch that passed 20 resources, after the one that doubled that, ..., and at the end.
    assert 2 <= len(analyzed) < 6 and analyzed[-1] == 6
    # Only the tables the load looks up are analysed while it runs: a statement reading another
    # would be planned on the statistics of an empty table.
    catalog = {"pg_class", "unnest"}
    assert looked_up - catalog <= set(loader.LOAD_PLANNED_TABLES), looked_up
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = 'search_token'").scalar()
        # The end's is a VACUUM: every page the load wrote is marked all-visible, so that index-only
        # scans read no table page (ANALYZE alone leaves that to autovacuum, whenever it comes).
        visible, pages = conn.exec_driver_sql(
            "SELECT relallvisible, relpages FROM pg_class WHERE relname = 'resource'"
        ).one()
    assert rows > 0  # -1 until the table is first analyzed
    assert pages > 0 and visible == pages


def test_the_closing_vacuum_takes_only_the_tables_a_load_changed_by_a_tenth(app, tmp_path, population):
    """VACUUM (ANALYZE) of every table ended every PostgreSQL load: 11-13 s at a million patients with
    nothing to vacuum, a quarter of a load of 5,000 more. A load that adds little to a large store now
    leaves its tables to autovacuum; one that adds a tenth or more vacuums them."""
    engine = app.extensions["sicdoc.engine"]
    lines = next(population.glob("*.ndjson")).read_text().splitlines()
    loads = {"first": lines[:100], "few": lines[100:103], "many": lines[103:163]}
    if engine.dialect.name == "postgresql":
        # A store whose tables hold only what this test loads (earlier tests' rows were deleted, which
        # leaves their pages for the new rows to fill): a table grows page by page, as a real one does.
        store = [t.name for t in Base.metadata.sorted_tables if not t.name.startswith("audit_")]
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(store)}")
    vacuumed: dict[str, set[str]] = {}  # each load's name, and the tables its closing VACUUM took

    def seen(_conn, _cursor, statement, _params, _ctx, _many) -> None:
        if statement.upper().startswith("VACUUM"):
            named = statement.removeprefix("VACUUM (ANALYZE)").strip()  # none named: every table
            vacuumed[list(vacuumed)[-1]].update(named.split(", ") if named else Base.metadata.tables)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for name, bundles in loads.items():
            file = tmp_path / f"{name}.ndjson"
            file.write_text("\n".join(bundles) + "\n")
            vacuumed[name] = set()
            assert not loader.load_paths(app, [file]).rejected
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    if engine.dialect.name == "sqlite":
        assert vacuumed == {"first": set(), "few": set(), "many": set()}  # SQLite's loader never vacuums
        return
    largest = {"resource", "resource_version", "search_token", "search_reference"}
    assert largest <= vacuumed["first"]
    assert not largest & vacuumed["few"], vacuumed["few"]  # 3 patients added to 100: 3% of these tables
    assert largest <= vacuumed["many"]
    with engine.connect() as conn:
        visible, pages = conn.exec_driver_sql(
            "SELECT relallvisible, relpages FROM pg_class WHERE relname = 'resource'"
        ).one()
    assert pages > 0 and visible == pages


def test_ctrl_c_does_not_wait_for_the_closing_vacuum(app, tmp_path, population, monkeypatch):
    """The VACUUM that ends a PostgreSQL load takes minutes at a million patients: Ctrl-C stops
    without it, as it stopped before the batches were counted between them."""
    file = tmp_path / "four.ndjson"
    file.write_text("\n".join(next(population.glob("*.ndjson")).read_text().splitlines()[:4]) + "\n")
    committed = bulk.load_batch

    def then_interrupted(*args, **kwargs):
        outcomes = committed(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return outcomes

    vacuumed: list[str] = []
    monkeypatch.setattr(bulk, "load_batch", then_interrupted)
    monkeypatch.setattr(loader, "_vacuum", lambda engine: vacuumed.append(engine.dialect.name))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loader.load_paths(app, [file], batch_size=2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert vacuumed == []
    assert table_counts(app)["patient_fact"] == 2
    monkeypatch.setattr(bulk, "load_batch", committed)
    loader.load_paths(app, [file], batch_size=2)  # resumed and finished: now it vacuums
    assert vacuumed == (
        ["postgresql"] if app.extensions["sicdoc.engine"].dialect.name == "postgresql" else []
    )
