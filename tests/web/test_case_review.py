"""The end-of-life case review on both databases: a clinician sees the case with its patient link,
deciding conversation and dated events; the QI role is refused; each read is audited; bad filters
get a field message and a 400."""

import re
from datetime import date, timedelta

from sqlalchemy import text as sql

from sicdoc import codes
from tests.conftest import login
from tests.web.fhir_helpers import created, icu_stay, patient
from tests.web.forms_helpers import clinician_client, sign  # noqa: F401 - this module's ``client``

# A death in the last complete month, so inside the default period (the last 12 complete months).
DEATH = date.today().replace(day=1) - timedelta(days=5)
TALK = DEATH - timedelta(days=20)
ICU_IN, ICU_OUT = DEATH - timedelta(days=6), DEATH - timedelta(days=2)
CPR_DAY = DEATH - timedelta(days=3)
# The patients are posted as deceased, so each note is a late entry.
LATE = "Typed up from the paper record"


def _cpr(client, pid, day):
    return created(
        client,
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": codes.SNOMED, "code": codes.CPR}]},
            "subject": {"reference": f"Patient/{pid}"},
            "performedDateTime": f"{day}T03:00:00Z",
        },
    )


def _decedent(mrn, family, died):
    mrn_id = [{"system": codes.MRN_SYSTEM, "value": mrn}]
    return patient(mrn, family, identifier=mrn_id, deceasedDateTime=died)


def decedents(client):
    """Okafor: comfort focus and DNR in a conversation, then an ICU stay and CPR, died in the ICU
    (a case). Lindqvist: DNR and CPR on the same day, died at home (no case)."""
    case = created(client, _decedent("MRN-CR-1", "Okafor", f"{DEATH}T22:00:00Z"))
    sign(
        client,
        case,
        f"{TALK}T10:00",
        late_reason=LATE,
        **{"care-focus": codes.COMFORT_FOCUSED, "code-status": "dnr"},
    )
    icu_stay(
        client,
        case,
        "ICU",
        "Medical ICU",
        f"{ICU_IN}T08:00:00Z",
        f"{DEATH}T22:00:00Z",
        {"start": f"{ICU_IN}T08:00:00Z", "end": f"{DEATH}T22:00:00Z"},
    )
    _cpr(client, case, CPR_DAY)
    other = created(client, _decedent("MRN-CR-2", "Lindqvist", f"{DEATH}T09:00:00Z"))
    sign(client, other, f"{CPR_DAY}T10:00", late_reason=LATE, **{"code-status": "dnr"})
    _cpr(client, other, CPR_DAY)
    return case, other


def page(client, query=""):
    resp = client.get(f"/reviews/end-of-life{query}")
    return resp, resp.get_data(as_text=True)


def test_a_clinician_sees_the_case_with_its_conversation_and_dated_events(client):
    case, _ = decedents(client)
    resp, body = page(client)
    assert resp.status_code == 200, body[:2000]
    listed = re.findall(r'<tr data-patient="([^"]+)">', body)
    assert listed == [case], body[:3000]  # the DNR and CPR of one day raise nothing
    row = body.split(f'<tr data-patient="{case}">')[1].split("</tr>")[0]
    assert f'<a href="/patients/{case}">Ana Okafor</a>' in row and "MRN MRN-CR-1" in row
    assert f'{DEATH.isoformat()}<br><span class="meta">In the ICU</span>' in row
    # Both signals, each with the conversation it rests on: date, value, link and clinician.
    assert "Comfort-focused care, then ICU, CPR or mechanical ventilation in the last 30 days" in row
    assert "DNR, then CPR on a later day" in row
    assert f"Care focus <strong>Comfort-focused treatments</strong>, documented {TALK.isoformat()}" in row
    assert f"Code status <strong>Do not resuscitate</strong>, documented {TALK.isoformat()}" in row
    conversation = re.search(r'<a href="/conversations/([^"]+)">conversation</a> by ([^<]+)<', row)
    assert conversation and conversation.group(2).strip(), row
    assert client.get(f"/conversations/{conversation.group(1)}").status_code == 200
    # The events, dated and placed.
    assert f"ICU stay {ICU_IN.isoformat()} to {DEATH.isoformat()}, Medical ICU" in row
    assert f"CPR {CPR_DAY.isoformat()}" in row and "(3 days before death)" in row
    assert f"Death {DEATH.isoformat()}: In the ICU" in row
    # The link leads to the patient's page.
    assert client.get(f"/patients/{case}").status_code == 200
    # A period without that death lists nobody.
    _, body = page(client, f"?from={DEATH + timedelta(days=1)}&to={DEATH + timedelta(days=2)}")
    assert "<tr data-patient=" not in body and "No patient who died in this period" in body


def test_the_clinician_navigation_links_the_page(client):
    body = client.get("/").get_data(as_text=True)
    assert 'href="/reviews/end-of-life"' in body


def test_the_qi_role_is_refused(app, users):
    analyst = app.test_client()
    assert login(analyst, "qi_analyst").status_code == 302
    resp = analyst.get("/reviews/end-of-life")
    assert resp.status_code == 403
    admin = app.test_client()
    assert login(admin, "admin").status_code == 302
    assert admin.get("/reviews/end-of-life").status_code == 403


def test_each_read_is_audited_naming_every_patient_listed(app, client):
    case, _ = decedents(client)
    resp, _ = page(client)
    assert resp.status_code == 200
    with app.extensions["sicdoc.sessionmaker"]() as s:
        rows = s.execute(
            sql("SELECT seq, actor_id, action, outcome FROM audit_event WHERE request_id = :r"),
            {"r": resp.headers["X-Request-ID"]},
        ).all()
        assert [(r[1], r[2], r[3]) for r in rows] == [("clinician", "case-review", "success")]
        named = set(
            s.scalars(sql("SELECT patient_id FROM audit_event_patient WHERE seq = :s"), {"s": rows[0][0]})
        )
    assert named == {case}


def test_bad_filters_get_a_field_message_and_a_400(client):
    for query, field, words in (
        ("?from=2026-13-01", "from", "Give the date as YYYY-MM-DD"),
        ("?to=yesterday", "to", "Give the date as YYYY-MM-DD"),
        ("?from=2026-05-01&to=2026-04-01", "to", "must not be before its start"),
        ("?from=0001-01-01", "from", "or later"),
        ("?site=" + "x" * 200, "site", "at most 128 characters"),
    ):
        resp, body = page(client, query)
        assert resp.status_code == 400, (query, body[:500])
        message = body.split(f'id="{field}-error">')[1].split("</p>")[0]
        assert words in message, (query, message)
        assert f'aria-describedby="{field}-error"' in body
        assert "<tr data-patient=" not in body
    resp, body = page(client, "?from=<script>")
    assert resp.status_code == 400 and "<script>" not in body


def test_a_long_list_shows_the_latest_deaths_and_says_how_many_more(client, monkeypatch):
    from sicdoc.services import case_review

    decedents(client)
    monkeypatch.setattr(case_review, "SHOWN", 0)
    resp, body = page(client)
    assert resp.status_code == 200
    assert "<tr data-patient=" not in body and "Ana Okafor" not in body
    assert "1 case among deaths" in body and "narrow the period or choose a site" in body


def test_the_cases_are_computed_once_per_data_version_and_again_after_a_write(client, monkeypatch):
    import sicdoc.analytics.case_review as analytics_review

    decedents(client)
    calls = []
    real = analytics_review.review_cases
    monkeypatch.setattr(analytics_review, "review_cases", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert "Ana Okafor" in page(client)[1] and "Ana Okafor" in page(client)[1]
    assert len(calls) == 1
    later = created(client, _decedent("MRN-CR-3", "Brennan", f"{DEATH}T09:00:00Z"))
    _cpr(client, later, CPR_DAY)
    page(client)
    assert len(calls) == 2  # a write moves the data version: the list is never stale
