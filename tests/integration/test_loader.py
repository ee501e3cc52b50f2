"""``sicdoc load``: generated populations load idempotently; bad files are reported and change nothing."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sicdoc.cli import main
from sicdoc.sample.writer import generate
from tests.web.fhir_helpers import table_counts


def run_load(app, *paths):
    runner = CliRunner()
    return runner.invoke(
        main, ["load", "--quiet", *map(str, paths)], obj={"app": app, "overrides": {}}, catch_exceptions=False
    )


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("population") / "ndjson"
    generate(1000, 5, out, "ndjson")
    return out


@pytest.mark.slow
def test_loading_1000_patients_twice_leaves_the_same_counts(app, population):
    first = run_load(app, population)
    assert first.exit_code == 0, first.output
    assert "rejected" in first.output and "0 rejected" in first.output
    counts = table_counts(app)
    assert counts["patient_fact"] == 1000
    assert counts["conversation"] > 50
    assert counts["palliative_referral"] > 50
    second = run_load(app, population)
    assert second.exit_code == 0, second.output
    assert "loaded 0 bundles" in second.output
    assert table_counts(app) == counts


def test_bad_files_are_reported_by_name_and_the_rest_loads(app, tmp_path, population):
    good = tmp_path / "good.ndjson"
    lines = next(population.glob("*.ndjson")).read_text().splitlines()[:3]
    good.write_text("\n".join(lines) + "\n")
    (tmp_path / "broken.json").write_text("{not json")
    invalid = json.loads(lines[0])
    patient_entry = next(e for e in invalid["entry"] if e["resource"]["resourceType"] == "Patient")
    patient_entry["resource"]["gender"] = "F"
    (tmp_path / "invalid.json").write_text(json.dumps(invalid))
    result = run_load(app, tmp_path, tmp_path / "missing.json")
    assert result.exit_code == 1
    assert "broken.json: Body is not valid JSON" in result.output
    assert "invalid.json: 'F' is not an allowed code at Bundle.entry[" in result.output
    assert "missing.json: no such file or folder" in result.output
    assert "loaded 3 bundles" in result.output
    assert table_counts(app)["patient_fact"] == 3


def test_the_loader_alone_works_with_a_large_sqlite_page_cache(app, tmp_path, population):
    """SQLite's 2 MiB default cache made a large load re-read and re-write the same index pages, and
    its default checkpoint copied them after every batch; the loader's connections get LOAD_CACHE_KIB
    and a checkpoint past LOAD_CHECKPOINT_PAGES, and the server's connections keep the defaults."""
    from sicdoc.loader import LOAD_CACHE_KIB, LOAD_CHECKPOINT_PAGES, load_paths

    engine = app.extensions["sicdoc.engine"]
    sqlite = engine.dialect.name == "sqlite"
    file = tmp_path / "three.ndjson"
    file.write_text("\n".join(next(population.glob("*.ndjson")).read_text().splitlines()[:3]) + "\n")

    def cache_size() -> tuple[int, int] | None:
        if not sqlite:
            return None
        with engine.connect() as conn:
            pragma = conn.exec_driver_sql
            return pragma("PRAGMA cache_size").scalar(), pragma("PRAGMA wal_autocheckpoint").scalar()

    before = cache_size()
    during: list[int | None] = []
    report = load_paths(
        app, [file], batch_size=1, progress=lambda _bytes, _patients: during.append(cache_size())
    )
    assert report.loaded == 3 and not report.rejected
    assert len(during) == 3
    if sqlite:
        assert before == (-2000, 1000)  # SQLite's defaults: 2 MiB, 1,000 pages
        # A thread copies the log every LOAD_CHECKPOINT_SECONDS; the writer's own copy waits for 4x.
        assert during == [(-LOAD_CACHE_KIB, 4 * LOAD_CHECKPOINT_PAGES)] * 3
        assert cache_size() == before
    else:
        assert before is None and set(during) == {None}


def test_ctrl_c_just_after_a_batch_commits_still_counts_that_batch(app, tmp_path, population, monkeypatch):
    """Ctrl-C arriving between a batch's commit and its tally once left the report a batch short of what
    was stored, so 'interrupted: N bundles loaded' under-counted."""
    import os
    import signal

    from sicdoc import loader
    from sicdoc.services import bulk

    file = tmp_path / "six.ndjson"
    file.write_text("\n".join(next(population.glob("*.ndjson")).read_text().splitlines()[:6]) + "\n")
    committed = bulk.load_batch
    batches: list[int] = []

    def then_interrupted(*args, **kwargs):
        outcomes = committed(*args, **kwargs)
        batches.append(len(outcomes))
        if len(batches) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return outcomes

    monkeypatch.setattr(bulk, "load_batch", then_interrupted)
    report = loader.LoadReport()
    # As at a terminal: a run started in the background inherits Ctrl-C ignored, and the loader leaves it so.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            loader.load_paths(app, [file], batch_size=2, report=report)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert batches == [2, 2]
    assert report.loaded == 4 == table_counts(app)["patient_fact"]


def _organisations(b: int) -> str:
    """A bundle of 500 conditional creates, each on its own identifier."""
    entries = [
        {
            "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{b:06d}{i:06d}",
            "request": {
                "method": "POST",
                "url": "Organization",
                "ifNoneExist": f"identifier=urn:example:org|{b}-{i}",
            },
            "resource": {
                "resourceType": "Organization",
                "identifier": [{"system": "urn:example:org", "value": f"{b}-{i}"}],
                "name": f"Practice {b}-{i}",
            },
        }
        for i in range(500)
    ]
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def test_bundles_of_many_conditional_creates_load_within_postgresql_lock_table(app, tmp_path):
    """A batch of 40 bundles of 500 conditional creates each stopped the load on PostgreSQL with 'out of
    shared memory': each create is serialised by an advisory lock held to the commit, and 20,000 in one
    transaction overflow the server's lock table (64 per connection by default, shared by all). The
    batch now commits in parts that stay within ``bulk.LOCKS_PER_TRANSACTION``, and every bundle loads."""
    from sqlalchemy import event

    from sicdoc.services import bulk

    file = tmp_path / "organisations.ndjson"
    file.write_text("".join(_organisations(b) + "\n" for b in range(40)))
    engine = app.extensions["sicdoc.engine"]
    locked: list[int] = [0]  # advisory locks taken in each transaction, in order

    def seen(_conn, _cursor, statement, params, _ctx, _many) -> None:
        if "pg_advisory_xact_lock" in statement:
            locked[-1] += len(params["keys"])

    def committed(_conn) -> None:
        locked.append(0)

    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "commit", committed)
    try:
        result = run_load(app, file)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "commit", committed)
    assert result.exit_code == 0, result.output
    assert "loaded 40 bundles" in result.output and "0 rejected" in result.output
    assert table_counts(app)["resource"] == 20_000
    if engine.dialect.name == "postgresql":
        assert sum(locked) == 20_000
        assert 0 < max(locked) <= bulk.LOCKS_PER_TRANSACTION


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_writers_loading_side_by_side_share_the_postgresql_lock_table(app, tmp_path):
    """Four writing workers each holding up to ``bulk.LOCKS_PER_TRANSACTION`` advisory locks at once
    ran the server out of shared memory; they share that many between them."""
    file = tmp_path / "organisations.ndjson"
    file.write_text("".join(_organisations(b) + "\n" for b in range(40)))
    result = run_load(app, "--jobs", "4", "--batch-size", "10", file)
    assert result.exit_code == 0, result.output
    assert "loaded 40 bundles" in result.output and "0 rejected" in result.output
    assert table_counts(app)["resource"] == 20_000


def test_a_load_stopped_by_the_database_says_what_it_stored_and_resumes(
    app, tmp_path, population, monkeypatch
):
    """A database lost in the middle of a load once ended it in a traceback, with no word of what the
    batches before had stored or that running it again continues."""
    from sqlalchemy.exc import OperationalError

    from sicdoc.services import bulk

    file = tmp_path / "six.ndjson"
    file.write_text("\n".join(next(population.glob("*.ndjson")).read_text().splitlines()[:6]) + "\n")
    writes = bulk.load_batch
    calls: list[int] = []

    def lost_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
        return writes(*args, **kwargs)

    monkeypatch.setattr(bulk, "load_batch", lost_at_the_third)
    runner = CliRunner()
    args = ["load", "--quiet", "--batch-size", "2", str(file)]
    stopped = runner.invoke(main, args, obj={"app": app, "overrides": {}})
    assert stopped.exit_code == 1
    assert "stopped: 4 bundles loaded, 0 unchanged; run the same command again to continue" in stopped.output
    assert "Error: database: server closed the connection unexpectedly" in stopped.output
    assert "Traceback" not in stopped.output
    assert table_counts(app)["patient_fact"] == 4
    monkeypatch.setattr(bulk, "load_batch", writes)
    again = runner.invoke(main, args, obj={"app": app, "overrides": {}})
    assert again.exit_code == 0, again.output
    assert "loaded 2 bundles" in again.output and "4 unchanged" in again.output
    assert table_counts(app)["patient_fact"] == 6


@pytest.mark.parametrize("stop", ["database", "ctrl-c"])
def test_a_load_stopped_early_lists_what_it_rejected_before_the_stop(
    app, tmp_path, population, monkeypatch, stop
):
    """A stopped load once printed only what it had stored: a bundle rejected in a stored batch went
    unmentioned, though running the command again cannot load it until it is mended."""
    from sqlalchemy.exc import OperationalError

    from sicdoc.services import bulk

    lines = next(population.glob("*.ndjson")).read_text().splitlines()[:6]
    lines[1] = "{not json"
    file = tmp_path / "six.ndjson"
    file.write_text("\n".join(lines) + "\n")
    writes = bulk.load_batch
    calls: list[int] = []

    def stops_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))
        return writes(*args, **kwargs)

    monkeypatch.setattr(bulk, "load_batch", stops_at_the_third)
    args = ["load", "--quiet", "--batch-size", "2", str(file)]
    result = CliRunner().invoke(main, args, obj={"app": app, "overrides": {}})
    assert result.exit_code == (130 if stop == "ctrl-c" else 1)
    word = "interrupted" if stop == "ctrl-c" else "stopped"
    rejected = f"rejected {file}:2: Body is not valid JSON"
    summary = f"{word}: 3 bundles loaded, 0 unchanged; run the same command again to continue"
    assert rejected in result.output and summary in result.output
    assert result.output.index(rejected) < result.output.index(summary)
    assert table_counts(app)["patient_fact"] == 3
