"""End-of-life measures from FHIR records posted as an EHR would, through the store to /api/metrics,
``sicdoc metrics`` (JSON and CSV) with the names the issue gives.

Cancer decedents, all dying on 2026-03-20:
- A: chemotherapy 13 days before death (counts) and ED visits 19 and 29 days before (two: >1);
  an IMP stay in an ICU-typed Location from 03-15 to the death day (ICU in the last 30 days, died
  in hospital and in the ICU); a conversation on 2026-01-10 documenting comfort-focused care and
  DNR/DNI, then CPR on 03-19 and intubation on 03-19 (both signals); all four guide domains.
- B: chemotherapy 14 days before (the 15th day: does not count); hospice from 03-18 (2 days: <3);
  a conversation in 2025-08 (more than 180 days before death) with nothing but the permission.
- C: hospice from 03-10 (10 days); a chemotherapy dated after death (a data-quality count).
- D: a stay in a Location without a type.
A stroke decedent (E) shows eol_chemo_last_14d is null outside the cancer cohort; a heart-failure
decedent (F) had a conversation posted without a QuestionnaireResponse, scored from its records.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from sicdoc.app import create_app
from sicdoc.migrate import upgrade
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.web.analytics_population import logged_in, run_cli, scratch_url

SYS = "urn:example:eol"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
QUESTIONNAIRE = "https://sicdoc.org/fhir/Questionnaire/serious-illness-conversation|1.2.0"
DEATH = "2026-03-20"
SCOPE = ["--as-of", "2026-06-30", "--from", "2026-01-01", "--to", "2026-06-30"]


def _patient(key: str, code: str) -> list[dict]:
    url = f"urn:uuid:00000000-0000-4000-8000-{key * 12}"
    return [
        {
            "fullUrl": url,
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": SYS, "value": key}],
                "birthDate": "1950-01-01",
                "deceasedDateTime": DEATH,
            },
            "request": {"method": "POST", "url": "Patient"},
        },
        _entry(
            {
                "resourceType": "Condition",
                "subject": {"reference": url},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
                "onsetDateTime": "2025-06-01",
            }
        ),
    ]


def _entry(resource: dict, full_url: str | None = None) -> dict:
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def _ref(key: str) -> dict:
    return {"reference": f"urn:uuid:00000000-0000-4000-8000-{key * 12}"}


def _procedure(key: str, code: str, day: str) -> dict:
    return _entry(
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": code}]},
            "subject": _ref(key),
            "performedDateTime": day,
        }
    )


def _encounter(key: str, klass: str, start: str, end: str | None = None, **extra: object) -> dict:
    period = {"start": start} | ({"end": end} if end else {})
    return _entry(
        {
            "resourceType": "Encounter",
            "status": "finished" if end else "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
            "subject": _ref(key),
            "period": period,
            **extra,
        }
    )


def _conversation(key: str, n: str, day: str, items: list[dict]) -> list[dict]:
    procedure = f"urn:uuid:00000000-0000-4000-9000-{n * 12}"
    return [
        _entry(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": {"coding": [{"system": SNOMED, "code": "713603004"}]},
                "subject": _ref(key),
                "performedDateTime": f"{day}T10:00:00Z",
            },
            procedure,
        ),
        _entry(
            {
                "resourceType": "QuestionnaireResponse",
                "questionnaire": QUESTIONNAIRE,
                "status": "completed",
                "subject": _ref(key),
                "partOf": [{"reference": procedure}],
                "authored": f"{day}T10:30:00Z",
                "item": items,
            }
        ),
    ]


def _text(link_id: str, text: str) -> dict:
    return {"linkId": link_id, "answer": [{"valueString": text}]}


def _coded(link_id: str, system: str, code: str) -> dict:
    return {"linkId": link_id, "answer": [{"valueCoding": {"system": system, "code": code}}]}


def records() -> dict:
    icu_url, ward_url = (
        "urn:uuid:10000000-0000-4000-8000-000000000001",
        "urn:uuid:10000000-0000-4000-8000-000000000002",
    )
    entries = [
        _entry(
            {
                "resourceType": "Location",
                "name": "Medical ICU",
                "type": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "ICU"}
                        ]
                    }
                ],
            },
            icu_url,
        ),
        _entry(
            {
                "resourceType": "Location",
                "name": "Ward 7",
                "type": [
                    {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "HU"}
                        ]
                    }
                ],
            },
            ward_url,
        ),
    ]
    for key in "abcd":
        entries += _patient(key, "C50.9")
    entries += _patient("e", "I63.9")
    answer = "http://sicdoc.org/fhir/CodeSystem/sic-answer".replace("http:", "https:")
    entries += [
        # A
        _procedure("a", "367336001", "2026-03-07"),
        _encounter("a", "EMER", "2026-03-01T08:00:00Z", "2026-03-01T12:00:00Z"),
        _encounter("a", "EMER", "2026-02-19T08:00:00Z", "2026-02-19T12:00:00Z"),
        _encounter(
            "a",
            "IMP",
            "2026-03-15T08:00:00Z",
            "2026-03-20T06:00:00Z",
            location=[{"location": {"reference": icu_url}}],
            hospitalization={
                "dischargeDisposition": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                            "code": "exp",
                        }
                    ]
                }
            },
        ),
        *_conversation(
            "a",
            "1",
            "2026-01-10",
            [
                _text("goals", "Be at home"),
                _coded("illness-understanding", answer, "knows-serious"),
                {"linkId": "prognosis-shared", "answer": [{"valueBoolean": True}]},
                _text("hopes", "See the garden"),
                _coded("code-status", answer, "dnr-dni"),
                _coded("care-focus", LOINC, "LA33475-7"),
            ],
        ),
        _procedure("a", "89666000", "2026-03-19"),
        _procedure("a", "112798008", "2026-03-19"),
        # B
        _procedure("b", "367336001", "2026-03-06"),
        _entry(
            {
                "resourceType": "EpisodeOfCare",
                "status": "finished",
                "type": [{"coding": [{"system": SNOMED, "code": "385763009"}]}],
                "patient": _ref("b"),
                "period": {"start": "2026-03-18", "end": DEATH},
            }
        ),
        *_conversation("b", "2", "2025-08-01", [_coded("permission", answer, "agreed")]),
        # C
        _entry(
            {
                "resourceType": "EpisodeOfCare",
                "status": "finished",
                "type": [{"coding": [{"system": SNOMED, "code": "385763009"}]}],
                "patient": _ref("c"),
                "period": {"start": "2026-03-10", "end": DEATH},
            }
        ),
        _procedure("c", "367336001", "2026-03-25"),
        # D: the ward has a type; this stay names a Location sicdoc does not hold.
        _encounter(
            "d",
            "IMP",
            "2026-03-01T08:00:00Z",
            "2026-03-05T08:00:00Z",
            location=[{"location": {"display": "Unit without a record"}}],
        ),
        _encounter(
            "d",
            "IMP",
            "2026-02-01T08:00:00Z",
            "2026-02-03T08:00:00Z",
            location=[{"location": {"reference": ward_url}}],
        ),
    ]
    entries += _patient("f", "I50.9") + _ehr_conversation("f")
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _ehr_conversation(key: str) -> list[dict]:
    """A conversation an EHR posts without a QuestionnaireResponse: an Observation of the patient's
    goals that is part of it, and a note whose sections record the code status and the hopes."""
    procedure = "urn:uuid:00000000-0000-4000-9000-ffffffffffff"
    domain = "https://sicdoc.org/fhir/CodeSystem/sic-domain"
    return [
        _entry(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": {"coding": [{"system": SNOMED, "code": "713603004"}]},
                "subject": _ref(key),
                "performedDateTime": "2026-02-01T10:00:00Z",
            },
            procedure,
        ),
        _entry(
            {
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{"system": domain, "code": "goals"}]}],
                "code": {"coding": [{"system": LOINC, "code": "95541-9"}]},
                "subject": _ref(key),
                "effectiveDateTime": "2026-02-01T10:00:00Z",
                "partOf": [{"reference": procedure}],
                "valueString": "To stay at home",
            }
        ),
        _entry(
            {
                "resourceType": "Composition",
                "status": "final",
                "type": {"coding": [{"system": LOINC, "code": "11506-3"}]},
                "subject": _ref(key),
                "date": "2026-02-01T11:00:00Z",
                "author": [{"display": "Dr EHR"}],
                "title": "Goals of care note",
                "event": [{"detail": [{"reference": procedure}]}],
                "section": [
                    {
                        "title": "Code status",
                        "code": {"coding": [{"system": domain, "code": "code-status"}]},
                        "text": {
                            "status": "generated",
                            "div": '<div xmlns="http://www.w3.org/1999/xhtml">DNR</div>',
                        },
                    }
                ],
            }
        ),
    ]


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")
    from sicdoc.db import session_scope
    from sicdoc.services.bundles import process_transaction
    from sicdoc.services.unit import system_unit

    with scratch_url(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as url:
        upgrade(url)
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": url,
                "WTF_CSRF_ENABLED": False,
                "LOGIN_RATE_LIMIT": "1000/minute",
            }
        )
        with session_scope(app) as session:
            process_transaction(system_unit(session, app.extensions["sicdoc.store"]), records())
        yield app
        app.extensions["sicdoc.engine"].dispose()


def unsuppressed(app) -> dict:
    result = run_cli(app, "metrics", *SCOPE, "--unsuppressed")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_end_of_life_field_is_reported_with_its_count(app):
    cancer = unsuppressed(app)["cohorts"]["cancer"]
    assert cancer["end_of_life"] == {
        "decedents": 4,
        "hospice_enrolled": 2,  # B and C
        "eol_chemo_last_14d": 1,  # A (13 days); B's was on the 15th day, C's after death
        "eol_ed_gt1_last_30d": 1,  # A
        "eol_icu_last_30d": 1,  # A
        "eol_no_hospice": 2,  # A and D
        "eol_hospice_lt3d": 1,  # B (2 days); C had 10
        "eol_death_in_hospital": 1,  # A
        "eol_death_in_icu": 1,  # A
        "sic_last_180d": 1,  # A (69 days); B's was 231 days before
        "concordance_comfort_focus_decedents": 1,
        "concordance_comfort_icu_cpr_mv_last_30d": 1,
        "concordance_comfort_died_in_hospital": 1,
        "dnr_decedents": 1,
        "dnr_then_cpr": 1,
        "dnr_dni_decedents": 1,
        "dnr_dni_then_intubation": 1,
    }
    assert cancer["documentation_quality"] == {
        "conversations": 2,
        "conversations_all_four": 1,
        "mean_domains": 2.0,  # A 4, B 0
    }
    quality = cancer["data_quality"]
    assert quality["events_after_death"] == 1  # C's chemotherapy
    assert quality["hospice_after_death"] == 0
    assert quality["icu_stays_without_location_type"] == 1  # D's stay at a Location not held


def test_the_stroke_cohort_has_no_chemotherapy_measure_and_the_top_level_scores_everyone(app):
    report = unsuppressed(app)
    stroke = report["cohorts"]["stroke"]["end_of_life"]
    assert stroke["decedents"] == 1 and stroke["eol_chemo_last_14d"] is None
    # A 4, B 0, F 2 (values from its Observation, treatment preferences from its note).
    assert report["documentation_quality"] == {
        "conversations": 3,
        "conversations_all_four": 1,
        "mean_domains": 2.0,
    }


def test_a_conversation_without_a_response_is_scored_from_its_observations_and_note(app):
    from sqlalchemy import select

    from sicdoc.models import Conversation

    with app.extensions["sicdoc.engine"].connect() as conn:
        rows = conn.execute(select(Conversation.quality_domains, Conversation.quality_source)).all()
    assert sorted(tuple(r) for r in rows) == [
        ("", "questionnaire-response"),  # B: only the permission
        ("values,prognosis,planning,treatment", "questionnaire-response"),  # A
        ("values,treatment", "observations-and-note"),  # F
    ]


def test_the_api_suppresses_the_small_counts_and_names_every_field(app):
    client = logged_in(app, "analyst", "qi_analyst")
    answer = client.get("/api/metrics?as_of=2026-06-30&from=2026-01-01&to=2026-06-30&cohort=cancer")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    eol = answer.get_json()["cohorts"]["cancer"]["end_of_life"]
    assert eol["eol_icu_last_30d"] == "<11" and eol["dnr_then_cpr"] == "<11"
    assert {k for k, v in eol.items() if isinstance(v, int) and 0 < v < 11} == set()


def test_the_csv_carries_the_same_names(app):
    result = run_cli(app, "metrics", *SCOPE, "--unsuppressed", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {(r["cohort"], r["metric"]): r["value"] for r in csv.DictReader(io.StringIO(result.output))}
    assert rows[("cancer", "end_of_life.eol_hospice_lt3d")] == "1"
    assert rows[("cancer", "end_of_life.dnr_dni_then_intubation")] == "1"
    assert rows[("heart_failure", "end_of_life.eol_chemo_last_14d")] == ""
    assert rows[("cancer", "documentation_quality.mean_domains")] == "2.0"
    assert rows[("all", "documentation_quality.conversations")] == "3"
    assert rows[("cancer", "data_quality.events_after_death")] == "1"
