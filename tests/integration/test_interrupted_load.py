"""A ``sicdoc load`` stopped by Ctrl-C, kill or kill -9 keeps whole batches only, and running it again finishes
the load: the bundles already stored answer unchanged and the store equals an uninterrupted load.

The load runs as a real process in its own process group, as from a terminal, so Ctrl-C reaches it
(and its worker processes) the way a keyboard's does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from sicdoc.cli import main
from sicdoc.codes import MRN_SYSTEM
from sicdoc.loader import load_paths
from sicdoc.sample.writer import generate
from tests.conftest import ROOT, _empty

BUNDLES = 240
BATCH = 20
# Resources every bundle matches by identifier rather than owns: stored once, in no patient's compartment.
SHARED = {"Organization", "Location", "Practitioner", "PractitionerRole"}
INTERRUPTED = "interrupted: {n} bundles loaded, 0 unchanged; run the same command again to continue"

# What an uninterrupted load leaves, per backend (the population is the same for every test).
_clean: dict[str, dict[str, object]] = {}


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interrupted") / "ndjson"
    report = generate(BUNDLES, 7, out, "ndjson")
    assert report.duplicates == 0  # one receipt per line
    return next(out.glob("*.ndjson"))


def _bundle_members(population: Path) -> dict[str, Counter[str]]:
    """MRN -> the resource types its bundle owns, from the bundle's own entries."""
    owned: dict[str, Counter[str]] = {}
    for line in population.read_text().splitlines():
        resources = [e["resource"] for e in json.loads(line)["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        mrn = next(i["value"] for i in patient["identifier"] if i["system"] == MRN_SYSTEM)
        owned[mrn] = Counter(r["resourceType"] for r in resources if r["resourceType"] not in SHARED)
    return owned


def _stored(app) -> dict[str, object]:
    """Resources per type, receipts, and MRN -> the resource types in that patient's compartment."""
    with app.extensions["sicdoc.engine"].connect() as conn:
        types = Counter(
            dict(
                conn.execute(
                    text(
                        "SELECT resource_type, count(*) FROM resource WHERE NOT deleted GROUP BY resource_type"
                    )
                ).all()
            )
        )
        receipts = conn.execute(text("SELECT count(*) FROM bundle_receipt")).scalar_one()
        rows = conn.execute(
            text(
                "SELECT b.value, c.resource_type FROM patient_compartment c JOIN business_identifier b "
                "ON b.resource_type = 'Patient' AND b.resource_id = c.patient_id AND b.system = :mrn"
            ),
            {"mrn": MRN_SYSTEM},
        ).all()
    members: dict[str, Counter[str]] = {}
    for mrn, resource_type in rows:
        members.setdefault(mrn, Counter())[resource_type] += 1
    return {"types": types, "receipts": receipts, "members": members}


def _clean_load(app, population: Path) -> dict[str, object]:
    """The store an uninterrupted load leaves on this backend (loaded once, then emptied again)."""
    backend = app.extensions["sicdoc.engine"].dialect.name
    if backend not in _clean:
        assert load_paths(app, [population], batch_size=100).rejected == []
        _clean[backend] = _stored(app)
        _empty(app.extensions["sicdoc.engine"])
    clean = _clean[backend]
    assert clean["members"] == _bundle_members(population)
    assert clean["receipts"] == BUNDLES
    return clean


def _patients(app) -> int:
    try:
        with app.extensions["sicdoc.engine"].connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM resource WHERE resource_type = 'Patient'")
            ).scalar_one()
    except OperationalError:  # the writer holds a lock for a moment
        return 0


def _own_process_group() -> None:
    """In the child: a process group of its own (as a terminal's foreground job), and Ctrl-C not
    ignored even when the test run itself was started in the background."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(app, population: Path, database_url: str, sig: signal.Signals, jobs: int) -> tuple[int, str]:
    """Start ``sicdoc load``, wait until a batch has committed, send ``sig`` to its process group;
    its exit status and what it wrote to stderr."""
    env = {**os.environ, "SICDOC_DATABASE_URL": database_url, "SICDOC_TESTING": "true"}
    command = [sys.executable, "-m", "sicdoc.cli", "load", "--quiet", "--batch-size", str(BATCH)]
    proc = subprocess.Popen(
        [*command, "--jobs", str(jobs), str(population)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_own_process_group,
    )
    try:
        deadline = time.monotonic() + 60
        while _patients(app) == 0:
            assert proc.poll() is None, f"the load ended before any batch was seen: {proc.communicate()}"
            assert time.monotonic() < deadline, "no batch committed within 60 s"
            time.sleep(0.05)
        assert proc.poll() is None, "the load finished before it could be interrupted"
        os.killpg(proc.pid, sig)
        sent = time.monotonic()
        _out, err = proc.communicate(timeout=15)
        assert time.monotonic() - sent < 10, "the load took too long to stop"
        return proc.returncode, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _only_whole_bundles(app, clean: dict[str, object]) -> int:
    """Every stored patient has its whole bundle, receipts match, and only whole batches are there."""
    stored = _stored(app)
    members = stored["members"]
    assert isinstance(members, dict) and members
    for mrn, types in members.items():
        assert types == clean["members"][mrn], f"patient {mrn} is stored without all of its bundle"
    assert stored["receipts"] == len(members)
    assert len(members) % BATCH == 0 and len(members) < BUNDLES
    return len(members)


def _finish_and_compare(app, population: Path, clean: dict[str, object], done: int) -> None:
    runner = CliRunner()
    obj = {"app": app, "overrides": {}}
    again = runner.invoke(main, ["load", "--quiet", "--batch-size", str(BATCH), str(population)], obj=obj)
    assert again.exit_code == 0, again.output
    assert f"loaded {BUNDLES - done} bundles (" in again.output
    assert f", {done} unchanged, 0 rejected" in again.output
    assert _stored(app) == clean
    verified = runner.invoke(main, ["audit", "verify"], obj=obj)
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.output


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_with_one_line_keeps_whole_batches_and_the_same_command_finishes(
    app, database_url, population, jobs
):
    clean = _clean_load(app, population)
    status, err = _interrupt(app, population, database_url, signal.SIGINT, jobs)
    assert "Traceback" not in err
    done = _only_whole_bundles(app, clean)
    assert status == 130
    assert err.strip() == INTERRUPTED.format(n=done)
    _finish_and_compare(app, population, clean, done)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "kill"])
def test_a_killed_load_leaves_whole_batches_only_and_the_same_command_finishes(
    app, database_url, population, sig, jobs
):
    clean = _clean_load(app, population)
    status, _err = _interrupt(app, population, database_url, sig, jobs)
    assert status == -sig
    done = _only_whole_bundles(app, clean)
    _finish_and_compare(app, population, clean, done)


def test_ctrl_c_while_the_demo_loads_its_sample_stops_the_demo(app, population, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    def serve(*_args, **_kwargs):
        raise AssertionError("the demo must not serve after Ctrl-C")

    monkeypatch.setattr("sicdoc.loader.load_paths", interrupted)
    monkeypatch.setattr("sicdoc.serve.run", serve)
    result = CliRunner().invoke(
        main, ["demo", "--sample", str(population.parent)], obj={"app": app, "overrides": {}}
    )
    assert result.exit_code == 130
    assert INTERRUPTED.format(n=0) in result.output
    assert "rejected" not in result.output
