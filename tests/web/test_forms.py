"""The clinician forms through the Flask test client, on both databases: every page and form path."""

import re

from sicdoc.app import create_app
from sicdoc.questionnaires import questions
from sicdoc.services import accounts
from tests.conftest import PASSWORD, bearer_client
from tests.web.fhir_helpers import table_counts
from tests.web.forms_helpers import XSS, answers, clinician_client, ehr_patient, new_patient, save, sign, text  # noqa: F401 - this module's ``client``

QUESTIONS = questions()


def test_find_a_patient_by_name_mrn_or_birth_date_and_see_recent_ones(client):
    pid = new_patient(client, "MRN-77", "Okonkwo", birthDate="1944-07-09")
    new_patient(client, "MRN-78", "Smith")
    assert "Find a patient" in text(client.get("/"))
    for query in ("okonk", "MRN-77", "1944-07-09", "Ana Okonkwo"):
        page = text(client.get("/patients", query_string={"q": query}))
        assert f"/patients/{pid}" in page and "Smith" not in page.split('id="recent-heading"')[0]
    assert "No patient matches" in text(client.get("/patients?q=nobody"))
    assert "No patient matches" in text(client.get("/patients?q=2026-13-45"))
    client.get(f"/patients/{pid}")
    recent = text(client.get("/patients")).split('id="recent-heading"')[1].split('id="updated-heading"')[0]
    assert f"/patients/{pid}" in recent


def test_unknown_patient_draft_or_conversation_is_404(client):
    assert client.get("/patients/nope").status_code == 404
    assert client.get("/drafts/nope").status_code == 404
    assert client.get("/conversations/nope").status_code == 404
    assert client.get("/conversations/nope/history").status_code == 404


def test_the_form_follows_the_questionnaire_with_the_agreed_labels(client):
    pid = new_patient(client)
    page = text(client.get(f"/patients/{pid}/conversations/new"))
    labels = [
        "Participants",
        "Permission to talk",
        "Illness understanding",
        "Information preferences",
        "Prognosis shared",
        "Prognosis framing",
        "Goals",
        "Fears and worries",
        "Sources of strength",
        "Critical abilities",
        "Trade-offs",
        "Family",
        "Hopes",
        "Recommendation",
        "Code status",
        "Care focus",
        "Health care agent: name",
        "Duration (minutes)",
    ]
    found = [
        legend or label
        for legend, link_id, label in re.findall(
            r'<legend>([^<]+)</legend>|<label for="q-([a-z-]+)">([^<]+)</label>', page
        )
        if legend or link_id in QUESTIONS
    ]
    assert [text for text in found if text in labels] == labels
    assert ">Save draft</button>" in page and ">Sign</button>" in page
    assert 'name="csrf_token"' in page
    assert "What the patient most wants to aim for" in page  # help text from the Questionnaire
    assert "<legend>Participants</legend>" in page  # check-box groups are fieldsets with legends
    for control in re.findall(r'<(?:input|textarea|select)[^>]*\bid="([^"]+)"', page):
        assert f'for="{control}"' in page, f"{control} has no label"
    assert "style=" not in page and "onclick" not in page


def test_save_a_draft_continue_it_and_see_it_on_the_patient_page(client):
    pid = new_patient(client)
    draft_id = save(client, pid, **{"goals": "Garden again", "code-status": None})
    page = text(client.get(f"/drafts/{draft_id}"))
    assert "Garden again" in page and 'name="version" value="1"' in page
    assert "My lungs are giving up</textarea>" in page  # the patient's own words beside the check boxes
    assert (
        'value="knows-serious" checked' in page
        and 'id="q-prognosis-shared-yes" name="prognosis-shared" value="yes" checked' in page
    )
    assert f"/drafts/{draft_id}" in text(client.get(f"/patients/{pid}"))
    resp = client.post(f"/drafts/{draft_id}", data=answers(pid, action="save", version="1", goals="Garden"))
    assert resp.status_code == 302
    assert 'name="version" value="2"' in text(client.get(f"/drafts/{draft_id}"))


def test_validation_errors_keep_every_value_and_store_nothing(app, client):
    pid = new_patient(client)
    before = table_counts(app)
    long_text = "x" * 4001
    data = answers(
        pid,
        action="save",
        goals=long_text,
        **{"duration-minutes": "abc", "fears-worries": XSS, "performed_start": "2999-01-01T10:00"},
    )
    resp = client.post(f"/patients/{pid}/conversations/new", data=data)
    assert resp.status_code == 422
    page = text(resp)
    assert long_text in page and 'value="abc"' in page and "Home hospice referral" in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and XSS not in page
    assert 'id="error-summary"' in page and 'href="#q-duration-minutes"' in page
    assert re.search(r'id="q-duration-minutes"[^>]*aria-describedby="q-duration-minutes-error', page)
    assert re.search(r'id="q-duration-minutes"[^>]*aria-invalid="true"', page)
    assert table_counts(app) == before
    for bad, message in (("0", "from 1 to 600"), ("-5", "from 1 to 600"), ("1.5", "whole number")):
        resp = client.post(
            f"/patients/{pid}/conversations/new",
            data=answers(pid, action="sign", **{"duration-minutes": bad}),
        )
        assert resp.status_code == 422 and message in text(resp)
    resp = client.post(
        f"/patients/{pid}/conversations/new", data=answers(pid, action="sign", goals=long_text)
    )
    assert resp.status_code == 422 and "4000 characters" in text(resp)
    resp = client.post(
        f"/patients/{pid}/conversations/new",
        data=answers(pid, action="sign", performed_start="1940-01-01T10:00"),
    )
    assert resp.status_code == 422 and "before the patient&#39;s birth" in text(resp)
    resp = client.post(
        f"/patients/{pid}/conversations/new", data=answers(pid, action="sign", permission=None)
    )
    assert resp.status_code == 422 and "Please answer this question" in text(resp)
    assert table_counts(app) == before


def test_signing_returns_the_conversation_from_the_fhir_api_like_an_ehr_posted_one(client):
    ehr_pid, _ = ehr_patient(client)
    pid = new_patient(client)
    procedure_id = sign(client, pid)
    shapes = []
    for patient_id in (pid, ehr_pid):
        body = client.get(
            f"/fhir/Procedure?patient={patient_id}&_revinclude=QuestionnaireResponse:part-of"
        ).get_json()
        by_type = {}
        for entry in body["entry"]:
            by_type.setdefault(entry["resource"]["resourceType"], []).append(entry)
        assert len(by_type["Procedure"]) == 1 and len(by_type["QuestionnaireResponse"]) == 1
        procedure = by_type["Procedure"][0]["resource"]
        qr = by_type["QuestionnaireResponse"][0]["resource"]
        assert qr["partOf"] == [{"reference": f"Procedure/{procedure['id']}"}]
        assert by_type["QuestionnaireResponse"][0]["search"]["mode"] == "include"
        shapes.append((procedure["code"], qr["questionnaire"], sorted(procedure), sorted(qr)))
        if patient_id == pid:
            assert procedure["id"] == procedure_id and procedure["status"] == "completed"
    ehr, ours = shapes[1], shapes[0]
    assert ours[0] == ehr[0] and ours[1] == ehr[1]
    assert set(ours[2]) - {"encounter", "location", "followUp"} == set(ehr[2]) - {
        "encounter",
        "location",
        "followUp",
    }
    assert set(ours[3]) - {"encounter"} == set(ehr[3]) - {"encounter"}


def test_patient_header_shows_the_latest_conversation_and_the_timeline_everything(client):
    pid = new_patient(client)
    empty = text(client.get(f"/patients/{pid}"))
    assert "No serious illness conversation is recorded yet" in empty
    procedure_id = sign(client, pid, goals=XSS)
    page = text(client.get(f"/patients/{pid}"))
    header = page.split('id="latest-heading"')[1].split("</section>")[0]
    assert "Do not resuscitate" in header and "2026-01-05 10:00" in header and "clinician" in header
    assert "Home hospice referral" in header
    assert "&lt;script&gt;" in header and XSS not in page
    assert f"/conversations/{procedure_id}" in page.split('id="timeline"')[1]
    ehr_pid, _ = ehr_patient(client)
    ehr_page = text(client.get(f"/patients/{ehr_pid}"))
    ehr_header = ehr_page.split('id="latest-heading"')[1].split("</section>")[0]
    assert "No serious illness conversation" not in ehr_header
    timeline = ehr_page.split('id="timeline"')[1]
    for kind in ("Diagnosis", "Admission", "Referral", "Conversation"):
        assert f'<span class="kind">{kind}</span>' in timeline


def test_signed_note_reads_and_prints_escaped_and_is_read_only(client):
    pid = new_patient(client)
    draft_id = save(client, pid)
    resp = client.post(f"/drafts/{draft_id}", data=answers(pid, action="sign", version="1", goals=XSS))
    procedure_id = resp.headers["Location"].rsplit("/", 1)[-1]
    page = text(client.get(f"/conversations/{procedure_id}"))
    assert "&lt;script&gt;alert(" in page and XSS not in page and "<script>alert" not in page
    assert "Months rather than years." in page and "data-print" in page
    assert "@media print" in text(client.get("/static/css/app.css"))
    assert client.get(f"/drafts/{draft_id}").status_code == 302
    resp = client.post(f"/drafts/{draft_id}", data=answers(pid, action="save", version="2"))
    assert resp.status_code == 409 and "signed" in text(resp) and "Home hospice referral" in text(resp)


def test_amend_needs_a_reason_keeps_prognosis_comments_and_shows_history(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid)
    form = text(client.get(f"/conversations/{procedure_id}/amend"))
    assert "Months rather than years." in form and 'name="version" value="1"' in form
    before = table_counts(app)
    changed = answers(pid, action="amend", version="1", **{"code-status": "full"})
    resp = client.post(f"/conversations/{procedure_id}/amend", data={**changed, "reason": " "})
    assert resp.status_code == 422 and "Give the reason" in text(resp) and 'href="#q-reason"' in text(resp)
    assert table_counts(app) == before
    appended = {
        **changed,
        "reason": "Talked again with the family",
        "prognosis-comment": "Months rather than years. Now weeks.",
    }
    resp = client.post(f"/conversations/{procedure_id}/amend", data=appended)
    assert resp.status_code == 302
    assert client.get(f"/fhir/Procedure/{procedure_id}").get_json()["meta"]["versionId"] == "2"
    assert client.get(f"/fhir/Procedure/{procedure_id}/_history/1").status_code == 200
    stale = client.post(f"/conversations/{procedure_id}/amend", data={**appended, "reason": "again"})
    assert stale.status_code == 409 and "changed by someone else" in text(stale)
    history = text(client.get(f"/conversations/{procedure_id}/history"))
    assert "Version 2: amended" in history and "Version 1: signed" in history
    assert "Talked again with the family" in history and "clinician" in history
    assert "Code status" in history and "Full code" in history and "Now weeks." in history
    assert "Full code" in text(client.get(f"/patients/{pid}")).split("</section>")[0]


def test_a_second_save_of_the_same_draft_version_is_a_conflict_that_keeps_the_text(client):
    pid = new_patient(client)
    draft_id = save(client, pid)
    first = client.post(
        f"/drafts/{draft_id}", data=answers(pid, action="save", version="1", goals="Ana's edit")
    )
    assert first.status_code == 302
    second = client.post(
        f"/drafts/{draft_id}", data=answers(pid, action="save", version="1", goals="Ben's edit")
    )
    page = text(second)
    assert second.status_code == 409 and "Not saved: someone else changed this" in page
    assert "Ben&#39;s edit" in page and "Ana&#39;s edit" in page and 'name="version" value="2"' in page
    assert "Ana&#39;s edit" in text(client.get(f"/drafts/{draft_id}"))
    stale_sign = client.post(
        f"/drafts/{draft_id}", data=answers(pid, action="sign", version="1", goals="Ben signs")
    )
    assert stale_sign.status_code == 409 and "Ben signs" in text(stale_sign)
    assert "No serious illness conversation is recorded yet" in text(client.get(f"/patients/{pid}"))


def test_tampered_ids_are_refused_and_store_nothing(app, client):
    pid = new_patient(client)
    other = new_patient(client, "MRN-2", "Other")
    draft_id = save(client, pid)
    before = table_counts(app)
    resp = client.post(f"/patients/{pid}/conversations/new", data=answers(other, action="sign"))
    assert resp.status_code == 400
    resp = client.post(f"/drafts/{draft_id}", data=answers(other, action="save", version="1"))
    assert resp.status_code == 400
    resp = client.post(f"/drafts/{draft_id}", data=answers(pid, action="save", version="one"))
    assert resp.status_code == 400
    resp = client.post(
        f"/patients/{other}/referrals",
        data={"patient_id": pid, "reason": "x", "urgency": "routine", "authored_on": "2026-01-02"},
    )
    assert resp.status_code == 400
    assert table_counts(app) == before


def test_a_post_without_the_csrf_token_writes_nothing(database_url):
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": True})
    try:
        pid = new_patient(bearer_client(app, "system/*.*"))  # the FHIR API takes tokens, not cookies
        with app.extensions["sicdoc.sessionmaker"]() as s:
            accounts.create_user(s, "clinician", PASSWORD, "clinician")
        client = app.test_client()
        login_page = text(client.get("/login"))
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
        client.post("/login", data={"username": "clinician", "password": PASSWORD, "csrf_token": token})
        before = table_counts(app)
        resp = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign"))
        assert resp.status_code == 400 and "Nothing was saved" in text(resp)
        resp = client.post(
            f"/patients/{pid}/referrals", data={"patient_id": pid, "reason": "x", "urgency": "routine"}
        )
        assert resp.status_code == 400
        assert table_counts(app) == before
        page = text(client.get(f"/patients/{pid}/conversations/new"))
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        resp = client.post(
            f"/patients/{pid}/conversations/new", data={**answers(pid, action="save"), "csrf_token": token}
        )
        assert resp.status_code == 302
    finally:
        app.extensions["sicdoc.engine"].dispose()
