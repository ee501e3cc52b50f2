"""The service's worklist pages (sicdoc.dashboards.worklists): filters, paging, the count, no copy."""

import tracemalloc

import pandas as pd
import pytest
from sqlalchemy import create_engine

from sicdoc.analytics.scope import parse_scope
from sicdoc.analytics.served_worklist import Worklist
from sicdoc.analytics.worklist import CATEGORICAL, worklist
from sicdoc.dashboards import worklists
from sicdoc.dashboards.service import AnalyticsService, today_utc
from tests.unit.worklist_cohort import AS_OF, frames

SCOPE = parse_scope({"as_of": AS_OF.isoformat()}, today=today_utc())


def big_table(copies: int) -> pd.DataFrame:
    """The small worklist repeated ``copies`` times under new patient ids, as the analytics keep it."""
    one = worklist(frames(), as_of=AS_OF)
    table = pd.concat([one] * copies, ignore_index=True)
    table["patient_id"] = [f"p{i}" for i in range(len(table))]
    table["in_hospital"] = table.index % 3 == 0
    return table.astype({c: "category" for c in CATEGORICAL})


@pytest.fixture
def service(monkeypatch):
    def serve(table: pd.DataFrame) -> AnalyticsService:
        analytics = AnalyticsService(create_engine("sqlite://"), {}, "test")
        held = Worklist.of(table)
        monkeypatch.setattr(analytics, "_worklist_table", lambda scope: held)
        monkeypatch.setattr(
            worklists,
            "patient_labels",
            lambda conn, ids, system: {p: {"name": f"Name {p}", "mrn": f"M{p}"} for p in ids},
        )
        return analytics

    return serve


def test_filters_page_and_count(service):
    table = big_table(4)  # 20 rows, every third in hospital
    analytics = service(table)
    top, total = analytics.worklist(SCOPE, in_hospital=True, hide={"p0"}, offset=1, limit=2)
    in_hospital = [p for i, p in enumerate(table["patient_id"]) if i % 3 == 0 and p != "p0"]
    assert total == len(in_hospital) == 6
    assert top["patient_id"].tolist() == in_hospital[1:3]
    assert top["name"].tolist() == [f"Name {p}" for p in in_hospital[1:3]]
    mine, total = analytics.worklist(SCOPE, only={"p4", "p5", "unknown"})
    assert (mine["patient_id"].tolist(), total) == (["p4", "p5"], 2)


@pytest.mark.parametrize("hidden", [1, 500])
def test_a_page_does_not_copy_the_table(service, hidden):
    # A hospital's worklist is tens of megabytes and four views at once share a worker: what one view
    # allocates must be the page and a few bytes per row, not another table, however many patients a
    # ward has snoozed (numpy's own look-up of many byte strings sorts a copy of them all).
    table = big_table(40_000)  # 200,000 rows
    analytics = service(table)
    held = Worklist.of(table)
    size = int(held.rows.memory_usage(index=True, deep=False).sum()) + held.ids.nbytes
    hide = {f"p{n}" for n in range(1, 400 * hidden, 400)}
    tracemalloc.start()
    try:
        top, total = analytics.worklist(SCOPE, hide=hide, limit=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (len(top), total) == (50, len(table) - hidden)
    assert peak < size / 3, f"a page allocated {peak:,} bytes for a table of {size:,}"
