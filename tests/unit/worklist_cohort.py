"""A hand-built worklist cohort: who is due a conversation on AS_OF, and why, in its docstring."""

from datetime import UTC, date, datetime

from sicdoc.analytics import Frames

AS_OF = date(2025, 12, 31)


def frames() -> Frames:
    """w1 metastatic cancer, index 10-01, no conversation                  due (index), priority 1
    w2 cancer, index 06-01, no conversation                              due (index), 213 days
    w3 heart failure, index 03-01, conversation 03-20, HF admissions 03-01 and 12-20
                                                                         due (admission), priority 2
    w4 stroke, index 12-15 (16 days ago)                                 not yet
    w5 stroke, died 05-01                                                 not listed
    w6 stroke, index 2024-12-01, conversation 2025-01-10                 not due
    w7 stroke (index 02-01) and cancer (index 04-01), no conversation    due (index), 333 days
    w8 stroke, index 08-01, conversation 07-01 (before index)            due (index), 152 days
    """
    dx = [
        ("w1", "cancer", date(2025, 10, 1), True, None),
        ("w2", "cancer", date(2025, 6, 1), False, None),
        ("w3", "heart_failure", date(2025, 3, 1), False, "e3a"),
        ("w3", "heart_failure", date(2025, 12, 20), False, "e3b"),
        ("w4", "stroke", date(2025, 12, 15), False, None),
        ("w5", "stroke", date(2025, 1, 1), False, None),
        ("w6", "stroke", date(2024, 12, 1), False, None),
        ("w7", "stroke", date(2025, 2, 1), False, None),
        ("w7", "cancer", date(2025, 4, 1), False, None),
        ("w8", "stroke", date(2025, 8, 1), False, None),
    ]
    diagnoses = [
        {
            "condition_id": f"c{i}",
            "cohort": c,
            "patient_id": p,
            "diagnosis_date": d,
            "metastatic": m,
            "encounter_id": e,
        }
        for i, (p, c, d, m, e) in enumerate(dx)
    ]
    encounters = [
        {
            "encounter_id": e,
            "patient_id": "w3",
            "class_code": "IMP",
            "status": "finished",
            "admit_at": datetime(d.year, d.month, d.day, tzinfo=UTC),
            "admit_date": d,
        }
        for e, d in (("e3a", date(2025, 3, 1)), ("e3b", date(2025, 12, 20)))
    ]
    conversations = [
        {"procedure_id": f"s{p}", "patient_id": p, "status": "completed", "performed_date": d}
        for p, d in (("w3", date(2025, 3, 20)), ("w6", date(2025, 1, 10)), ("w8", date(2025, 7, 1)))
    ]
    patients = [
        {"patient_id": p, "deceased_date": date(2025, 5, 1) if p == "w5" else None}
        for p in sorted({d[0] for d in dx})
    ]
    return Frames.from_records(
        patients=patients, diagnoses=diagnoses, encounters=encounters, conversations=conversations
    )
