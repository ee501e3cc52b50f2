"""The care focus in the conversation form, on both databases: shown after code status, refused
outside its three answers, extracted as a LOINC 75773-2 Observation that amendment supersedes or
withdraws and entered-in-error withdraws, and read back into the conversation projection."""

import re

from sicdoc import codes
from sicdoc.models import CareEvent, Conversation
from tests.web.fhir_helpers import table_counts
from tests.web.forms_helpers import answers, clinician_client, new_patient, sign, text  # noqa: F401 - this module's ``client``


def care_focus_observations(client, procedure_id):
    found = client.get(
        f"/fhir/Observation?part-of=Procedure/{procedure_id}&code={codes.LOINC}|{codes.TREATMENT_PREFERENCES}"
    ).get_json()
    return [e["resource"] for e in found.get("entry", ()) if "valueCodeableConcept" in e["resource"]]


def projected(app, procedure_id):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        row = s.get(Conversation, procedure_id)
        events = s.query(CareEvent).filter_by(kind="care_focus", procedure_id=procedure_id).all()
        return row.care_focus, [(e.value, e.start_date.isoformat()) for e in events]


def test_the_form_asks_for_the_care_focus_right_after_code_status(client):
    pid = new_patient(client)
    page = text(client.get(f"/patients/{pid}/conversations/new"))
    legends = re.findall(r"<legend>([^<]+)</legend>", page)
    assert legends[legends.index("Code status") + 1] == "Care focus"
    assert (
        page.index('id="q-code-status"') < page.index('id="q-care-focus"') < page.index("q-health-care-agent")
    )
    options = re.findall(r'name="care-focus" value="([^"]*)"', page)
    assert options == ["LA33473-2", "LA33474-0", "LA33475-7", ""]  # the three answers, then "Not recorded"
    for words in ("Full treatments", "Selective treatments", "Comfort-focused treatments"):
        assert f">{words}</label>" in page


def test_a_tampered_care_focus_gets_a_field_message_and_writes_nothing(app, client):
    pid = new_patient(client)
    before = table_counts(app)
    for action in ("sign", "save"):
        for bad in ("comfort", "LA33476-5", "<b>LA33475-7</b>"):
            resp = client.post(
                f"/patients/{pid}/conversations/new", data=answers(pid, action=action, **{"care-focus": bad})
            )
            page = text(resp)
            assert resp.status_code == 422, page[:500]
            message = page.split('id="q-care-focus-error"')[1].split("</p>")[0]
            assert "is not one of the choices" in message
            assert 'href="#q-care-focus-LA33473-2"' in page  # the error summary links to the question
            assert "<b>LA33475-7</b>" not in page
    assert table_counts(app) == before


def test_a_signed_care_focus_is_an_observation_of_the_conversation_and_reads_in_the_note(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid, **{"care-focus": codes.COMFORT_FOCUSED})
    [obs] = care_focus_observations(client, procedure_id)
    assert obs["valueCodeableConcept"] == {
        "coding": [{"system": codes.LOINC, "code": "LA33475-7", "display": "Comfort-focused treatments"}],
        "text": "Comfort-focused treatments",
    }
    assert obs["category"][0]["coding"][0]["code"] == "care-focus"
    assert obs["identifier"][0]["value"].endswith("-obs-care-focus")
    qr = client.get(f"/fhir/QuestionnaireResponse?part-of=Procedure/{procedure_id}").get_json()["entry"][0]
    assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{qr['resource']['id']}"}]
    assert obs["effectiveDateTime"].startswith("2026-01-05")
    note = text(client.get(f"/conversations/{procedure_id}"))
    assert note.index("Code status") < note.index("Care focus") < note.index("Comfort-focused treatments")
    assert projected(app, procedure_id) == ("LA33475-7", [("LA33475-7", "2026-01-05")])


def test_amending_the_care_focus_supersedes_then_withdraws_its_observation(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid, **{"care-focus": codes.COMFORT_FOCUSED})
    [first] = care_focus_observations(client, procedure_id)
    changed = answers(
        pid, action="amend", version="1", reason="Family meeting", **{"care-focus": "LA33474-0"}
    )
    assert client.post(f"/conversations/{procedure_id}/amend", data=changed).status_code == 302
    [second] = care_focus_observations(client, procedure_id)
    assert second["id"] == first["id"] and second["meta"]["versionId"] == "2"  # one record, a new version
    assert second["status"] == "final" and second["valueCodeableConcept"]["coding"][0]["code"] == "LA33474-0"
    assert projected(app, procedure_id) == ("LA33474-0", [("LA33474-0", "2026-01-05")])
    history = text(client.get(f"/conversations/{procedure_id}/history"))
    assert "Care focus" in history and "Selective treatments" in history

    removed = answers(pid, action="amend", version="2", reason="Not actually agreed", **{"care-focus": ""})
    assert client.post(f"/conversations/{procedure_id}/amend", data=removed).status_code == 302
    [withdrawn] = care_focus_observations(client, procedure_id)
    assert withdrawn["id"] == first["id"] and withdrawn["status"] == "entered-in-error"
    assert projected(app, procedure_id) == (None, [])
    note = text(client.get(f"/conversations/{procedure_id}"))
    assert "Selective treatments" not in note and "Comfort-focused treatments" not in note


def test_a_note_entered_in_error_withdraws_its_care_focus(app, client):
    pid = new_patient(client)
    procedure_id = sign(client, pid, **{"care-focus": codes.COMFORT_FOCUSED})
    resp = client.post(
        f"/conversations/{procedure_id}/entered-in-error",
        data={"patient_id": pid, "version": "1", "reason": "Wrong patient"},
    )
    assert resp.status_code == 302
    [obs] = care_focus_observations(client, procedure_id)
    assert obs["status"] == "entered-in-error"
    assert projected(app, procedure_id)[1] == []
    assert "Comfort-focused treatments" not in text(client.get(f"/patients/{pid}")).split("</section>")[0]
