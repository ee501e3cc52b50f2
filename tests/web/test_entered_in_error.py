"""Taking something back in the clinician forms, on both databases: a signed note marked entered in
error, a draft discarded, an empty draft not saved, and prognosis comments added with date and author."""

import re

from sqlalchemy import select, text

from sicdoc.analytics.cohorts import conversation_rows
from sicdoc.models import Conversation, ConversationDraft
from tests.web.fhir_helpers import send, stroke, table_counts
from tests.web.forms_helpers import answers, clinician_client, new_patient, sign  # noqa: F401 - this module's ``client``

STAMP = r"\[Added \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC by clinician\]"


def page(resp):
    return resp.get_data(as_text=True)


def withdraw(client, pid, procedure_id, reason="Wrong patient", version="1"):
    return client.post(
        f"/conversations/{procedure_id}/entered-in-error",
        data={"patient_id": pid, "version": version, "reason": reason},
    )


def audit_actions(app, action):
    with app.extensions["sicdoc.engine"].connect() as conn:
        return conn.execute(
            text("SELECT resource_type, resource_id FROM audit_event WHERE action = :a"), {"a": action}
        ).all()


def test_a_note_entered_in_error_leaves_the_header_but_stays_in_history_with_who_when_why(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid, **{"health-care-agent-name": "Maria Rivera"})
    assert "Do not resuscitate" in page(client.get(f"/patients/{pid}")).split("</section>")[0]
    note = page(client.get(f"/conversations/{procedure_id}"))
    assert f"/conversations/{procedure_id}/entered-in-error" in note
    form = page(client.get(f"/conversations/{procedure_id}/entered-in-error"))
    assert 'name="csrf_token"' in form and 'for="eie-reason"' in form and 'value="1"' in form

    resp = withdraw(client, pid, procedure_id, "Wrong patient: meant for bed 12")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/conversations/{procedure_id}")

    procedure = client.get(f"/fhir/Procedure/{procedure_id}").get_json()
    assert procedure["status"] == "entered-in-error" and procedure["meta"]["versionId"] == "2"
    part_of = f"part-of=Procedure/{procedure_id}"
    for rtype in ("QuestionnaireResponse", "Observation"):
        found = client.get(f"/fhir/{rtype}?{part_of}").get_json()["entry"]
        assert found and {e["resource"]["status"] for e in found} == {"entered-in-error"}
    notes = client.get(f"/fhir/Composition?subject=Patient/{pid}").get_json()["entry"]
    assert [e["resource"]["status"] for e in notes] == ["entered-in-error"]
    goals = client.get(f"/fhir/Goal?patient={pid}").get_json()["entry"]
    assert [e["resource"]["lifecycleStatus"] for e in goals] == ["entered-in-error"]
    agents = client.get(f"/fhir/RelatedPerson?patient={pid}").get_json()["entry"]
    assert [e["resource"]["active"] for e in agents] == [False]  # the agent named in the wrong chart
    provenances = client.get(f"/fhir/Provenance?target=Procedure/{procedure_id}").get_json()["entry"]
    nullify = [
        p["resource"] for p in provenances if p["resource"]["activity"]["coding"][0]["code"] == "NULLIFY"
    ]
    assert len(nullify) == 1 and nullify[0]["reason"][0]["text"] == "Wrong patient: meant for bed 12"
    assert f"Procedure/{procedure_id}/_history/2" in {t["reference"] for t in nullify[0]["target"]}
    assert nullify[0]["entity"][0]["what"]["reference"] == f"Procedure/{procedure_id}/_history/1"
    assert ("Provenance", nullify[0]["id"]) in audit_actions(app, "create")

    chart = page(client.get(f"/patients/{pid}"))
    assert "No serious illness conversation is recorded yet" in chart.split("</section>")[0]
    timeline = chart.split('id="timeline"')[1].split("</section>")[0]
    assert "Serious illness conversation (entered in error)" in timeline
    assert re.search(
        r"Entered in error \d{4}-\d{2}-\d{2} by clinician[^:<]*: Wrong patient: meant for bed 12", timeline
    )
    note = page(client.get(f"/conversations/{procedure_id}"))
    banner = note.split('id="entered-in-error"')[1].split("</div>")[0]
    assert "Entered in error" in banner and "Wrong patient: meant for bed 12" in banner
    assert re.search(r"Marked \d{4}-\d{2}-\d{2} \d{2}:\d{2} by clinician", banner)
    assert "Months rather than years." in note  # the note itself is kept as signed
    assert f"/conversations/{procedure_id}/amend" not in note
    assert client.get(f"/conversations/{procedure_id}/amend").status_code == 409
    history = page(client.get(f"/conversations/{procedure_id}/history"))
    assert "Version 2: marked entered in error" in history and "Version 1: signed" in history
    assert "Wrong patient: meant for bed 12" in history
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.get(Conversation, procedure_id).status == "entered-in-error"


def test_an_empty_reason_is_a_field_message_and_stores_nothing(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid)
    before = table_counts(app)
    resp = withdraw(client, pid, procedure_id, "   ")
    body = page(resp)
    assert resp.status_code == 422 and 'href="#eie-reason"' in body
    assert 'id="eie-reason-error"' in body and "Say why this note is entered in error" in body
    too_long = "Wrong patient. " * 100
    resp = withdraw(client, pid, procedure_id, too_long)
    assert resp.status_code == 422 and too_long.strip() in page(resp)  # the typed text is kept
    assert table_counts(app) == before
    assert client.get(f"/fhir/Procedure/{procedure_id}").get_json()["status"] == "completed"


def test_an_already_withdrawn_or_changed_note_is_refused_with_a_clear_message(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid)
    amended = client.post(
        f"/conversations/{procedure_id}/amend",
        data={**answers(pid, action="amend", version="1"), "reason": "Typo"},
    )
    assert amended.status_code == 302
    stale = withdraw(client, pid, procedure_id, version="1")
    assert stale.status_code == 409 and "changed by someone else" in page(stale)
    assert "Wrong patient" in page(stale) and 'value="2"' in page(stale)
    assert withdraw(client, pid, procedure_id, version="2").status_code == 302
    before = table_counts(app)
    again = withdraw(client, pid, procedure_id, "Duplicate", version="3")
    assert again.status_code == 409 and "already marked entered in error" in page(again)
    shown = client.get(f"/conversations/{procedure_id}/entered-in-error")
    assert shown.status_code == 409 and "Already entered in error" in page(shown)
    assert 'name="reason"' not in page(shown) and "Wrong patient" in page(shown)
    assert table_counts(app) == before
    assert withdraw(client, "someone-else", procedure_id, version="3").status_code == 400


def test_the_patient_returns_to_the_worklist_and_leaves_the_analytics(app, client):
    pid = new_patient(client, "MRN-W1", "Lindqvist")
    assert send(client, "POST", "/fhir/Condition", stroke(pid)).status_code == 201

    def on_worklist():
        return f'href="/patients/{pid}"' in page(client.get("/worklist"))

    def counted():
        frames = app.extensions["sicdoc.analytics"].frames()
        return pid in set(frames.patient_ids(conversation_rows(frames)["patient_id"]))

    assert on_worklist() and not counted()
    procedure_id = sign(client, pid)
    assert not on_worklist() and counted()
    assert withdraw(client, pid, procedure_id).status_code == 302
    assert on_worklist() and not counted()


def test_a_draft_can_be_discarded_after_confirming_and_is_no_longer_listed(app, client):
    pid = new_patient(client)
    saved = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="save"))
    draft_id = saved.headers["Location"].rsplit("/", 1)[-1]
    assert f"/drafts/{draft_id}" in page(client.get(f"/patients/{pid}"))
    assert f"/drafts/{draft_id}/discard" in page(client.get(f"/drafts/{draft_id}"))
    confirm = page(client.get(f"/drafts/{draft_id}/discard"))
    assert "Discard this draft?" in confirm and 'name="csrf_token"' in confirm
    before = table_counts(app)
    tampered = client.post(f"/drafts/{draft_id}/discard", data={"patient_id": "other", "version": "1"})
    assert tampered.status_code == 400
    stale = client.post(f"/drafts/{draft_id}/discard", data={"patient_id": pid, "version": "7"})
    assert stale.status_code == 409 and "since you opened it" in page(stale)
    assert table_counts(app) == before

    resp = client.post(f"/drafts/{draft_id}/discard", data={"patient_id": pid, "version": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/patients/{pid}")
    assert f"/drafts/{draft_id}" not in page(client.get(f"/patients/{pid}"))
    assert ("ConversationDraft", draft_id) in audit_actions(app, "draft-discard")
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.get(ConversationDraft, draft_id).status == "discarded"  # kept, marked
    reopened = client.get(f"/drafts/{draft_id}", follow_redirects=True)
    assert "This draft was discarded." in page(reopened)
    late = client.post(f"/drafts/{draft_id}", data=answers(pid, action="sign", version="1"))
    assert late.status_code == 409 and "discarded" in page(late)
    assert "No serious illness conversation is recorded yet" in page(client.get(f"/patients/{pid}"))


def test_an_empty_save_creates_no_draft_and_says_so(app, client):
    pid = new_patient(client)
    before = table_counts(app)
    empty = {"patient_id": pid, "performed_start": "2026-01-05T10:00", "action": "save"}
    resp = client.post(f"/patients/{pid}/conversations/new", data=empty)
    assert resp.status_code == 200 and "Nothing was saved: no question is answered yet." in page(resp)
    assert 'value="2026-01-05T10:00"' in page(resp)  # what was typed stays in the form
    assert table_counts(app) == before
    assert 'id="drafts-heading"' not in page(client.get(f"/patients/{pid}"))
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.scalars(select(ConversationDraft)).all() == []


def test_amending_shows_the_earlier_prognosis_comments_and_stamps_what_is_added(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid)
    form = page(client.get(f"/conversations/{procedure_id}/amend"))
    earlier = form.split('id="earlier-comments-heading"')[1].split("</section>")[0]
    assert (
        "Months rather than years." in earlier and "In the note of 2026-01-05 10:00 by clinician" in earlier
    )
    field = form.split('id="q-prognosis-comment"')[1].split("</textarea>")[0]
    assert "Months rather than years." not in field  # the field is for what is added

    def amend(addition, reason, version):
        data = {**answers(pid, action="amend", version=version), "reason": reason}
        data["prognosis-comment"] = addition
        return client.post(f"/conversations/{procedure_id}/amend", data=data)

    refused = amend("Now weeks.", "", "1")
    assert refused.status_code == 422 and "Now weeks." in page(refused)
    assert "Months rather than years." in page(refused).split('id="earlier-comments-heading"')[1]
    assert amend("Now weeks.", "Talked again", "1").status_code == 302
    assert amend("Days, perhaps.", "Worse today", "2").status_code == 302

    qr = client.get(f"/fhir/QuestionnaireResponse?part-of=Procedure/{procedure_id}").get_json()
    item = next(i for i in qr["entry"][0]["resource"]["item"] if i["linkId"] == "prognosis-comment")
    stored = item["answer"][0]["valueString"]
    assert re.fullmatch(
        rf"Months rather than years\.\n\n{STAMP} Now weeks\.\n\n{STAMP} Days, perhaps\.", stored
    )
    form = page(client.get(f"/conversations/{procedure_id}/amend"))
    earlier = form.split('id="earlier-comments-heading"')[1].split("</section>")[0]
    assert len(re.findall(r"Added \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC by clinician", earlier)) == 2
    assert earlier.index("Now weeks.") < earlier.index("Days, perhaps.")
    assert re.search(rf"{STAMP} Days, perhaps\.", page(client.get(f"/conversations/{procedure_id}")))
    history = page(client.get(f"/conversations/{procedure_id}/history"))
    assert re.search(rf"{STAMP} Now weeks\.", history)
