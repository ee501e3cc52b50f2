"""Bulk loading: many bundles per transaction, each still all or nothing, on both databases."""

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select, text

from sicdoc.cli import main
from sicdoc.db import session_scope
from sicdoc.fhir.search import parse_search
from sicdoc.loader import load_paths
from sicdoc.models.audit import AuditEvent
from sicdoc.sample.writer import generate
from sicdoc.security import chain
from sicdoc.services.bundles import bundle_key
from sicdoc.store.search import search
from tests.conftest import _empty
from tests.web.fhir_helpers import table_counts

PATIENTS = 30


@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bulk") / "ndjson"
    generate(PATIENTS, 11, out, "ndjson")
    return next(out.glob("*.ndjson"))


def run_load(app, *args):
    return CliRunner().invoke(
        main, ["load", *map(str, args)], obj={"app": app, "overrides": {}}, catch_exceptions=False
    )


def _with_bad_lines(population: Path, target: Path) -> tuple[list[str], str, str]:
    """The population with line 4 invalid and line 9 failing inside its transaction, after its creates."""
    lines = population.read_text().splitlines()
    invalid = json.loads(lines[3])
    patient = next(e for e in invalid["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["resource"]["gender"] = "F"
    lines[3] = json.dumps(invalid)
    late = json.loads(lines[8])
    # Its creates run first; then an update of a resource that does not exist at version 2 must fail.
    late["entry"].append(
        {
            "resource": {"resourceType": "Organization", "id": "absent", "name": "Nowhere"},
            "request": {"method": "PUT", "url": "Organization/absent", "ifMatch": 'W/"2"'},
        }
    )
    lines[8] = json.dumps(late)
    target.write_text("\n".join(lines) + "\n")
    mrn = next(e for e in late["entry"] if e["resource"]["resourceType"] == "Patient")["resource"]
    return lines, mrn["identifier"][0]["value"], f"{target}:9"


def _patients_with_mrn(app, mrn: str) -> int:
    request = parse_search("Patient", [("identifier", mrn)])
    with session_scope(app) as session:
        return len(search(session, request).matches)


def test_a_bad_bundle_is_reported_with_its_line_and_the_rest_of_its_batch_loads(app, population, tmp_path):
    source = tmp_path / "mixed.ndjson"
    lines, late_mrn, late_label = _with_bad_lines(population, source)
    result = run_load(app, "--quiet", "--batch-size", "50", source)
    assert result.exit_code == 1
    assert f"rejected {source}:4: 'F' is not an allowed code at Bundle.entry[" in result.output
    assert f"rejected {late_label}: " in result.output and "Organization/absent" in result.output
    assert "2 rejected" in result.output
    loaded = len(lines) - 2
    assert f"loaded {loaded - _duplicates(lines)} bundles" in result.output
    # The late failure's creates were rolled back with it; every other patient is there.
    assert _patients_with_mrn(app, late_mrn) == 0
    assert table_counts(app)["patient_fact"] == PATIENTS - 2


def _duplicates(lines: list[str]) -> int:
    return sum(n - 1 for n in Counter(lines).values())


def test_loading_twice_stores_nothing_new(app, population):
    first = run_load(app, "--quiet", "--batch-size", "7", population)
    assert first.exit_code == 0, first.output
    counts = table_counts(app)
    assert counts["patient_fact"] == PATIENTS
    # Bundles of one batch see each other's conditional creates: one row per shared identifier.
    shared = {
        (e["request"]["url"], e["request"]["ifNoneExist"])
        for line in population.read_text().splitlines()
        for e in json.loads(line)["entry"]
        if e["request"]["url"] in ("Organization", "Location", "Practitioner")
    }
    with app.extensions["sicdoc.engine"].connect() as conn:
        stored = conn.execute(
            text(
                "SELECT count(*) FROM resource WHERE resource_type IN ('Organization', 'Location', 'Practitioner')"
            )
        ).scalar()
    assert stored == len(shared)
    second = run_load(app, "--quiet", "--batch-size", "7", population)
    assert second.exit_code == 0, second.output
    assert "loaded 0 bundles (0 resources)" in second.output
    assert table_counts(app) == counts


def test_the_audit_chain_verifies_after_a_bulk_load_with_one_record_per_write(app, population, tmp_path):
    source = tmp_path / "mixed.ndjson"
    _with_bad_lines(population, source)
    report = load_paths(app, [source], batch_size=8)
    assert len(report.rejected) == 2
    with session_scope(app) as session:
        verdict = chain.verify(session)
        creates = session.scalar(
            select(text("count(*)")).select_from(AuditEvent).where(AuditEvent.action == "create")
        )
    assert verdict.intact, verdict.problem
    assert creates == report.resources


def _contents(app) -> dict:
    """What a load leaves, without the server-assigned ids: counts, projections and search answers."""
    with app.extensions["sicdoc.engine"].connect() as conn:
        facts = Counter(
            conn.execute(text("SELECT birth_date, sex, deceased_date, site FROM patient_fact")).all()
        )
        members = Counter(
            conn.execute(
                text("SELECT resource_type, count(*) FROM patient_compartment GROUP BY resource_type")
            ).all()
        )
    with session_scope(app) as session:
        found = {
            query: len(search(session, parse_search(rtype, [tuple(query.split("=", 1))])).matches)
            for rtype, query in (("Patient", "gender=female"), ("Condition", "clinical-status=active"))
        }
    return {"tables": table_counts(app), "facts": facts, "members": members, "search": found}


def test_two_jobs_leave_the_same_store_as_one(app, population):
    assert load_paths(app, [population], batch_size=4, jobs=1).rejected == []
    one = _contents(app)
    _empty(app.extensions["sicdoc.engine"])
    report = load_paths(app, [population], batch_size=4, jobs=2)
    assert report.rejected == []
    assert _contents(app) == one
    with session_scope(app) as session:
        assert chain.verify(session).intact


def test_bundles_loaded_by_two_jobs_are_kept_under_their_own_receipt_keys(app, population):
    # The worker processes read each bundle's receipt key for the writing process: it must be the
    # key a later load (or the FHIR endpoint) finds the bundle under.
    assert load_paths(app, [population], batch_size=4, jobs=2).rejected == []
    expected = {bundle_key(json.loads(line)) for line in population.read_text().splitlines() if line}
    with app.extensions["sicdoc.engine"].connect() as conn:
        stored = set(conn.execute(text("SELECT key, body_hash FROM bundle_receipt")).all())
    assert stored == expected


def test_the_progress_bar_counts_patients_per_second(app, population):
    result = run_load(app, "--batch-size", "10", population)
    assert result.exit_code == 0, result.output
    assert f"{PATIENTS} patients" in result.stderr
    assert "patients/s" in result.stderr
    assert "patients/s" in result.stdout


def test_a_bundle_refused_by_a_unique_identifier_is_tried_alone_then_reported(app, population, tmp_path):
    lines = population.read_text().splitlines()
    patient = next(e for e in json.loads(lines[0])["entry"] if e["resource"]["resourceType"] == "Patient")
    first, second = (
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {
                        **patient["resource"],
                        "identifier": [{**patient["resource"]["identifier"][0], "value": "twin"}],
                        "gender": gender,
                    },
                    "request": {"method": "POST", "url": "Patient"},
                }
            ],
        }
        for gender in ("female", "male")
    )
    source = tmp_path / "twins.ndjson"
    source.write_text("\n".join([lines[0], json.dumps(first), json.dumps(second), lines[1]]) + "\n")
    report = load_paths(app, [source], batch_size=10)
    assert [label for label, _ in report.rejected] == [f"{source}:3"]
    assert "identifier is already used" in report.rejected[0][1]
    assert report.loaded == 3
    assert table_counts(app)["patient_fact"] == 3
    with session_scope(app) as session:
        assert chain.verify(session).intact


def test_a_batch_reads_the_resources_its_conditional_creates_match_together(app, population, tmp_path):
    # The second half's bundles conditionally create the Practitioners, Locations and Organization
    # the first half stored: each answers with the version it matched, read for its batch at once.
    lines = population.read_text().splitlines()
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    first.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    second.write_text("\n".join(lines[len(lines) // 2 :]) + "\n")
    assert load_paths(app, [first], batch_size=100).rejected == []
    reads: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT resource."):
            reads.append(statement)

    engine = app.extensions["sicdoc.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        report = load_paths(app, [second], batch_size=100)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert report.rejected == [] and report.loaded == len(lines) - len(lines) // 2
    # One statement for each type matched (Practitioner, PractitionerRole, Location, Organization),
    # not one for each resource (25 here).
    assert len(reads) <= 4
    assert table_counts(app)["patient_fact"] == PATIENTS
