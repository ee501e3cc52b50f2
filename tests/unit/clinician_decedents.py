"""Decedents whose conversations were held by named clinicians, and the key that pseudonymises them."""

from datetime import date, timedelta

import pandas as pd

from sicdoc.analytics import Frames

KEY = b"k" * 32
IDS = [f"Practitioner/{n:08d}-0000-4000-8000-000000000000" for n in range(3)]


def decedents(n: int) -> Frames:
    """``n`` stroke decedents, each with a conversation 60 days before death by one of three performers."""
    d0 = date(2025, 1, 1)
    patients, dx, convs = [], [], []
    performers = [IDS[0], IDS[1], "Dr. Free Text"]
    for i in range(n):
        index, death = d0 + timedelta(days=i), d0 + timedelta(days=i + 120)
        patients.append(
            {"patient_id": f"p{i}", "sex": "female", "birth_date": date(1940, 1, 1), "deceased_date": death}
        )
        dx.append(
            {
                "condition_id": f"c{i}",
                "cohort": "stroke",
                "patient_id": f"p{i}",
                "code_system": "icd",
                "code": "I63.9",
                "diagnosis_date": index,
            }
        )
        when = death - timedelta(days=60)
        convs.append(
            {
                "procedure_id": f"s{i}",
                "patient_id": f"p{i}",
                "status": "completed",
                "performed_at": pd.Timestamp(when, tz="UTC"),
                "performed_date": when,
                "clinician_id": performers[i % 3],
            }
        )
    return Frames.from_records(patients=patients, diagnoses=dx, conversations=convs)
