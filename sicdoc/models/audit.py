"""The audit log: append-only (database triggers refuse UPDATE, DELETE and REPLACE) and HMAC-chained.

One ``audit_event`` row per audited act; ``audit_event_patient`` names every patient the act touched.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    # The first (or only) patient; every patient, this one included, is in ``patient_rows``.
    patient_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    source_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(500))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    # Every audited act writes each of these, so only the searches' own: a record is found by patient
    # through ``audit_event_patient``, which names them all, not by this first patient.
    __table_args__ = (
        Index("ix_audit_event_recorded", "recorded"),
        Index("ix_audit_event_actor", "actor_id"),
    )

    patient_rows: Mapped[list[AuditEventPatient]] = relationship(
        lazy="selectin", viewonly=True, order_by="AuditEventPatient.patient_id"
    )

    @property
    def patients(self) -> list[str]:
        """Every patient the record names, sorted."""
        return [p.patient_id for p in self.patient_rows]


class AuditEventPatient(Base):
    """One patient named by an audit record: a 100-row search page leaves 100 of these."""

    __tablename__ = "audit_event_patient"

    seq: Mapped[int] = mapped_column(ForeignKey("audit_event.seq"), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_audit_event_patient_patient", "patient_id"),)


class AuditUnkeyedPrefix(Base):
    """Records ``1..through_seq`` were written before the audit key existed and are chained with plain SHA-256.

    Written once by the migration that introduced the key (only when the log already had records) and
    immutable after; the first keyed record covers the last unkeyed hash.
    """

    __tablename__ = "audit_unkeyed_prefix"

    through_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
