"""A batched load writes exactly the rows that one transaction per bundle writes, on both databases.

The store is read table by table with the server-assigned parts made comparable: every resource id
becomes its type and identifiers, and the instants a write is stamped with are dropped.
"""

import re
from collections import Counter
from pathlib import Path

import orjson
import pytest
from sqlalchemy import inspect, text

from sicdoc.db import session_scope
from sicdoc.errors import InvalidInput
from sicdoc.loader import load_paths
from sicdoc.sample.writer import generate
from sicdoc.security import audit, chain
from sicdoc.services.bulk import CLI_CLIENT
from sicdoc.services.bundles import check_transaction, process_transaction
from sicdoc.services.unit import EVERYTHING, UnitOfWork
from tests.conftest import AUDIT_TABLES, _empty

PATIENTS = 24
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Stamped by the server at write time: they differ between any two loads.
_STAMPED = re.compile(r'"(lastUpdated|lastModified|timestamp)":"[^"]*"')
_SKIPPED_COLUMNS = {"pk", "last_updated", "received", "recorded", "computed_at", "updated_at"}


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batched") / "ndjson"
    generate(PATIENTS, 5, out, "ndjson")
    return next(out.glob("*.ndjson"))


def _one_per_transaction(app, population: Path) -> None:
    store = app.extensions["sicdoc.store"]
    with session_scope(app) as session:
        for line in population.read_bytes().splitlines():
            uow = UnitOfWork(session, store, audit.SYSTEM, EVERYTHING, "cli")
            process_transaction(uow, orjson.loads(line), client_id=CLI_CLIENT)


def _labels(conn) -> dict[str, str]:
    """Resource id -> its type and identifiers (every generated resource carries one)."""
    labels = {}
    for rtype, rid, content in conn.execute(text("SELECT resource_type, id, content FROM resource")):
        body = content if isinstance(content, dict) else orjson.loads(content)
        found = body.get("identifier") or []
        found = [found] if isinstance(found, dict) else found  # Composition and others have one
        idents = sorted(f"{i.get('system')}|{i.get('value')}" for i in found)
        labels[rid] = f"{rtype}[{','.join(idents)}]"
    return labels


def _comparable(value, labels: dict[str, str]) -> str:
    if isinstance(value, dict | list):
        value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    elif isinstance(value, str) and value[:1] in ("{", "["):
        value = orjson.dumps(orjson.loads(value), option=orjson.OPT_SORT_KEYS).decode()
    text_value = _STAMPED.sub(r'"\1":_', str(value))
    return _UUID.sub(lambda m: labels.get(m.group(0), "unknown-id"), text_value)


def _snapshot(app) -> dict[str, Counter]:
    engine = app.extensions["sicdoc.engine"]
    tables = {}
    with engine.connect() as conn:
        labels = _labels(conn)
        for name in sorted(inspect(conn).get_table_names()):
            if name in AUDIT_TABLES or name == "alembic_version":
                continue
            columns = [
                c["name"] for c in inspect(conn).get_columns(name) if c["name"] not in _SKIPPED_COLUMNS
            ]
            rows = conn.execute(text(f"SELECT {', '.join(columns)} FROM {name}")).all()
            tables[name] = Counter(tuple(_comparable(v, labels) for v in row) for row in rows)
        records = Counter(
            (action, rtype, labels.get(pid or "", pid))
            for action, rtype, pid in conn.execute(
                text("SELECT action, resource_type, patient_id FROM audit_event")
            )
        )
    tables["audit_event"] = records
    return tables


def test_a_batched_load_writes_the_same_rows_as_one_transaction_per_bundle(app, population):
    _one_per_transaction(app, population)
    one_by_one = _snapshot(app)
    assert sum(one_by_one["resource"].values()) > 5 * PATIENTS
    _empty(app.extensions["sicdoc.engine"])
    # Batches of 7: several batches, the shared Organization created in the first and matched after.
    report = load_paths(app, [population], batch_size=7)
    assert report.rejected == []
    batched = _snapshot(app)
    for table in one_by_one:
        assert batched[table] == one_by_one[table], table
    with session_scope(app) as session:
        assert chain.verify(session).intact


def test_a_batch_with_an_update_between_plain_bundles_writes_the_same_rows(app, population, tmp_path):
    """A bundle that updates makes the batch write what it holds first; the result is the same."""
    lines = population.read_bytes().splitlines()[:6]
    update = orjson.loads(lines[2])
    organization = next(e for e in update["entry"] if e["request"]["url"] == "Organization")
    criteria = organization["request"].pop("ifNoneExist")
    organization["request"] = {"method": "PUT", "url": f"Organization?{criteria}"}
    organization["resource"]["name"] = "Renamed"
    lines[2] = orjson.dumps(update)
    source = tmp_path / "mixed.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    _one_per_transaction(app, source)
    one_by_one = _snapshot(app)
    _empty(app.extensions["sicdoc.engine"])
    assert load_paths(app, [source], batch_size=6).rejected == []
    assert _snapshot(app) == one_by_one


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_held_row_refused_when_the_batch_is_written_is_reported_for_its_bundle(
    app, population, tmp_path, jobs
):
    """A unique identifier taken in an earlier load is only refused by the database, when the batch
    writes its held rows: the batch runs again bundle by bundle and reports the one that broke it
    (with workers too, from the bundles as received)."""
    lines = population.read_bytes().splitlines()
    assert load_paths(app, [_write(tmp_path / "first.ndjson", lines[:1])]).rejected == []
    patient = next(e for e in orjson.loads(lines[0])["entry"] if e["request"]["url"] == "Patient")
    again = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": patient["resource"], "request": {"method": "POST", "url": "Patient"}}],
    }
    source = _write(tmp_path / "second.ndjson", [lines[1], orjson.dumps(again), lines[2]])
    report = load_paths(app, [source], batch_size=10, jobs=jobs)
    assert [label for label, _ in report.rejected] == [f"{source}:2"]
    assert "identifier is already used" in report.rejected[0][1]
    assert report.loaded == 2
    with session_scope(app) as session:
        assert chain.verify(session).intact
        patients = session.scalar(text("SELECT count(*) FROM patient_fact"))
    assert patients == 3


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_an_entry_that_passed_earlier_in_a_load_still_needs_its_own_full_url():
    entry = {
        "fullUrl": "urn:uuid:8f1c2a7e-52b1-4b8e-9d0c-1f2e3d4c5b6a",
        "resource": {"resourceType": "Organization", "name": "Prairie Lantern Hospital"},
        "request": {"method": "POST", "url": "Organization"},
    }
    passed: dict[bytes, None] = {}
    check_transaction({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}, 10, passed)
    assert passed
    twice = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, entry]}
    with pytest.raises(InvalidInput, match="appears twice"):
        check_transaction(twice, 10, passed)
