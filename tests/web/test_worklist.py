"""The worklist a ward team works from: paged, filtered, each reason on its own, snoozes, and the banner."""

import contextlib
import re
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import select

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import parse_scope
from sicdoc.analytics.worklist import REASON_COLUMNS, WORKLIST_TABLES, plain, scoped
from sicdoc.db import session_scope
from sicdoc.errors import Conflict
from sicdoc.models import PatientFact
from sicdoc.services import accounts, worklist
from sicdoc.services.unit import system_unit
from sicdoc.store.frames import TABLES, patient_tables
from sicdoc.views import worklist as worklist_view
from tests.conftest import PASSWORD, bearer_client, login, site_day
from tests.sql_statements import sent
from tests.web.analytics_population import AS_OF, population_per_backend, post_resources  # noqa: F401 - the module's ``app``
from tests.web.fhir_helpers import patient, send, stroke


@pytest.fixture
def clinician(app):
    with app.extensions["sicdoc.sessionmaker"]() as session, contextlib.suppress(Conflict):
        accounts.create_user(session, "clinician", PASSWORD, "clinician")
    http = app.test_client()
    assert login(http, "clinician").status_code == 302
    return http


def listed(client, query=""):
    body = client.get(f"/worklist?as_of={AS_OF}&{query}").get_data(as_text=True)
    return re.findall(r'<a href="/patients/([^"]+)">', body), body


def test_the_list_is_paged_and_each_page_says_where_it_is(clinician, monkeypatch):
    everyone, body = listed(clinician)
    total = int(re.search(r"([\d,]+) patients due", body).group(1).replace(",", ""))
    assert total == len(everyone) > 6
    monkeypatch.setattr(worklist_view, "PAGE_SIZE", 5)
    first, body = listed(clinician)
    assert first == everyone[:5] and f"Page 1 of {-(-total // 5)}" in body and "1–5 shown" in body
    second, body = listed(clinician, "page=2")
    assert second == everyone[5:10] and 'rel="prev"' in body
    assert clinician.get(f"/worklist?as_of={AS_OF}&page=0").status_code == 400
    assert clinician.get(f"/worklist?as_of={AS_OF}&page=x").status_code == 400


def test_in_hospital_now_comes_first_and_can_be_the_only_view(clinician, app):
    everyone, _ = listed(clinician)
    patient = everyone[-1]
    post_resources(
        app,
        {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "subject": {"reference": f"Patient/{patient}"},
            "period": {"start": f"{AS_OF}T08:00:00Z"},
            "location": [{"location": {"display": "Ward 7B"}}],
            "serviceProvider": {"display": "North Campus"},
        },
    )
    now, body = listed(clinician)
    assert now[0] == patient  # was last, now first: in hospital now
    assert "<strong>In hospital</strong>: Ward 7B, North Campus" in body
    only, body = listed(clinician, "in_hospital=1")
    assert patient in only and body.count("<strong>In hospital</strong>") == len(only)
    assert 'name="in_hospital" value="1" checked' in body


def test_each_reason_is_its_own_line_with_its_date(clinician):
    _, body = listed(clinician)
    first_row = body.split("<tbody>")[1].split("</tr>")[0]
    reasons = re.findall(r"<li>(.*?)</li>", first_row, re.S)
    assert reasons and all(re.match(r"(Diagnosed|Admitted) \d{4}-\d{2}-\d{2}", r.strip()) for r in reasons)
    assert re.search(r"Last contact.*?\d{4}-\d{2}-\d{2}", body, re.S)


def test_my_patients_are_those_i_viewed_or_documented(clinician):
    everyone, _ = listed(clinician)
    assert listed(clinician, "mine=1")[0] == []
    clinician.get(f"/patients/{everyone[2]}")
    assert listed(clinician, "mine=1")[0] == [everyone[2]]


def test_a_snooze_needs_a_future_date_and_a_reason_and_ends_on_request(clinician, app):
    everyone, _ = listed(clinician)
    patient = everyone[1]
    url = f"/worklist/snooze?as_of={AS_OF}"
    yesterday, tomorrow = site_day(app, -1), site_day(app, 1)
    bad = clinician.post(url, data={"patient_id": patient, "until": yesterday, "reason": "Seen by team"})
    assert bad.status_code == 400 and "The date must be after today." in bad.get_data(as_text=True)
    assert 'value="Seen by team"' in bad.get_data(as_text=True)  # what was typed is kept
    bad = clinician.post(url, data={"patient_id": patient, "until": tomorrow, "reason": "  "})
    assert bad.status_code == 400 and "Say why the conversation can wait" in bad.get_data(as_text=True)
    assert patient in listed(clinician)[0]  # nothing stored

    ok = clinician.post(
        url, data={"patient_id": patient, "until": tomorrow, "reason": "Family meeting Friday"}
    )
    assert ok.status_code == 302 and ok.headers["Location"] == f"/worklist?as_of={AS_OF}"
    assert patient not in listed(clinician)[0]
    snoozed, body = listed(clinician, "snoozed=1")
    assert snoozed == [patient] and "Family meeting Friday" in body
    page = clinician.get(f"/patients/{patient}").get_data(as_text=True)
    assert f"snoozed until {tomorrow}" in page

    assert clinician.post(f"/worklist/wake?as_of={AS_OF}", data={"patient_id": patient}).status_code == 302
    assert patient in listed(clinician)[0]
    assert (
        clinician.post(url, data={"patient_id": "no-such", "until": tomorrow, "reason": "x"}).status_code
        == 404
    )


def test_a_chart_reads_only_its_own_patients_snooze(clinician, app):
    """The chart shows its patient's snooze and no other's, and reads it by the patient: a hospital's
    years of snoozes are not grouped and scanned for every chart opened."""
    everyone, _ = listed(clinician)
    asleep, woken, other = everyone[2], everyone[3], everyone[4]
    url, tomorrow = f"/worklist/snooze?as_of={AS_OF}", site_day(app, 1)
    for pid, why in ((asleep, "Family meeting Friday"), (woken, "Awaiting scan")):
        assert (
            clinician.post(url, data={"patient_id": pid, "until": tomorrow, "reason": why}).status_code == 302
        )
    assert clinician.post(f"/worklist/wake?as_of={AS_OF}", data={"patient_id": woken}).status_code == 302
    with sent(app.extensions["sicdoc.engine"]) as statements:
        page = clinician.get(f"/patients/{asleep}").get_data(as_text=True)
    assert f"snoozed until {tomorrow}" in page and "Family meeting Friday" in page
    for pid in (woken, other):
        assert "snoozed until" not in clinician.get(f"/patients/{pid}").get_data(as_text=True)
    reads = [s for s in statements if "FROM worklist_snooze" in s]
    assert reads and all("worklist_snooze.patient_id =" in s and "GROUP BY" not in s for s in reads), reads


def test_the_patient_page_says_a_conversation_is_due_and_why(clinician):
    everyone, _ = listed(clinician)
    page = clinician.get(f"/patients/{everyone[0]}").get_data(as_text=True)
    banner = page.split('id="conversation-due"')[1].split("</div>")[0]
    assert "Conversation due" in banner and re.search(r"(Diagnosed|Admitted) \d{4}-\d{2}-\d{2}", banner)


def test_a_chart_outside_every_cohort_says_nothing_is_due_after_reading_only_its_diagnoses(clinician, app):
    """Most of a hospital's patients have no stroke, heart failure or cancer diagnosis: their chart's
    "conversation due" check reads their diagnoses and stops there."""
    feed = bearer_client(app, "system/*.*")
    pid = send(feed, "POST", "/fhir/Patient", patient("MRN-NO-COHORT", "Okafor")).get_json()["id"]
    hypertension = stroke(pid)
    hypertension["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]}
    assert send(feed, "POST", "/fhir/Condition", hypertension).status_code == 201
    page = clinician.get(f"/patients/{pid}").get_data(as_text=True)
    assert "Okafor" in page and 'id="conversation-due"' not in page
    projections = [model.__tablename__ for model, _ in TABLES.values()]
    with session_scope(app) as session, sent(app.extensions["sicdoc.engine"]) as statements:
        unit = system_unit(session, app.extensions["sicdoc.store"])
        assert worklist.due(unit, parse_scope({}, today=date.today()), pid) is None
    read = [name for statement in statements for name in projections if f"FROM {name}" in statement]
    assert read == ["diagnosis_fact"]
    # A patient in a cohort is still worked out in full (and the page's banner says why).
    everyone, _ = listed(clinician)
    with session_scope(app) as session:
        unit = system_unit(session, app.extensions["sicdoc.store"])
        assert worklist.due(unit, parse_scope({"as_of": AS_OF}, today=date.today()), everyone[0]) is not None


def test_a_chart_in_a_cohort_reads_only_the_tables_the_worklist_rule_reads(clinician, app):
    """A cohort patient's check reads their diagnoses, then their rows of the other tables the rule
    reads (patients, encounters, conversations): never their referrals, consults or care events, nor
    the whole locations table, which the rule does not look at."""
    everyone, _ = listed(clinician)
    tables = {name: model.__tablename__ for name, (model, _) in TABLES.items()}
    with session_scope(app) as session, sent(app.extensions["sicdoc.engine"]) as statements:
        unit = system_unit(session, app.extensions["sicdoc.store"])
        assert worklist.due(unit, parse_scope({"as_of": AS_OF}, today=date.today()), everyone[0]) is not None
    read = [name for statement in statements for name in tables.values() if f"FROM {name}" in statement]
    expected = ["diagnoses", *(name for name in WORKLIST_TABLES if name != "diagnoses")]
    assert read == [tables[name] for name in expected]


def test_the_worklist_from_its_own_tables_is_the_worklist_from_all_of_them(app):
    """What a chart's check and a write's patch read (``WORKLIST_TABLES``) is all the rule needs: the
    population's worklist is the same without the other tables' rows."""
    scope = parse_scope({"as_of": AS_OF}, today=date.today())
    with session_scope(app) as session:
        connection = session.connection()
        ids = sorted(session.scalars(select(PatientFact.patient_id)))
        whole = scoped(Frames.of(patient_tables(connection, ids)), scope)
        own = scoped(Frames.of(patient_tables(connection, ids, WORKLIST_TABLES)), scope)
    assert len(whole) > 6
    pd.testing.assert_frame_equal(own, whole)


def test_every_chart_says_what_the_worklist_says_of_its_patient(app):
    """The chart's "conversation due" is worked out from the patient's own rows and the cohorts they
    have diagnoses of; for every patient it is the worklist's row (the columns that say why, not
    those that place the row in the list), or nothing when they are not listed."""
    scope = parse_scope({"as_of": AS_OF}, today=date.today())
    with session_scope(app) as session:
        connection = session.connection()
        ids = sorted(session.scalars(select(PatientFact.patient_id)))
        listed_rows = plain(scoped(Frames.of(patient_tables(connection, ids)), scope))
        by_patient = {row["patient_id"]: row for row in listed_rows.to_dict("records")}
        unit = system_unit(session, app.extensions["sicdoc.store"])
        charts = {pid: worklist.due(unit, scope, pid) for pid in ids}
    assert len(ids) > 50 and 6 < len(by_patient) < len(ids)
    for pid, chart in charts.items():
        expected = by_patient.get(pid)
        assert (chart is None) == (expected is None), pid
        if chart is not None:
            assert list(chart) == list(REASON_COLUMNS) and set(chart) < set(expected)
            same = [
                k for k in chart if chart[k] == expected[k] or (pd.isna(chart[k]) and pd.isna(expected[k]))
            ]
            assert same == list(chart), (pid, chart, expected)
