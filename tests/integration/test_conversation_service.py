"""Conversation use cases on both databases: drafts with optimistic locking, signing, amendment, history."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from sicdoc.errors import Conflict, NotFound
from sicdoc.fhir.search import parse_search
from sicdoc.models import Conversation, ConversationDraft, Resource
from sicdoc.services import conversations as svc
from sicdoc.services.resources import create_resource
from sicdoc.services.unit import system_unit
from sicdoc.store import read
from sicdoc.store.search import search
from tests.integration.conversation_answers import ANA, BEN, full_answers

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WHEN = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.fixture
def patient_id(session, store, uow):
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
        "name": [{"family": "Rivera", "given": ["Ana"]}],
        "birthDate": "1950-01-02",
    }
    return create_resource(uow, "Patient", body).stored.id


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_drafts_save_partially_and_refuse_a_stale_version(session, patient_id, uow):
    draft = svc.save_draft(uow, patient_id, {"goals": "Home"}, ANA)
    assert draft.version == 1 and draft.status == "draft"
    again = svc.save_draft(uow, patient_id, {"goals": "Home soon"}, ANA, draft.id, expected_version=1)
    assert again.version == 2
    with pytest.raises(svc.DraftConflict) as caught:
        svc.save_draft(uow, patient_id, {"goals": "Ben's text"}, BEN, draft.id, expected_version=1)
    assert caught.value.stored_version == 2 and "Dr Ana Lopez" in str(caught.value)
    assert svc.get_draft(uow, draft.id).answers == {"goals": "Home soon"}
    assert [d.id for d in svc.list_drafts(uow, patient_id)] == [draft.id]


def test_a_draft_refuses_bad_values_and_stores_nothing(session, patient_id, uow):
    with pytest.raises(svc.AnswersRefused) as caught:
        svc.save_draft(
            uow,
            patient_id,
            {"goals": "x" * 4001, "duration-minutes": 0},
            ANA,
            performed_start=NOW + timedelta(days=1),
            now=NOW,
        )
    assert set(caught.value.errors) == {"goals", "duration-minutes", "performed_start"}
    with pytest.raises(svc.AnswersRefused) as caught:
        svc.save_draft(uow, patient_id, {}, ANA, performed_start=datetime(1949, 1, 1, tzinfo=UTC), now=NOW)
    assert "birth" in caught.value.errors["performed_start"]
    assert count(session, ConversationDraft) == 0


def test_a_draft_of_another_patient_is_unknown(session, store, patient_id, uow):
    other = create_resource(uow, "Patient", {"resourceType": "Patient"}).stored.id
    draft = svc.save_draft(uow, patient_id, {"goals": "Home"}, ANA)
    with pytest.raises(NotFound):
        svc.save_draft(uow, other, {"goals": "x"}, ANA, draft.id, expected_version=1)
    assert svc.get_draft(uow, draft.id).version == 1


def sign(uow, patient_id, answers=None):
    draft = svc.save_draft(uow, patient_id, {"goals": "Home"}, ANA)
    return svc.sign_draft(
        uow,
        patient_id,
        answers or full_answers(),
        ANA,
        draft.id,
        expected_version=1,
        performed_start=WHEN,
        now=NOW,
    )


def test_signing_stores_the_resource_set_with_provenance_in_one_go(session, store, patient_id, uow):
    signed = sign(uow, patient_id)
    procedure = read(session, "Procedure", signed.procedure_id).content
    assert procedure["subject"]["reference"] == f"Patient/{patient_id}"
    assert procedure["performer"][0]["actor"]["display"] == "Dr Ana Lopez"
    assert procedure["performer"][0]["actor"]["reference"].startswith("Practitioner/")
    qrs = search(
        session, parse_search("QuestionnaireResponse", [("part-of", f"Procedure/{signed.procedure_id}")])
    )
    assert qrs.total == 1
    provs = search(session, parse_search("Provenance", [("target", f"Procedure/{signed.procedure_id}")]))
    prov = provs.matches[0].content
    targets = {t["reference"].split("/")[0] for t in prov["target"]}
    assert {"Procedure", "QuestionnaireResponse", "Composition", "Observation", "Goal"} <= targets
    assert prov["activity"]["coding"][0]["code"] == "CREATE"
    row = session.get(Conversation, signed.procedure_id)
    assert row.code_status == "dnr" and row.patient_id == patient_id
    draft = svc.get_draft(uow, signed.draft_id)
    assert draft.status == "signed" and draft.procedure_id == signed.procedure_id
    with pytest.raises(Conflict):
        svc.save_draft(uow, patient_id, {"goals": "changed"}, ANA, draft.id, expected_version=draft.version)


def test_signing_incomplete_answers_stores_nothing(session, store, patient_id, uow):
    before = count(session, Resource)
    with pytest.raises(svc.AnswersRefused) as caught:
        svc.sign_draft(uow, patient_id, {"goals": "Home"}, ANA, performed_start=WHEN, now=NOW)
    assert {"participants", "permission", "duration-minutes"} <= set(caught.value.errors)
    assert count(session, Resource) == before and count(session, ConversationDraft) == 0


def test_amendment_makes_new_versions_with_reason_and_history(session, store, patient_id, uow):
    signed = sign(uow, patient_id)
    changed = full_answers(
        **{
            "code-status": "full",
            "prognosis-comment": "Told her time may be short. Later: she asked for numbers.",
        }
    )
    changed.pop("goals")
    with pytest.raises(svc.AnswersRefused) as caught:
        svc.amend_conversation(uow, signed.procedure_id, changed, BEN, "  ", now=NOW)
    assert "reason" in caught.value.errors
    amended = svc.amend_conversation(
        uow,
        signed.procedure_id,
        changed,
        BEN,
        "Patient changed her mind",
        expected_version=1,
        now=NOW,
    )
    assert amended.version == 2
    record = svc.conversation_record(uow, signed.procedure_id)
    assert record.procedure.version_id == 2 and record.questionnaire_response.version_id == 2
    note = record.composition.content
    assert note["status"] == "amended"
    assert note["relatesTo"][0]["targetReference"]["reference"].endswith("/_history/1")
    assert session.get(Conversation, signed.procedure_id).code_status == "full"
    goal = search(session, parse_search("Goal", [("patient", patient_id)])).matches[0].content
    assert goal["lifecycleStatus"] == "cancelled"
    entries = svc.conversation_history(uow, signed.procedure_id)
    assert [(e.version, e.who, e.activity) for e in entries] == [
        (1, "Dr Ana Lopez", "CREATE"),
        (2, "Dr Ben Okafor", "UPDATE"),
    ]
    assert entries[1].why == "Patient changed her mind"
    labels = {c.label: (c.before, c.after) for c in entries[1].changes}
    assert set(labels) == {"Code status", "What was said about prognosis", "Goals"}
    assert labels["Goals"] == ("Be at home with her dog", "")
    assert labels["Code status"][0] != labels["Code status"][1]
    with pytest.raises(svc.DraftConflict):
        svc.amend_conversation(uow, signed.procedure_id, changed, BEN, "again", expected_version=1, now=NOW)


def test_prognosis_comments_are_append_only(session, store, patient_id, uow):
    signed = sign(uow, patient_id)
    with pytest.raises(svc.AnswersRefused) as caught:
        svc.amend_conversation(
            uow,
            signed.procedure_id,
            full_answers(**{"prognosis-comment": "Rewritten"}),
            BEN,
            "Tidy up",
            now=NOW,
        )
    assert "prognosis-comment" in caught.value.errors
    assert read(session, "Procedure", signed.procedure_id).version_id == 1


def test_concurrent_saves_of_one_draft_version_let_exactly_one_win(app, session, store, patient_id, uow):
    draft = svc.save_draft(uow, patient_id, {"goals": "Start"}, ANA)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def edit(n: int) -> None:
        with app.extensions["sicdoc.sessionmaker"]() as own:
            barrier.wait()
            try:
                svc.save_draft(
                    system_unit(own, store),
                    patient_id,
                    {"goals": f"Edit {n}"},
                    BEN,
                    draft.id,
                    expected_version=1,
                )
                outcomes.append("saved")
            except svc.DraftConflict:
                outcomes.append("conflict")

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["saved"]
    session.expire_all()
    assert svc.get_draft(uow, draft.id).version == 2
