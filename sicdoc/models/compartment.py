"""Patient-compartment membership, written with every resource version (FHIR R4 CompartmentDefinition)."""

from __future__ import annotations

from sqlalchemy import Index
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.models.resources import ID, TYPE


class CompartmentMember(Base):
    """One live resource in one patient's compartment (a Patient is in its own).

    The primary key (patient, type, id) serves ``Patient/$everything``: a page is one range of it.
    """

    __tablename__ = "patient_compartment"

    patient_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource_type: Mapped[str] = mapped_column(TYPE, primary_key=True)
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)

    __table_args__ = (Index("ix_patient_compartment_resource", "resource_type", "resource_id"),)
