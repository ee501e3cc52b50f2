"""Worklist snoozes: a team's decision to take a patient off the worklist until a date, with the reason."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.models.resources import ID


class WorklistSnooze(Base):
    """One row per decision; the latest for a patient whose ``until`` is still ahead is in force.

    Rows are never edited: ending a snooze early writes a new row ending today, so the worklist's
    history of decisions stays readable.
    """

    __tablename__ = "worklist_snooze"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(ID)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    author: Mapped[str] = mapped_column(String(160))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_worklist_snooze_patient", "patient_id", "created"),)
