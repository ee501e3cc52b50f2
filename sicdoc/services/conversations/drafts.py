"""Drafts (saved with optimistic locking) and signing a draft into the FHIR resource set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from sicdoc.conversation import Answer, ConversationAnswers, answered, build_conversation_bundle, is_answered
from sicdoc.errors import Conflict, NotFound, Unprocessable
from sicdoc.fhir.dates import utc_now
from sicdoc.models.drafts import DISCARDED, DRAFT, SIGNED, ConversationDraft
from sicdoc.services import timing
from sicdoc.services.bundles import apply_transaction
from sicdoc.services.conversations.common import (
    CONVERSATION_SYSTEM,
    FORMS_CLIENT,
    WHEN,
    AnswersRefused,
    Author,
    DraftConflict,
    SignedConversation,
    check_answers,
    clinician_reference,
    encounter_setting,
    locations,
    provenance,
)
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import new_id, read


def get_draft(uow: UnitOfWork, draft_id: str, patient_id: str | None = None) -> ConversationDraft:
    """One draft; a draft of another patient is reported as unknown, so ids cannot be probed."""
    draft = _draft(uow.session, draft_id, patient_id)
    uow.disclose("read", patients=[draft.patient_id], resource_type="ConversationDraft", resource_id=draft_id)
    return draft


def _draft(session: Session, draft_id: str, patient_id: str | None) -> ConversationDraft:
    draft = session.get(ConversationDraft, draft_id)
    if draft is None or (patient_id is not None and draft.patient_id != patient_id):
        raise NotFound(f"Draft {draft_id} is not known for this patient")
    return draft


def list_drafts(uow: UnitOfWork, patient_id: str) -> list[ConversationDraft]:
    """Unsigned drafts of a patient, most recently saved first."""
    uow.disclose("read", patients=[patient_id])
    return list(
        uow.session.scalars(
            select(ConversationDraft)
            .where(ConversationDraft.patient_id == patient_id, ConversationDraft.status == DRAFT)
            .order_by(ConversationDraft.updated.desc())
        )
    )


def save_draft(
    uow: UnitOfWork,
    patient_id: str,
    answers: Mapping[str, Answer],
    author: Author,
    draft_id: str | None = None,
    expected_version: int | None = None,
    *,
    performed_start: datetime | None = None,
    encounter_id: str | None = None,
    now: datetime | None = None,
) -> ConversationDraft:
    """Create or update a draft. Bad values are refused (``AnswersRefused``); missing ones are fine,
    but a new draft with no answer at all is not created (``NothingToSave``).

    Saving over a version other than ``expected_version`` raises ``DraftConflict`` with the stored
    version: the caller keeps the clinician's text and shows the conflict instead of overwriting.
    """
    now = now or utc_now()
    session = uow.session
    with uow.transaction():
        encounter_setting(session, patient_id, encounter_id)
        errors = check_answers(session, patient_id, answers, performed_start, now, complete=False)
        if performed_start is not None and WHEN not in errors:
            errors.update(timing.conversation_errors(uow, patient_id, performed_start, encounter_id))
        if errors:
            raise AnswersRefused(errors)
        if draft_id is None and not any(is_answered(v) for v in answers.values()):
            raise NothingToSave("Nothing was saved: no question is answered yet.")
        draft = _store_draft(
            session,
            patient_id,
            answers,
            author,
            draft_id,
            expected_version,
            performed_start,
            encounter_id,
            now,
        )
        uow.audit_change(
            "draft-save", patients=[patient_id], resource_type="ConversationDraft", resource_id=draft.id
        )
        return draft


def _store_draft(
    session: Session,
    patient_id: str,
    answers: Mapping[str, Answer],
    author: Author,
    draft_id: str | None,
    expected_version: int | None,
    when: datetime | None,
    encounter_id: str | None,
    now: datetime,
) -> ConversationDraft:
    values = _answers_json(answers)
    if draft_id is None:
        draft = ConversationDraft(
            id=new_id(),
            patient_id=patient_id,
            author=author.id,
            author_display=author.display,
            answers=values,
            performed_start=when,
            encounter_id=encounter_id,
            version=1,
            created=now,
            updated=now,
            status=DRAFT,
        )
        session.add(draft)
        session.flush()
        return draft
    draft = _draft(session, draft_id, patient_id)
    if draft.status == SIGNED:
        raise Conflict("This conversation is signed and can no longer be edited; amend it instead.")
    if draft.status == DISCARDED:
        raise Conflict("This draft was discarded and can no longer be edited; start a new conversation.")
    if expected_version is None or draft.version != expected_version:
        raise _conflict(draft)
    # Compare-and-set on the version, so two saves racing past the check above cannot both win.
    result = session.execute(
        update(ConversationDraft)
        .where(ConversationDraft.id == draft.id, ConversationDraft.version == expected_version)
        .values(
            answers=values,
            performed_start=when,
            encounter_id=encounter_id,
            version=expected_version + 1,
            updated=now,
            author_display=author.display,
        )
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)  # an UPDATE's result: rowcount is known
    if result.rowcount != 1:
        session.expire(draft)
        raise _conflict(draft)
    session.expire(draft)
    session.refresh(draft)
    return draft


class NothingToSave(Unprocessable):
    """A new draft with no answer: saving it would only leave an empty draft listed."""


def discard_draft(
    uow: UnitOfWork,
    draft_id: str,
    patient_id: str,
    expected_version: int | None,
    *,
    now: datetime | None = None,
) -> ConversationDraft:
    """Set an unsigned draft aside. The row is kept, marked discarded, with an audit record."""
    session = uow.session
    with uow.transaction():
        draft = _draft(session, draft_id, patient_id)
        if draft.status != DRAFT:
            raise Conflict(f"This draft is already {draft.status}; nothing was discarded.")
        if expected_version is not None and draft.version != expected_version:
            raise _conflict(draft)
        draft.status = DISCARDED
        draft.updated = now or utc_now()
        uow.audit_change(
            "draft-discard",
            patients=[draft.patient_id],
            resource_type="ConversationDraft",
            resource_id=draft.id,
        )
        return draft


def _conflict(draft: ConversationDraft) -> DraftConflict:
    who = draft.author_display or draft.author
    return DraftConflict(
        f"This draft was saved by {who} since you opened it (now version {draft.version}). "
        "Your text is still in the form: compare, then save again.",
        stored_version=draft.version,
        saved_by=who,
    )


def sign_draft(
    uow: UnitOfWork,
    patient_id: str,
    answers: Mapping[str, Answer],
    author: Author,
    draft_id: str | None = None,
    expected_version: int | None = None,
    *,
    performed_start: datetime | None = None,
    encounter_id: str | None = None,
    late_reason: str = "",
    carried_from: str | None = None,
    now: datetime | None = None,
) -> SignedConversation:
    """Validate, store the conversation bundle and its Provenance, and close the draft: one transaction.

    A note signed after the patient's death about a conversation before it is a late entry: it needs
    ``late_reason``, which its Provenance carries with the late-entry code. A note started from an
    earlier one (``carried_from``, a Procedure id the caller has checked) names it as a source.
    """
    now = now or utc_now()
    late_reason = (late_reason or "").replace("\r\n", "\n").strip()

    session, store = uow.session, uow.store

    def attempt() -> SignedConversation:
        with uow.transaction():
            setting = encounter_setting(session, patient_id, encounter_id)
            errors = check_answers(session, patient_id, answers, performed_start, now, complete=True)
            died = None
            if performed_start is not None and WHEN not in errors:
                errors.update(timing.conversation_errors(uow, patient_id, performed_start, encounter_id))
                died = timing.late_entry(uow, patient_id, performed_start, now)
            late_error = timing.late_reason_error(died, late_reason) if died else None
            if late_error:
                errors[timing.LATE_REASON] = late_error
            if errors:
                raise AnswersRefused(errors)
            assert performed_start is not None  # checked above
            draft = _store_draft(
                session,
                patient_id,
                answers,
                author,
                draft_id,
                expected_version,
                performed_start,
                encounter_id,
                now,
            )
            reference, extra = clinician_reference(author)
            conversation = ConversationAnswers(
                patient=f"Patient/{patient_id}",
                clinician=reference,
                clinician_display=author.display,
                performed_start=performed_start,
                answers=answers,
                **setting,
            )
            bundle = build_conversation_bundle(
                conversation, conversation_id=draft.id, identifier_system=CONVERSATION_SYSTEM
            )
            bundle["entry"][:0] = extra
            written = locations(apply_transaction(uow, bundle, client_id=FORMS_CLIENT))
            procedure_id = next(i for t, i, _ in written if t == "Procedure")
            procedure = read(session, "Procedure", procedure_id).content
            assert procedure is not None  # written just now, so not deleted
            actor = procedure["performer"][0]["actor"]
            targets = [loc for loc in written if loc[0] != "Practitioner"]
            signing = provenance(targets, actor, "CREATE", now)
            if died:
                signing = timing.mark_late(signing, late_reason, performed_start)
            if carried_from:
                source = {"role": "source", "what": {"reference": f"Procedure/{carried_from}"}}
                signing.setdefault("entity", []).append(source)
            uow.audit_writes([("create", store.create(session, signing))])
            draft.status = SIGNED
            draft.conversation_identifier = draft.id
            draft.procedure_id = procedure_id
            return SignedConversation(procedure_id, draft.id, 1)

    return uow.retrying(attempt)


def _answers_json(answers: Mapping[str, Answer]) -> dict[str, Answer]:
    probe = ConversationAnswers(
        patient="Patient/x", clinician="Practitioner/x", performed_start=utc_now(), answers=answers
    )
    return answered(probe)
