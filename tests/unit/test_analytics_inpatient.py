"""M4: consult or conversation within 24/48/72 h of a stroke admission, opportunity-based denominator."""

from datetime import UTC, date, datetime

import pytest

from sicdoc.analytics import Frames, compute_metrics
from sicdoc.analytics.frames import Where
from sicdoc.analytics.inpatient import admission_table, cohort_admissions, timeliness

AS_OF = date(2025, 3, 31)


def at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def frames() -> Frames:
    """Admissions (all class IMP unless said), times UTC:

    a1  dx names the encounter; admit 01-01 08h; consult 01-01 20h (12 h)        done 24/48/72
    a2  dx 01-02, one day from admit 01-01 10h; conversation 01-03 00h (38 h)    done 48/72
    a3  admit 01-05 00h, discharged 20h; consult 01-06 10h after discharge       out: left before 24 h
    a4  admit 01-07 00h, died 01-08 (the calendar day of hour 24), nothing done  out: not alive
    a5  admit 01-10 00h to 01-20; a conversation 01-09, before admission          eligible, not done
    a6  admit 01-10 00h to 01-15; consult 01-12 12h (60 h)                        done 72
    a7  encounter class AMB                                                        not an admission
    a8  admit 01-20, dx 01-25 (5 days apart, no link)                             not linked
    a9  admit 03-31 12h (cut-off day), nothing yet                                out: hour 24 after cut-off
    a10 admit 03-31 06h, consult 10h (4 h)                                        done 24/48/72
    a11 admit 02-01 00h to 02-10; consult 05h dated before its referral (02-02)   eligible, not done
    """
    adm = {
        "a1": (at(1, 1, 8), at(1, 6), "IMP"),
        "a2": (at(1, 1, 10), at(1, 10), "IMP"),
        "a3": (at(1, 5), at(1, 5, 20), "IMP"),
        "a4": (at(1, 7), None, "IMP"),
        "a5": (at(1, 10), at(1, 20), "IMP"),
        "a6": (at(1, 10), at(1, 15), "ACUTE"),
        "a7": (at(1, 10), at(1, 10, 5), "AMB"),
        "a8": (at(1, 20), at(1, 28), "IMP"),
        "a9": (at(3, 31, 12), None, "IMP"),
        "a10": (at(3, 31, 6), None, "NONAC"),
        "a11": (at(2, 1), at(2, 10), "IMP"),
    }
    encounters = [
        {
            "encounter_id": f"e{p}",
            "patient_id": p,
            "class_code": cls,
            "status": "finished",
            "admit_at": a,
            "admit_date": a.date(),
            "discharge_at": d,
            "discharge_date": d.date() if d else None,
            "unit": "stroke-ward",
        }
        for p, (a, d, cls) in adm.items()
    ]
    dx_dates = {"a2": date(2025, 1, 2), "a8": date(2025, 1, 25)}
    diagnoses = [
        {
            "condition_id": f"c{p}",
            "cohort": "stroke",
            "patient_id": p,
            "diagnosis_date": dx_dates.get(p, a.date()),
            "encounter_id": None if p in dx_dates else f"e{p}",
        }
        for p, (a, _, _) in adm.items()
    ]
    # A palliative consult recorded as an inpatient encounter on the day of a diagnosis is no admission.
    encounters.append(
        {
            "encounter_id": "kpc",
            "patient_id": "pc1",
            "class_code": "IMP",
            "status": "finished",
            "admit_at": at(1, 4, 9),
            "admit_date": date(2025, 1, 4),
            "palliative": True,
        }
    )
    diagnoses.append(
        {
            "condition_id": "cpc",
            "cohort": "stroke",
            "patient_id": "pc1",
            "diagnosis_date": date(2025, 1, 4),
            "encounter_id": None,
        }
    )
    # A heart-failure admission must not leak into the stroke measure.
    encounters.append(
        {
            "encounter_id": "ehf",
            "patient_id": "hf1",
            "class_code": "IMP",
            "status": "finished",
            "admit_at": at(1, 3),
            "admit_date": date(2025, 1, 3),
        }
    )
    diagnoses.append(
        {
            "condition_id": "chf",
            "cohort": "heart_failure",
            "patient_id": "hf1",
            "diagnosis_date": date(2025, 1, 3),
            "encounter_id": "ehf",
        }
    )
    consults = [
        {"encounter_id": "k1", "patient_id": "a1", "status": "finished", "start_at": at(1, 1, 20)},
        {"encounter_id": "k3", "patient_id": "a3", "status": "finished", "start_at": at(1, 6, 10)},
        {"encounter_id": "k6", "patient_id": "a6", "status": "finished", "start_at": at(1, 12, 12)},
        {"encounter_id": "k10", "patient_id": "a10", "status": "in-progress", "start_at": at(3, 31, 10)},
        {
            "encounter_id": "k11",
            "patient_id": "a11",
            "status": "finished",
            "start_at": at(2, 1, 5),
            "referral_id": "r11",
        },
    ]
    for c in consults:
        c["start_date"] = c["start_at"].date()
    referrals = [
        {
            "service_request_id": "r11",
            "patient_id": "a11",
            "status": "active",
            "authored_date": date(2025, 2, 2),
        }
    ]
    conversations = [
        {
            "procedure_id": "s2",
            "patient_id": "a2",
            "status": "completed",
            "performed_at": at(1, 3),
            "performed_date": date(2025, 1, 3),
        },
        {
            "procedure_id": "s5",
            "patient_id": "a5",
            "status": "completed",
            "performed_at": at(1, 9),
            "performed_date": date(2025, 1, 9),
        },
    ]
    patients = [{"patient_id": p, "deceased_date": date(2025, 1, 8) if p == "a4" else None} for p in adm]
    patients.extend([{"patient_id": "hf1"}, {"patient_id": "pc1"}])
    return Frames.from_records(
        patients=patients,
        encounters=encounters,
        diagnoses=diagnoses,
        consults=consults,
        referrals=referrals,
        conversations=conversations,
    )


@pytest.fixture(scope="module")
def data() -> Frames:
    return frames().normalised().observed(AS_OF)


def test_linking_admissions_to_the_cohort(data):
    def linked_patients(cohort: str) -> set[str]:
        return set(data.patient_ids(cohort_admissions(data, cohort)["patient_id"]))

    linked = linked_patients("stroke")
    # a7 is not inpatient, a8 is 5 days from its diagnosis, pc1's only stay is a palliative consult;
    # hf1 is another cohort.
    assert linked == {"a1", "a2", "a3", "a4", "a5", "a6", "a9", "a10", "a11"}
    assert linked_patients("heart_failure") == {"hf1"}


def test_hours_to_first_event(data):
    table = admission_table(data, "stroke", as_of=AS_OF)
    table = table.set_index(data.patient_ids(table["patient_id"]))
    assert table.loc["a1", "hours_to_event"] == 12
    assert table.loc["a2", "hours_to_event"] == 38
    assert table.loc["a6", "hours_to_event"] == 60
    assert table.loc["a10", "hours_to_event"] == 4
    # After discharge, before admission and before its referral do not count.
    assert table.loc[["a3", "a5", "a11"], "hours_to_event"].isna().all()


def test_opportunity_denominator_by_hand(data):
    # Eligible at every hour: a1 a2 a5 a6 a10 a11 (a3 discharged, a4 dead, a9 hour not reached) = 6.
    # Done by 24 h: a1 (12), a10 (4) = 2; by 48 h: + a2 (38) = 3; by 72 h: + a6 (60) = 4.
    assert timeliness(data, "stroke", as_of=AS_OF) == {
        "24": {"numerator": 2, "denominator": 6, "rate": pytest.approx(2 / 6)},
        "48": {"numerator": 3, "denominator": 6, "rate": pytest.approx(3 / 6)},
        "72": {"numerator": 4, "denominator": 6, "rate": pytest.approx(4 / 6)},
    }


def test_period_applies_to_admission_date(data):
    # From 01-06: a4 a5 a6 a9 a10 a11; eligible a5 a6 a10 a11; done by 24 h a10 only.
    got = timeliness(data, "stroke", as_of=AS_OF, where=Where(period_from=date(2025, 1, 6)))
    assert got["24"] == {"numerator": 1, "denominator": 4, "rate": 0.25}


def test_in_compute_metrics():
    report = compute_metrics(
        frames(),
        as_of=AS_OF,
        period_from=None,
        period_to=None,
        cohorts=["stroke", "heart_failure"],
        value_set_version="v",
        suppress=False,
    )
    assert report["cohorts"]["stroke"]["inpatient_timeliness"]["72"] == {
        "numerator": 4,
        "denominator": 6,
        "rate": 0.6667,
    }
    # hf1: no event, no discharge recorded: still in hospital, so eligible and not done.
    assert report["cohorts"]["heart_failure"]["inpatient_timeliness"]["24"] == {
        "numerator": 0,
        "denominator": 1,
        "rate": 0.0,
    }
    assert report["cohorts"]["stroke"]["data_quality"]["consult_before_referral"] == 1  # a11
