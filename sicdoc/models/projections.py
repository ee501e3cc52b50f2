"""Flat read models for analytics, kept in step with the resources in the same transaction.

Dates (``*_date``) are the calendar dates as written in the record; instants (``*_at``) are UTC and
serve hour-level measures such as time from admission to consult.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.models.resources import ID


class PatientFact(Base):
    __tablename__ = "patient_fact"

    patient_id: Mapped[str] = mapped_column(ID, primary_key=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    race: Mapped[str | None] = mapped_column(String(64))
    ethnicity: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(64))
    deceased_date: Mapped[date | None] = mapped_column(Date)
    site: Mapped[str | None] = mapped_column(String(128))


class DiagnosisFact(Base):
    """A Condition that falls in a cohort value set (one row per cohort it qualifies for)."""

    __tablename__ = "diagnosis_fact"

    condition_id: Mapped[str] = mapped_column(ID, primary_key=True)
    cohort: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    code_system: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(64))
    subtype: Mapped[str | None] = mapped_column(String(32))
    metastatic: Mapped[bool] = mapped_column(Boolean, default=False)
    hematologic: Mapped[bool] = mapped_column(Boolean, default=False)
    diagnosis_date: Mapped[date | None] = mapped_column(Date)
    encounter_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (Index("ix_diagnosis_fact_patient", "patient_id"),)


class EncounterFact(Base):
    __tablename__ = "encounter_fact"

    encounter_id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    class_code: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(32))
    admit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    admit_date: Mapped[date | None] = mapped_column(Date)
    discharge_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    discharge_date: Mapped[date | None] = mapped_column(Date)
    site: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))
    palliative: Mapped[bool] = mapped_column(Boolean, default=False)
    # hospitalization.dischargeDisposition (discharge-disposition code): "exp" died, "hosp" hospice.
    discharge_disposition: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_encounter_fact_patient", "patient_id"),)


class PalliativeReferral(Base):
    __tablename__ = "palliative_referral"

    service_request_id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    code: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(32))
    authored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    authored_date: Mapped[date | None] = mapped_column(Date)
    encounter_id: Mapped[str | None] = mapped_column(ID)
    requester_id: Mapped[str | None] = mapped_column(String(160))
    site: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_palliative_referral_patient", "patient_id"),)


class PalliativeConsult(Base):
    __tablename__ = "palliative_consult"

    encounter_id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str | None] = mapped_column(String(32))
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    start_date: Mapped[date | None] = mapped_column(Date)
    referral_id: Mapped[str | None] = mapped_column(ID)
    site: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_palliative_consult_patient", "patient_id"),)


class Conversation(Base):
    """A serious illness conversation (Procedure 713603004 or sicdoc's own SIC coding)."""

    __tablename__ = "conversation"

    procedure_id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ID)
    status: Mapped[str | None] = mapped_column(String(32))
    performed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    performed_date: Mapped[date | None] = mapped_column(Date)
    clinician_id: Mapped[str | None] = mapped_column(String(160))
    encounter_id: Mapped[str | None] = mapped_column(ID)
    site: Mapped[str | None] = mapped_column(String(128))
    unit: Mapped[str | None] = mapped_column(String(128))
    # Comma-separated SIC domain codes that were documented (from the QuestionnaireResponse).
    domains: Mapped[str | None] = mapped_column(String(512))
    code_status: Mapped[str | None] = mapped_column(String(32))
    # The care focus answer (LOINC LL6264-7 answer code), from the response or its Observation.
    care_focus: Mapped[str | None] = mapped_column(String(16))
    # Guide domains of the documentation-quality score ("values,prognosis,planning,treatment" in
    # that order, those documented) and what it was scored from (sicdoc.conversation.quality).
    quality_domains: Mapped[str | None] = mapped_column(String(64))
    quality_source: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_conversation_patient", "patient_id"),)


class CareEvent(Base):
    """A dated record the end-of-life measures read: an ED visit's or a stay's location, hospice
    enrolment, chemotherapy, CPR, ventilation, intubation, a care focus or a code status documented
    outside a conversation. ``kind`` names it (``sicdoc.analytics.care_records.KINDS``)."""

    __tablename__ = "care_event"

    event_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    source_type: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(ID)
    patient_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # A care focus or code status answer, or a procedure's status.
    value: Mapped[str | None] = mapped_column(String(32))
    # The conversation (Procedure) a care focus Observation is part of.
    procedure_id: Mapped[str | None] = mapped_column(ID)
    encounter_id: Mapped[str | None] = mapped_column(ID)
    # Where a stay was (a Location id; None when the encounter names no stored Location).
    location_id: Mapped[str | None] = mapped_column(ID)

    __table_args__ = (
        Index("ix_care_event_source", "source_type", "source_id"),
        Index("ix_care_event_patient", "patient_id"),
    )


class LocationFact(Base):
    """A Location and whether its type says intensive care (the ICU value set)."""

    __tablename__ = "location_fact"

    location_id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    typed: Mapped[bool] = mapped_column(Boolean, default=False)
    icu: Mapped[bool] = mapped_column(Boolean, default=False)
