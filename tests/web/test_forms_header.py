"""The patient header reads each fact across conversations: a short later note never hides a DNR."""

import html
import re

import pytest
from sqlalchemy import select

from sicdoc import codes
from sicdoc.models import Conversation
from sicdoc.services import chart_header
from sicdoc.store.frames import load_tables
from tests.sql_statements import selects, sent
from tests.web.fhir_helpers import send
from tests.web.forms_helpers import answers, clinician_client, new_patient, sign, text  # noqa: F401 - this module's ``client``

SNOMED_RESUS = f"{codes.SNOMED}|{codes.RESUSCITATION_STATUS}"
# Only what signing requires: no code status, goals, recommendation, agent or prognosis.
MINIMAL = {
    k: None
    for k in (
        "illness-understanding",
        "illness-understanding-other",
        "prognosis-shared",
        "prognosis-framing",
        "prognosis-comment",
        "goals",
        "fears-worries",
        "recommendation",
        "code-status",
        "health-care-agent",
    )
}
WORDS = {
    "full": "Full code: attempt resuscitation",
    "dnr": "Do not resuscitate",
    "dnr-dni": "Do not resuscitate, do not intubate",
    "undecided": "Not yet decided",
}


def words(fragment):
    """The text a reader sees: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def header_of(client, pid):
    page = text(client.get(f"/patients/{pid}"))
    return words(page.split('id="latest-heading"')[1].split("</section>")[0])


def code_status_of(client, pid):
    page = text(client.get(f"/patients/{pid}"))
    return words(page.split('<p class="code-status">')[1].split("</p>")[0])


def timeline_of(client, pid):
    return words(text(client.get(f"/patients/{pid}")).split('id="timeline"')[1].split("</section>")[0])


def test_a_minimal_later_note_keeps_dnr_dni_goals_and_agent_with_date_and_author(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00", **{"code-status": "dnr-dni"})
    sign(client, pid, "2026-11-30T10:00", **MINIMAL)
    header = header_of(client, pid)
    assert code_status_of(client, pid) == "Do not resuscitate, do not intubate"
    assert header.index("Code status") < header.index("Health care agent") < header.index("What matters most")
    assert "Documented 2026-10-02 by clinician" in header
    gap = "Not recorded in the 2026-11-30 note; last documented 2026-10-02 by clinician"
    assert header.count(gap) == 5  # code status, agent, goals, recommendation and prognosis
    assert "Not discussed" not in header
    for kept in ("Maria Rivera (daughter)", "To be at home with my grandchildren", "Home hospice referral"):
        assert kept in header
    assert "Shared with the patient (Expected time): Months rather than years." in header
    assert "Latest conversation 2026-11-30 10:00 by clinician" in header
    assert "Code status changed" not in header
    page = text(client.get(f"/patients/{pid}"))
    assert "<details" in page and "<summary>What matters most, recommendation and prognosis</summary>" in page
    assert page.index('class="code-status"') < page.index("<details")  # time-critical facts first


def test_a_prognosis_answered_no_later_says_not_discussed(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00")
    sign(client, pid, "2026-11-30T10:00", **{**MINIMAL, "prognosis-shared": "no"})
    header = header_of(client, pid)
    assert "Not discussed in the 2026-11-30 note; last documented 2026-10-02 by clinician" in header


def test_no_conversation_documenting_a_field_says_so(client):
    pid = new_patient(client)
    sign(client, pid, "2026-11-30T10:00", **MINIMAL)
    header = header_of(client, pid)
    assert code_status_of(client, pid) == "Not recorded in any conversation"
    assert "Documented" not in header and "last documented" not in header


def test_a_changed_code_status_is_flagged_and_an_unchanged_one_is_not(client):
    pid = new_patient(client)
    sign(client, pid, "2026-09-01T09:00", **{"code-status": "full"})
    sign(client, pid, "2026-09-15T09:00", **MINIMAL)
    sign(client, pid, "2026-10-02T09:00", **{"code-status": "dnr-dni"})
    sign(client, pid, "2026-11-30T10:00", **MINIMAL)
    header = header_of(client, pid)
    assert (
        "Code status changed from Full code: attempt resuscitation (documented 2026-09-01 by clinician) "
        "to Do not resuscitate, do not intubate on 2026-10-02." in header
    )
    assert 'class="code-status-box changed"' in text(client.get(f"/patients/{pid}"))
    same = new_patient(client, "MRN-2", "Okafor")
    sign(client, same, "2026-09-01T09:00", **{"code-status": "dnr"})
    sign(client, same, "2026-10-02T09:00", **{"code-status": "dnr"})
    assert "Code status changed" not in header_of(client, same)
    dni = new_patient(client, "MRN-3", "Berg")
    sign(client, dni, "2026-09-01T09:00", **{"code-status": "dnr"})
    sign(client, dni, "2026-10-02T09:00", **{"code-status": "dnr-dni"})
    assert "Code status changed from Do not resuscitate (documented 2026-09-01" in header_of(client, dni)


def test_a_note_entered_in_error_does_not_count(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00", **{"code-status": "dnr-dni"})
    wrong = sign(client, pid, "2026-11-30T10:00", **{"code-status": "full", "goals": "Wrong patient"})
    assert code_status_of(client, pid) == WORDS["full"]
    procedure = client.get(f"/fhir/Procedure/{wrong}").get_json()
    resp = send(client, "PUT", f"/fhir/Procedure/{wrong}", {**procedure, "status": "entered-in-error"})
    assert resp.status_code == 200, resp.get_json()
    header = header_of(client, pid)
    assert code_status_of(client, pid) == WORDS["dnr-dni"]
    assert "Wrong patient" not in header and "Code status changed" not in header
    assert "Latest conversation 2026-10-02 09:00" in header and "2026-11-30" not in header


@pytest.mark.parametrize("status", ["full", "dnr", "dnr-dni", "undecided"])
def test_each_code_status_stays_itself_in_header_timeline_projection_and_analytics(app, client, status):
    pid = new_patient(client)
    procedure_id = sign(client, pid, "2026-10-02T09:00", **{"code-status": status})
    assert code_status_of(client, pid) == WORDS[status]
    assert f"Code status: {WORDS[status]}" in timeline_of(client, pid)
    with app.extensions["sicdoc.sessionmaker"]() as session:
        assert session.get(Conversation, procedure_id).code_status == status
    with app.extensions["sicdoc.engine"].connect() as connection:
        frame = load_tables(connection, ["conversations"])["conversations"]
    assert frame.loc[frame.procedure_id == procedure_id, "code_status"].tolist() == [status]


def test_the_fhir_observation_tells_dnr_dni_from_dnr(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00", **{"code-status": "dnr-dni"})
    other = new_patient(client, "MRN-2", "Okafor")
    sign(client, other, "2026-10-02T09:00", **{"code-status": "dnr"})
    found = {}
    for patient_id in (pid, other):
        resp = client.get(f"/fhir/Observation?code={SNOMED_RESUS}&patient={patient_id}")
        entries = resp.get_json()["entry"]
        assert len(entries) == 1
        found[patient_id] = entries[0]["resource"]["valueCodeableConcept"]
    dni, dnr = found[pid], found[other]
    assert dni["text"] == "Do not resuscitate, do not intubate" and dnr["text"] == "Do not resuscitate"
    assert {"system": codes.SNOMED, "code": codes.NOT_FOR_RESUSCITATION} in [
        {k: c[k] for k in ("system", "code")} for c in dni["coding"]
    ]
    assert [c["code"] for c in dni["coding"] if c["system"] == codes.SIC_ANSWER_SYSTEM] == ["dnr-dni"]
    assert [c["code"] for c in dnr["coding"] if c["system"] == codes.SIC_ANSWER_SYSTEM] == ["dnr"]
    by_answer = client.get(f"/fhir/Observation?value-concept={codes.SIC_ANSWER_SYSTEM}|dnr-dni").get_json()
    assert {e["resource"]["subject"]["reference"] for e in by_answer["entry"]} == {f"Patient/{pid}"}


def test_an_ehr_observation_with_snomed_only_still_shows_dnr(app, client):
    pid = new_patient(client)
    procedure = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": codes.SNOMED, "code": codes.ADVANCE_CARE_PLANNING}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performedDateTime": "2025-03-04T10:00:00Z",
        "performer": [{"actor": {"reference": "Practitioner/ehr-1", "display": "Dr Example"}}],
    }
    procedure_id = send(client, "POST", "/fhir/Procedure", procedure).get_json()["id"]
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": codes.SNOMED, "code": codes.RESUSCITATION_STATUS}]},
        "subject": {"reference": f"Patient/{pid}"},
        "partOf": [{"reference": f"Procedure/{procedure_id}"}],
        "valueCodeableConcept": {"coding": [{"system": codes.SNOMED, "code": codes.NOT_FOR_RESUSCITATION}]},
    }
    assert send(client, "POST", "/fhir/Observation", observation).status_code == 201
    with app.extensions["sicdoc.sessionmaker"]() as session:
        assert session.get(Conversation, procedure_id).code_status == "dnr"
    assert code_status_of(client, pid) == "Do not resuscitate"
    assert "Documented 2025-03-04 by Dr Example" in header_of(client, pid)
    assert "Code status: Do not resuscitate" in timeline_of(client, pid)


def test_the_header_reads_all_conversations_in_one_query(app, client):
    pid = new_patient(client)
    for day in ("2026-09-01", "2026-10-02", "2026-11-30"):
        sign(client, pid, f"{day}T09:00", **{"code-status": "dnr"})
    with app.extensions["sicdoc.sessionmaker"]() as session:
        with sent(app.extensions["sicdoc.engine"]) as statements:
            found = chart_header.documented(session, pid)
        assert len(session.scalars(select(Conversation).where(Conversation.patient_id == pid)).all()) == 3
    assert [d.answers["code-status"] for d in found] == ["dnr"] * 3
    assert selects(statements) == 1


def care_focus_box(client, pid):
    page = text(client.get(f"/patients/{pid}"))
    box = page.split('class="care-focus-box')[1].split(">", 1)[1]
    return words(box.split("</div>")[0])


def care_focus_observation(pid, code, when, performer=None):
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": codes.LOINC, "code": codes.TREATMENT_PREFERENCES}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"coding": [{"system": codes.LOINC, "code": code}]},
    }
    if performer:
        obs["performer"] = [{"display": performer}]
    return obs


def test_the_care_focus_sits_beside_code_status_with_its_date_author_and_change(client):
    pid = new_patient(client)
    sign(client, pid, "2026-09-01T09:00", **{"care-focus": "LA33473-2"})
    sign(client, pid, "2026-10-02T09:00", **{"care-focus": codes.COMFORT_FOCUSED})
    sign(client, pid, "2026-11-30T10:00", **MINIMAL)
    page = text(client.get(f"/patients/{pid}"))
    assert (
        page.index('class="code-status-box')
        < page.index('class="care-focus-box changed"')
        < page.index("Health care agent")
    )
    box = care_focus_box(client, pid)
    assert box.startswith("Care focus Comfort-focused treatments Documented 2026-10-02 by clinician")
    assert (
        "Care focus changed from Full treatments (documented 2026-09-01 by clinician) "
        "to Comfort-focused treatments on 2026-10-02." in box
    )
    assert "Not recorded in the 2026-11-30 note; last documented 2026-10-02 by clinician" in box


def test_an_ehr_care_focus_observation_counts_by_date_among_conversations(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00", **{"care-focus": "LA33473-2"})
    later = care_focus_observation(pid, codes.COMFORT_FOCUSED, "2026-10-20T15:00:00Z", "Dr Amy Lee")
    assert send(client, "POST", "/fhir/Observation", later).status_code == 201
    box = care_focus_box(client, pid)
    assert box.startswith("Care focus Comfort-focused treatments Documented 2026-10-20 by Dr Amy Lee")
    assert "changed from Full treatments (documented 2026-10-02 by clinician)" in box
    # An older EHR record does not override the later conversation; free text is no care focus.
    other = new_patient(client, "MRN-2", "Okafor")
    older = care_focus_observation(other, "LA33474-0", "2026-01-10")
    assert send(client, "POST", "/fhir/Observation", older).status_code == 201
    assert care_focus_box(client, other).startswith(
        "Care focus Selective treatments Documented 2026-01-10 by unknown"
    )
    sign(client, other, "2026-10-02T09:00", **{"care-focus": codes.COMFORT_FOCUSED})
    trade_offs = {**care_focus_observation(other, "x", "2026-12-01"), "valueString": "No ventilator"}
    del trade_offs["valueCodeableConcept"]
    assert send(client, "POST", "/fhir/Observation", trade_offs).status_code == 201
    box = care_focus_box(client, other)
    assert box.startswith("Care focus Comfort-focused treatments Documented 2026-10-02 by clinician")
    assert "changed from Selective treatments (documented 2026-01-10 by unknown)" in box


def test_without_a_care_focus_the_header_says_so_and_flags_no_change(client):
    pid = new_patient(client)
    sign(client, pid, "2026-10-02T09:00", **{"care-focus": "LA33474-0"})
    sign(client, pid, "2026-11-02T09:00", **{"care-focus": "LA33474-0"})
    assert "Care focus changed" not in care_focus_box(client, pid)
    none = new_patient(client, "MRN-3", "Berg")
    sign(client, none, "2026-10-02T09:00")
    assert care_focus_box(client, none) == "Care focus Not recorded in any conversation"
