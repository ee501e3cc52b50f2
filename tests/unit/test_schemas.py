"""The schemas of sicdoc's JSON outside FHIR: files refused with the file and the field, the report
dumped whole and matching its OpenAPI description."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import pytest
from jsonschema_rs import Draft202012Validator  # installed with schemathesis

from sicdoc.analytics import compute_metrics
from sicdoc.analytics.scope import parse_qi_scope
from sicdoc.schemas.metrics import MetricsReportSchema
from sicdoc.schemas.openapi import openapi_description
from sicdoc.valuesets import DEFAULT_FILE, ValueSetError, load
from tests.unit.stroke_cohort import stroke_frames

PACKAGED = json.loads((resources.files("sicdoc.valuesets") / DEFAULT_FILE).read_text(encoding="utf-8"))


def write_value_sets(tmp_path, changes) -> str:  # type: ignore[no-untyped-def]
    content = json.loads(json.dumps(PACKAGED))
    changes(content)
    path = tmp_path / "site-sets.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def test_the_packaged_value_sets_load():
    assert load().version == PACKAGED["version"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["cohorts"].pop("cancer"), "cohorts.cancer: Missing data for required field."),
        (lambda c: c.update(colour="red"), "colour: unknown field"),
        (lambda c: c.update(version=""), "version: is required text"),
        (
            lambda c: c["cohorts"]["stroke"]["icd10cm"]["include"].update({"stroke": "ischemic"}),
            "cohorts.stroke.icd10cm.include.stroke.key: is not an ICD-10 code",
        ),
        (
            lambda c: c["cohorts"]["heart_failure"]["snomed"].update({"84114007": 7}),
            "cohorts.heart_failure.snomed.84114007.value: Not a valid string.",
        ),
        (
            lambda c: c["cohorts"]["cancer"]["icd10cm"].update(hematologic_range=["C81"]),
            "cohorts.cancer.icd10cm.hematologic_range: must be [first, last]",
        ),
    ],
)
def test_a_bad_value_set_file_is_refused_with_the_file_and_field(tmp_path, change, message):
    path = write_value_sets(tmp_path, change)
    with pytest.raises(ValueSetError) as caught:
        load(path)
    assert str(caught.value).startswith("site-sets.json: ")
    assert message in str(caught.value)


def test_a_value_set_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(ValueSetError, match=r"broken\.json: not readable JSON"):
        load(str(path))


@pytest.mark.parametrize("suppress", [True, False])
def test_the_report_dumps_whole_and_matches_its_openapi_schema(suppress):
    scope = parse_qi_scope({"as_of": "2025-12-31", "from": "2024-12-01"}, today=date(2026, 1, 1))
    raw = compute_metrics(
        stroke_frames(),
        as_of=scope.as_of,
        period_from=scope.period_from,
        period_to=scope.period_to,
        cohorts=None,
        value_set_version="2026.1",
        suppress=suppress,
    )
    report = json.loads(json.dumps(scope.annotate(raw)))
    dumped = MetricsReportSchema().dump(report)
    # Nothing dropped, nothing changed: a key the schema does not declare would vanish here.
    assert dumped == report
    assert list(dumped["cohorts"]) == ["stroke", "heart_failure", "cancer"]
    if suppress:
        assert "<11" in json.dumps(dumped)
    description = openapi_description(base_url="http://localhost", session_cookie="c", version="0")
    schema = {"$ref": "#/components/schemas/MetricsReport", "components": description["components"]}
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(dumped)]
    assert errors == []


def test_the_openapi_schema_refuses_a_report_with_an_undeclared_key():
    description = openapi_description(base_url="http://localhost", session_cookie="c", version="0")
    cohort = {"$ref": "#/components/schemas/CohortMetrics", "components": description["components"]}
    assert not Draft202012Validator(cohort).is_valid({"index_patients": 3, "extra": 1})
    assert not Draft202012Validator(cohort).is_valid({"index_patients": "3"})


def test_the_app_refuses_to_start_with_a_bad_value_set_file(tmp_path):
    from sicdoc.app import create_app

    path = write_value_sets(tmp_path, lambda c: c["cohorts"]["stroke"].pop("snomed"))
    with pytest.raises(ValueSetError, match=r"site-sets\.json: cohorts\.stroke\.snomed"):
        create_app(
            {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "VALUE_SET_FILE": path}
        )


def test_an_audit_checkpoint_round_trips_and_a_bad_one_names_the_field():
    from sicdoc.security.chain import Checkpoint

    point = Checkpoint(5, "a" * 64, None, "2026-11-20T10:00:00+00:00", unkeyed_through=2)
    assert Checkpoint.parse(point.line()) == point
    assert list(json.loads(point.line())) == ["seq", "hash", "recorded", "written_at", "unkeyed_through"]
    with pytest.raises(ValueError, match=r"not a checkpoint \(seq: must be a whole number from 0"):
        Checkpoint.parse(json.dumps({"seq": True, "hash": "a" * 64, "written_at": "x"}))
    with pytest.raises(ValueError, match=r"hash: must be 64 lower-case hex digits; colour: unknown field"):
        Checkpoint.parse(json.dumps({"seq": 1, "hash": "A" * 64, "written_at": "x", "colour": 1}))
