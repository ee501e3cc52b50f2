"""A page of ``Patient/$everything`` is one range of the compartment table's primary key, never a scan."""

from __future__ import annotations

from sqlalchemy import text

from sicdoc.db import make_engine
from sicdoc.store.compartment import compartment_page_query


def _plan(database_url: str, statement) -> str:  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            lines = [row[-1] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        else:
            # Whatever rows earlier tests left behind, the question is whether an ordered index range
            # can serve the page; a bitmap scan (unordered, then sorted) is the planner's small-table choice.
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
            lines = [row[0] for row in conn.execute(text(f"EXPLAIN {sql}"))]
    engine.dispose()
    return "\n".join(lines)


def test_a_page_is_an_index_range_in_key_order(database_url):
    cursor = {"type": "Observation", "id": "x"}
    for statement in (
        compartment_page_query("p1", limit=51),
        compartment_page_query("p1", cursor=cursor, limit=51),
        compartment_page_query("p1", types={"Observation", "Patient"}, cursor=cursor, limit=51),
    ):
        plan = _plan(database_url, statement)
        assert "patient_compartment" in plan, plan
        if database_url.startswith("sqlite"):
            assert "SCAN patient_compartment" not in plan, plan
            assert "SCAN resource" not in plan, plan
            assert "TEMP B-TREE" not in plan, plan
        else:
            assert "Seq Scan" not in plan, plan
            assert "pk_patient_compartment" in plan, plan
            assert "Sort" not in plan, plan
    # The cursor bounds the key range itself rather than filtering the patient's rows.
    plan = _plan(database_url, compartment_page_query("p1", cursor=cursor, limit=51))
    assert "(resource_type,resource_id)>" in plan or "ROW(resource_type, resource_id) >" in plan, plan
