"""``sicdoc load --jobs N``: on PostgreSQL the workers write batches side by side."""

import gc
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sicdoc import load_jobs
from sicdoc.collector import YOUNG_THRESHOLD
from sicdoc.db import session_scope
from sicdoc.loader import LoadReport, _batches, load_paths
from sicdoc.sample.writer import generate
from sicdoc.security import chain
from sicdoc.services.matching import lock_keys
from tests.web.fhir_helpers import table_counts

LOCK = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)")


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jobs") / "ndjson"
    generate(12, 5, out, "ndjson")
    return next(out.glob("*.ndjson"))


def _patient_criteria(line: str) -> str:
    bundle = json.loads(line)
    return next(e for e in bundle["entry"] if e["request"]["url"] == "Patient")["request"]["ifNoneExist"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_batch_held_up_on_postgresql_does_not_hold_up_the_others(app, population, tmp_path):
    """One writer took turns with the server: while it planned a batch the server waited, and while
    the server wrote the writer waited. With two writing workers a batch that waits (here on another
    writer holding its patient's criteria) leaves the other worker writing the batches after it; the
    outcomes still come in file order and the audit chain verifies."""
    lines = population.read_text().splitlines()
    lines[9] = "{not json"
    file = tmp_path / "twelve.ndjson"
    file.write_text("\n".join(lines) + "\n")
    holder = app.extensions["sicdoc.engine"].connect()
    holder.begin()
    holder.execute(LOCK, {"keys": sorted(lock_keys([("Patient", _patient_criteria(lines[0]))]))})
    report = LoadReport()
    loading = threading.Thread(
        target=load_paths, args=(app, [file]), kwargs={"batch_size": 2, "jobs": 2, "report": report}
    )
    loading.start()
    try:
        deadline, stored = time.monotonic() + 60, 0
        while stored < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            stored = table_counts(app)["patient_fact"]
        assert stored >= 4  # later batches committed while the first waits
        assert report.loaded == 0  # counted in file order: nothing before the first batch
    finally:
        holder.rollback()
        holder.close()
    loading.join(60)
    assert not loading.is_alive()
    assert report.loaded == 11 and table_counts(app)["patient_fact"] == 11
    assert report.rejected == [(f"{file}:10", "Body is not valid JSON")]
    with session_scope(app) as session:
        assert chain.verify(session).intact


def _first_batch(population: Path) -> list:
    batch, _consumed = next(_batches([population], 3))
    return batch


def test_a_checking_worker_collects_as_the_loading_process_does(population):
    """A worker is a spawned interpreter, with the collector's defaults: a young collection every
    700 new objects, and full collections that walk the app and the FHIR models again and again. It
    is set as the loading process sets itself, and after its first batch what it keeps is frozen."""
    pool = load_jobs._pool(1, load_jobs._start_worker, ())
    try:
        assert pool.submit(gc.get_threshold).result(timeout=60)[0] == YOUNG_THRESHOLD
        assert pool.submit(gc.get_freeze_count).result(timeout=60) == 0
        checked = pool.submit(load_jobs._check_batch, _first_batch(population), 100).result(timeout=60)
        assert [raw.problem for raw in checked] == [None, None, None]
        # The FHIR models and rules loaded for the first check are among what is kept.
        assert pool.submit(gc.get_freeze_count).result(timeout=60) > 10_000
    finally:
        pool.shutdown()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_writing_worker_collects_as_the_loading_process_does(app, population):
    config = {k: v for k, v in app.config.items() if k.isupper() and load_jobs._plain(v)}
    pool = load_jobs._pool(1, load_jobs._start_writer, (config, 2))
    try:
        assert pool.submit(gc.get_threshold).result(timeout=60)[0] == YOUNG_THRESHOLD
        outcomes = pool.submit(load_jobs._write_batch, _first_batch(population)).result(timeout=60)
        assert [o.problem for o in outcomes] == [None, None, None]
        assert pool.submit(gc.get_freeze_count).result(timeout=60) > 10_000
    finally:
        pool.shutdown()
    assert table_counts(app)["patient_fact"] == 3
