"""Conversation use cases: drafts, signing, amendment and history. No web framework here.

Signing and amending build the FHIR resource set with ``sicdoc.conversation`` and store it through
``apply_transaction``, the same code that stores EHR bundles, so a conversation typed into the form
is returned by the FHIR API exactly like one posted by an interface engine.
"""

from sicdoc.services.conversations.amend import amend_conversation
from sicdoc.services.conversations.common import (
    CONVERSATION_SYSTEM,
    AnswersRefused,
    Author,
    DraftConflict,
    SignedConversation,
)
from sicdoc.services.conversations.drafts import get_draft, list_drafts, save_draft, sign_draft
from sicdoc.services.conversations.history import (
    ConversationRecord,
    HistoryEntry,
    conversation_history,
    conversation_record,
)

__all__ = [
    "CONVERSATION_SYSTEM",
    "AnswersRefused",
    "Author",
    "ConversationRecord",
    "DraftConflict",
    "HistoryEntry",
    "SignedConversation",
    "amend_conversation",
    "conversation_history",
    "conversation_record",
    "get_draft",
    "list_drafts",
    "save_draft",
    "sign_draft",
]
