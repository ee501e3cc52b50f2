"""Starting a new conversation from the patient's last one: its answers, to confirm rather than retype.

The answers are read the way every signed conversation is read back (``history.read_record``), so
carry-forward, the note view and amendment cannot disagree about what a note said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sicdoc.conversation import Answer
from sicdoc.errors import NotFound
from sicdoc.services import chart_header
from sicdoc.services.conversations.common import AnswersRefused
from sicdoc.services.conversations.history import author_of, read_record
from sicdoc.services.unit import UnitOfWork

CARRIED_FROM = "carried_from"
# Who took part, whether the patient agreed to talk, their capacity today and how long it took
# describe one meeting, not the patient's standing wishes: they belong to the new conversation and
# are asked afresh, as is its date (never carried).
NOT_CARRIED = frozenset(
    {"participants", "participant-names", "permission", "decision-capacity", "duration-minutes"}
)
ENTERED_IN_ERROR = "entered-in-error"


@dataclass(frozen=True)
class CarriedForward:
    """The answers taken from one earlier note, with the note's date and author for the marks."""

    procedure_id: str
    when: datetime | None
    author: str
    answers: dict[str, Answer]


def last_conversation(uow: UnitOfWork, patient_id: str) -> tuple[str, datetime | None] | None:
    """The patient's latest conversation that has form answers (entered-in-error ones left out)."""
    for conv in chart_header.documented(uow.session, patient_id):
        if conv.answers:
            return conv.procedure_id, conv.when
    return None


def carry_forward(uow: UnitOfWork, patient_id: str, procedure_id: str) -> CarriedForward:
    """The answers of ``procedure_id`` that a new conversation of ``patient_id`` may start from.

    A note of another patient (a tampered id), an unknown one or one entered in error is refused
    with ``AnswersRefused`` under ``CARRIED_FROM``, the same message for each so ids cannot be probed.
    """
    refused = AnswersRefused(
        {
            CARRIED_FROM: "The earlier note asked for is not one of this patient's signed notes, so "
            "nothing was carried forward from it and nothing was saved."
        }
    )
    try:
        record = read_record(uow.session, procedure_id)
    except NotFound:
        raise refused from None
    content = record.procedure.content or {}
    if record.patient_id != patient_id or content.get("status") == ENTERED_IN_ERROR:
        raise refused
    if record.questionnaire_response is None:
        raise AnswersRefused({CARRIED_FROM: "That note has no form answers to carry forward."})
    uow.disclose(
        "read",
        [record.procedure, record.questionnaire_response],
        resource_type="Procedure",
        resource_id=procedure_id,
    )
    start = (content.get("performedPeriod") or {}).get("start") or content.get("performedDateTime")
    return CarriedForward(
        procedure_id=procedure_id,
        when=datetime.fromisoformat(start) if start else None,
        author=author_of(uow.session, content),
        answers={k: v for k, v in record.answers.items() if k not in NOT_CARRIED},
    )
