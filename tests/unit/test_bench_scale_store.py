"""The million-patient benchmark's load file by file (``bench/scale_store.py``)."""

import pytest
from sqlalchemy import create_engine

from bench.scale_store import load_discarding, store_for
from bench.sicdoc_cli import sicdoc
from sicdoc.sample.writer import generate


@pytest.mark.slow
def test_a_load_file_by_file_leaves_the_store_vacuumed_as_one_load_would(tmp_path, postgresql_url):
    """Each ``sicdoc load`` VACUUMs only the tables it grew by a tenth, which a million patients' last
    files do not: the benchmark's closing VACUUM marks their pages, as one load of them all would."""
    generate(42, 4, tmp_path / "generated", "ndjson")
    bundles = next((tmp_path / "generated").glob("*.ndjson")).read_text().splitlines(keepends=True)
    folder = tmp_path / "population"
    folder.mkdir()
    (folder / "a.ndjson").write_text("".join(bundles[:40]))
    (folder / "b.ndjson").write_text("".join(bundles[40:42]))  # 2 patients added to 40
    store = store_for("postgresql", 42, 4, None, tmp_path)
    store.fresh()
    try:
        sicdoc(store.url, "migrate")
        figures = load_discarding(store, folder, jobs=1)
        engine = create_engine(store.url)
        with engine.begin() as conn:  # the visibility map itself: pg_class holds the last VACUUM's count
            conn.exec_driver_sql("CREATE EXTENSION pg_visibility")
            visible, pages = conn.exec_driver_sql(
                "SELECT all_visible, pg_relation_size('resource') / current_setting('block_size')::int"
                " FROM pg_visibility_map_summary('resource')"
            ).one()
        engine.dispose()
    finally:
        store.drop()
    assert not folder.exists()
    assert figures["files"] == 2 and figures["patients"] == 42 and figures["rejected"] == 0
    assert pages > 0 and visible == pages
    assert figures["closing_vacuum_s"] > 0
