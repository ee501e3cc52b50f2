"""A hand-built stroke cohort whose every metric is worked out in its docstring (day n = D0 + n days)."""

from datetime import date, timedelta

from sicdoc.analytics import Frames

D0 = date(2025, 1, 1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def stroke_frames() -> Frames:
    """Index D0 = 2025-01-01 unless said otherwise ("day n" = D0 + n days).

    A  referral day 0 (time-0 event); conversation day 5
    B  referral day 10 and death day 10 (same day: a referral); conversation day 10 (day of death)
    C  death day 20; an in-progress conversation day 3 (not completed); a 2nd stroke dx day 25 (after death)
    D  referral day 40; a conversation 2024-12-15 (before index: prior SIC); consult day 30, no referral
       link, before the first referral (flag)
    E  death day 40; a conversation day 45 (after death: flag, not an event)
    F  index 2025-11-01: censored at the cut-off after 60 days
    G  referral day 100; consult day 90 linked to that referral (flag); conversation day 150
    H  index 2024-12-31: censored after 365 days; an entered-in-error referral day 3 (ignored)
    I  referral 2024-12-01, before index: prior referral
    J  death day 50, referral day 55 (after death: flag, counts as never referred)
    K  index 2026-01-05, after the cut-off: not in the cohort
    L  index 2024-06-01 (before the period), referral 2025-01-01, death 2025-03-01, conversation 2024-07-01
    M  index 2024-03-01, referral 2024-05-01, death 2025-06-01, conversation 2025-05-02
    N  index 2024-01-10, referral 2024-11-20, death 2024-11-30 (before the period)
    O  index 2024-02-01, referral 2025-04-01, death 2025-04-20
    P  death 2025-02-01, only stroke dx 2025-03-01 (after death: flag, not in the cohort)
    """
    deaths = {
        "B": day(10),
        "C": day(20),
        "E": day(40),
        "J": day(50),
        "L": date(2025, 3, 1),
        "M": date(2025, 6, 1),
        "N": date(2024, 11, 30),
        "O": date(2025, 4, 20),
        "P": date(2025, 2, 1),
    }
    index = {p: D0 for p in "ABCDEGIJ"} | {
        "F": date(2025, 11, 1),
        "H": date(2024, 12, 31),
        "K": date(2026, 1, 5),
        "L": date(2024, 6, 1),
        "M": date(2024, 3, 1),
        "N": date(2024, 1, 10),
        "O": date(2024, 2, 1),
        "P": date(2025, 3, 1),
    }
    patients = [
        {"patient_id": p, "birth_date": date(1950, 6, 1), "deceased_date": deaths.get(p), "site": "north"}
        for p in index
    ]
    diagnoses = [
        {"condition_id": f"c{p}", "cohort": "stroke", "patient_id": p, "code": "I63.9", "diagnosis_date": d}
        for p, d in index.items()
    ]
    diagnoses.append(
        {
            "condition_id": "cC2",
            "cohort": "stroke",
            "patient_id": "C",
            "code": "I61.0",
            "diagnosis_date": day(25),
        }
    )
    refs = {
        "A": day(0),
        "B": day(10),
        "D": day(40),
        "G": day(100),
        "I": date(2024, 12, 1),
        "J": day(55),
        "L": date(2025, 1, 1),
        "M": date(2024, 5, 1),
        "N": date(2024, 11, 20),
        "O": date(2025, 4, 1),
    }
    referrals = [
        {"service_request_id": f"r{p}", "patient_id": p, "status": "active", "authored_date": d}
        for p, d in refs.items()
    ]
    referrals.append(
        {"service_request_id": "rH", "patient_id": "H", "status": "entered-in-error", "authored_date": day(3)}
    )
    convs = [
        ("A", day(5), "completed"),
        ("B", day(10), "completed"),
        ("C", day(3), "in-progress"),
        ("D", date(2024, 12, 15), "completed"),
        ("E", day(45), "completed"),
        ("G", day(150), "completed"),
        ("L", date(2024, 7, 1), "completed"),
        ("M", date(2025, 5, 2), "completed"),
    ]
    conversations = [
        {"procedure_id": f"s{i}", "patient_id": p, "status": s, "performed_date": d, "clinician_id": "dr1"}
        for i, (p, d, s) in enumerate(convs)
    ]
    consults = [
        {"encounter_id": "kD", "patient_id": "D", "status": "finished", "start_date": day(30)},
        {
            "encounter_id": "kG",
            "patient_id": "G",
            "status": "finished",
            "start_date": day(90),
            "referral_id": "rG",
        },
    ]
    return Frames.from_records(
        patients=patients,
        diagnoses=diagnoses,
        referrals=referrals,
        conversations=conversations,
        consults=consults,
    )
