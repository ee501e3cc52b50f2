"""Synthetic serious-illness population: deterministic FHIR R4 transaction Bundles for demos and tests.

``generate`` writes N patients (stroke, heart failure, cancer and controls, their admissions,
palliative referrals and consults, conversations and deaths) shaped by published figures.
"""

from __future__ import annotations

from sicdoc.sample.writer import (
    DEFAULT_AS_OF,
    GenerationReport,
    generate,
    iter_patients,
    make_patient,
    plan_patient,
    read_output,
)

__all__ = [
    "DEFAULT_AS_OF",
    "GenerationReport",
    "generate",
    "iter_patients",
    "make_patient",
    "plan_patient",
    "read_output",
]
