"""A stroke population for the dashboard panels: diagnosed a day apart, some referred, some dead."""

from datetime import date, timedelta

import pandas as pd

from sicdoc.analytics import Frames

D0 = date(2024, 1, 1)


def population(n: int, *, referred_every: int = 2, dead_every: int = 3) -> Frames:
    """``n`` stroke patients diagnosed a day apart; every 2nd referred 20 days later, every 3rd dies
    60 days after index; all on one unit."""
    patients, dx, enc, refs = [], [], [], []
    for i in range(n):
        pid = f"p{i}"
        index = D0 + timedelta(days=i)
        death = index + timedelta(days=60) if i % dead_every == 0 else None
        patients.append(
            {
                "patient_id": pid,
                "sex": "female" if i % 2 else "male",
                "race": "White",
                "birth_date": date(1950, 1, 1),
                "deceased_date": death,
                "site": "North",
            }
        )
        dx.append(
            {
                "condition_id": f"c{i}",
                "cohort": "stroke",
                "patient_id": pid,
                "code_system": "icd",
                "code": "I63.9",
                "diagnosis_date": index,
                "encounter_id": f"e{i}",
            }
        )
        enc.append(
            {
                "encounter_id": f"e{i}",
                "patient_id": pid,
                "class_code": "IMP",
                "status": "finished",
                "admit_at": pd.Timestamp(index, tz="UTC"),
                "admit_date": index,
                "discharge_at": pd.Timestamp(index + timedelta(days=3), tz="UTC"),
                "discharge_date": index + timedelta(days=3),
                "site": "North",
                "unit": "Neuro",
            }
        )
        if i % referred_every == 0:
            when = index + timedelta(days=20)
            refs.append(
                {
                    "service_request_id": f"r{i}",
                    "patient_id": pid,
                    "code": "306237005",
                    "status": "active",
                    "authored_at": pd.Timestamp(when, tz="UTC"),
                    "authored_date": when,
                }
            )
    return Frames.from_records(patients=patients, diagnoses=dx, encounters=enc, referrals=refs)
