"""Conversation drafts: what a clinician typed before signing, kept with a version for optimistic locking.

A draft is working state, not a clinical record: the signed record is the FHIR resource set. Once
signed, the row keeps the identifiers of what it became and is never edited again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.models.resources import ID

DRAFT = "draft"
SIGNED = "signed"
# Set aside by a clinician before signing: kept (with its audit record), no longer listed or editable.
DISCARDED = "discarded"


class ConversationDraft(Base):
    __tablename__ = "conversation_draft"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    # Clinician id (from the identity layer) and the name shown to colleagues.
    author: Mapped[str] = mapped_column(String(160))
    author_display: Mapped[str | None] = mapped_column(String(200))
    # Answers by Questionnaire linkId, exactly as validated (a partial set is fine for a draft).
    answers: Mapped[dict[str, Any]]
    performed_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The admission or visit the conversation belongs to; QI reads the unit and site from it.
    encounter_id: Mapped[str | None] = mapped_column(ID)
    # Incremented by every save; a save that names an older version is refused, never merged.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    # Business identifier value of the signed conversation, and the Procedure it became.
    conversation_identifier: Mapped[str | None] = mapped_column(String(255))
    procedure_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        Index("ix_conversation_draft_patient", "patient_id", "status"),
        # "My patients" on the worklist: the patients whose conversations a clinician started.
        Index("ix_conversation_draft_author", "author"),
    )
