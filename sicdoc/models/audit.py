"""The audit log: append-only (database triggers refuse UPDATE and DELETE) and hash-chained."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base


class AuditEvent(Base):
    __tablename__ = "audit_event"

    # Assigned by the appender under a lock, so the hash can cover it before the row is written.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    source_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_event_recorded", "recorded"),
        Index("ix_audit_event_actor", "actor_id"),
        Index("ix_audit_event_patient", "patient_id"),
    )
