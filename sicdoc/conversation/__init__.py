"""Serious illness conversations: answers to the SIC Questionnaire and the FHIR resources they become.

Pure Python (standard library, ``sicdoc.codes`` and ``sicdoc.questionnaires``), so the web form,
the FHIR services, the sample generator and analytics can all use it.
"""

from __future__ import annotations

from sicdoc.conversation.answers import (
    Answer,
    ConversationAnswers,
    InvalidAnswers,
    answered,
    is_answered,
    validate_answers,
)
from sicdoc.conversation.bundle import build_conversation_bundle
from sicdoc.conversation.domains import documented_domains
from sicdoc.conversation.extract import CODE_STATUS_SNOMED

__all__ = [
    "CODE_STATUS_SNOMED",
    "Answer",
    "ConversationAnswers",
    "InvalidAnswers",
    "answered",
    "build_conversation_bundle",
    "documented_domains",
    "is_answered",
    "validate_answers",
]
