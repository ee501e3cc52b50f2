"""The case-review list of the concordance signals, on small hand-made frames worked out by hand."""

from datetime import UTC, date, datetime

from sicdoc import codes
from sicdoc.analytics.case_review import (
    COMFORT_SIGNAL,
    DNR_CPR_SIGNAL,
    DNR_DNI_INTUBATION_SIGNAL,
    Documentation,
    Event,
    review_cases,
)
from sicdoc.analytics.frames import Frames, Where

YEAR = Where(date(2025, 1, 1), date(2025, 12, 31))
FULL = "LA33473-2"
COMFORT = codes.COMFORT_FOCUSED


def _talk(pid, day, *, focus=None, status=None, who="Practitioner/dr1", n=0):
    return {
        "procedure_id": f"sic-{pid}-{n}",
        "patient_id": pid,
        "status": "completed",
        "performed_at": datetime(day.year, day.month, day.day, 10, tzinfo=UTC),
        "performed_date": day,
        "clinician_id": who,
        "care_focus": focus,
        "code_status": status,
    }


def _event(pid, kind, start, end=None, *, value=None, source="Procedure", n=0, location=None):
    return {
        "event_id": f"{source}/{kind}-{pid}-{n}#0",
        "patient_id": pid,
        "kind": kind,
        "start_date": start,
        "end_date": end,
        "value": value,
        "location_id": location,
    }


def frames() -> Frames:
    """(deaths in 2025; "last 30 days" = 0..29 days before death)

    p1 comfort (conversation 06-01), ICU 06-20..06-25, died 06-30 at home       listed: comfort
    p2 DNR 05-10, CPR 05-05 (before the DNR), died 06-15                        not listed
    p3 DNR 05-10, CPR 05-10 (the same day), died 06-15                          not listed
    p4 DNR/DNI 04-01, CPR and intubation 04-20, IMP 04-19.. expired, died 04-21 listed: both DNR
    p5 comfort by an Observation 06-01, ventilation 06-10, died 06-12           listed: comfort
    p6 comfort 03-01 then full treatments 05-01, ICU 05-20, died 06-01          not listed (last wins)
    p7 comfort 03-01, ICU ended 05-02 = 30 days before death 06-01              not listed (edge)
    p8 comfort 2024-11-01, ICU 2024-12-10, died 2024-12-20                      outside the period
    p9 DNR by an Observation 03-01, CPR 03-05 in ICU 03-04..; died there 03-05  listed: DNR then CPR
    """
    patients = [
        {"patient_id": p, "deceased_date": d, "site": "North" if p != "p5" else "South"}
        for p, d in (
            ("p1", date(2025, 6, 30)),
            ("p2", date(2025, 6, 15)),
            ("p3", date(2025, 6, 15)),
            ("p4", date(2025, 4, 21)),
            ("p5", date(2025, 6, 12)),
            ("p6", date(2025, 6, 1)),
            ("p7", date(2025, 6, 1)),
            ("p8", date(2024, 12, 20)),
            ("p9", date(2025, 3, 5)),
        )
    ]
    conversations = [
        _talk("p1", date(2025, 6, 1), focus=COMFORT, status="undecided"),
        _talk("p2", date(2025, 5, 10), status="dnr"),
        _talk("p3", date(2025, 5, 10), status="dnr"),
        _talk("p4", date(2025, 4, 1), status="dnr-dni", focus=FULL, who="Dr Free Text"),
        _talk("p6", date(2025, 3, 1), focus=COMFORT),
        _talk("p6", date(2025, 5, 1), focus=FULL, n=1),
        _talk("p7", date(2025, 3, 1), focus=COMFORT),
        _talk("p8", date(2024, 11, 1), focus=COMFORT),
    ]
    events = [
        _event("p1", "stay", date(2025, 6, 20), date(2025, 6, 25), source="Encounter", location="L1"),
        _event("p2", "cpr", date(2025, 5, 5)),
        _event("p3", "cpr", date(2025, 5, 10)),
        _event("p4", "cpr", date(2025, 4, 20)),
        _event("p4", "intubation", date(2025, 4, 20)),
        _event("p5", "care_focus", date(2025, 6, 1), value=COMFORT, source="Observation"),
        _event("p5", "ventilation", date(2025, 6, 10)),
        _event("p6", "stay", date(2025, 5, 20), date(2025, 5, 22), source="Encounter", location="L1"),
        _event("p7", "stay", date(2025, 4, 20), date(2025, 5, 2), source="Encounter", location="L1"),
        _event("p8", "stay", date(2024, 12, 10), date(2024, 12, 12), source="Encounter", location="L1"),
        _event("p9", "code_status", date(2025, 3, 1), value="dnr", source="Observation"),
        _event("p9", "stay", date(2025, 3, 4), None, source="Encounter", location="L1"),
        _event("p9", "cpr", date(2025, 3, 5)),
    ]
    encounters = [
        {
            "encounter_id": "e4",
            "patient_id": "p4",
            "class_code": "IMP",
            "status": "finished",
            "admit_date": date(2025, 4, 19),
            "discharge_date": date(2025, 4, 21),
            "discharge_disposition": "exp",
        }
    ]
    locations = [{"location_id": "L1", "name": "Medical ICU", "typed": True, "icu": True}]
    return Frames.from_records(
        patients=patients,
        conversations=conversations,
        care_events=events,
        encounters=encounters,
        locations=locations,
    ).normalised()


def _by_patient(where=YEAR):
    return {case.patient_id: case for case in review_cases(frames(), where)}


def test_the_cases_are_the_decedents_with_a_signal_latest_death_first():
    cases = review_cases(frames(), YEAR)
    assert [c.patient_id for c in cases] == ["p1", "p5", "p4", "p9"]


def test_comfort_focus_then_an_icu_stay_in_the_last_30_days_is_listed_with_its_conversation():
    case = _by_patient()["p1"]
    assert case.signals == (COMFORT_SIGNAL,)
    assert case.death_date == date(2025, 6, 30) and case.place_of_death == "not_in_hospital"
    assert case.care_focus == Documentation(
        "care_focus", COMFORT, date(2025, 6, 1), "conversation", "sic-p1-0", None, "Practitioner/dr1"
    )
    assert case.deciding(COMFORT_SIGNAL) == case.care_focus
    assert case.code_status is not None and case.code_status.value == "undecided"
    assert case.events == (
        Event("icu", date(2025, 6, 20), date(2025, 6, 25), "L1", "Medical ICU", (COMFORT_SIGNAL,)),
    )


def test_a_dnr_documented_after_the_cpr_is_not_a_case():
    assert "p2" not in _by_patient()


def test_cpr_on_the_same_day_as_the_dnr_is_not_a_case():
    assert "p3" not in _by_patient()


def test_dnr_dni_then_cpr_and_intubation_on_a_later_day_raises_both_dnr_signals():
    case = _by_patient()["p4"]
    assert case.signals == (DNR_CPR_SIGNAL, DNR_DNI_INTUBATION_SIGNAL)
    assert case.place_of_death == "hospital"
    status = case.deciding(DNR_CPR_SIGNAL)
    assert status == Documentation(
        "code_status", "dnr-dni", date(2025, 4, 1), "conversation", "sic-p4-0", None, "Dr Free Text"
    )
    assert case.events == (
        Event("cpr", date(2025, 4, 20), signals=(DNR_CPR_SIGNAL,)),
        Event("intubation", date(2025, 4, 20), signals=(DNR_DNI_INTUBATION_SIGNAL,)),
    )


def test_a_care_focus_observation_decides_when_no_conversation_holds_it():
    case = _by_patient()["p5"]
    assert case.signals == (COMFORT_SIGNAL,) and case.code_status is None
    assert case.care_focus == Documentation(
        "care_focus", COMFORT, date(2025, 6, 1), "observation", None, "care_focus-p5-0", None
    )
    assert case.events == (Event("ventilation", date(2025, 6, 10), signals=(COMFORT_SIGNAL,)),)


def test_a_later_care_focus_replaces_the_comfort_focus():
    assert "p6" not in _by_patient()


def test_an_icu_stay_ending_30_days_before_death_is_outside_the_window():
    assert "p7" not in _by_patient()


def test_a_dnr_observation_then_cpr_in_the_icu_on_the_death_day():
    case = _by_patient()["p9"]
    assert case.signals == (DNR_CPR_SIGNAL,) and case.place_of_death == "icu"
    assert case.code_status is not None and case.code_status.source == "observation"
    assert case.code_status.observation_id == "code_status-p9-0" and case.code_status.value == "dnr"
    # The ICU stay is listed as context: it raises no signal without a comfort focus.
    assert case.events == (
        Event("icu", date(2025, 3, 4), None, "L1", "Medical ICU", ()),
        Event("cpr", date(2025, 3, 5), signals=(DNR_CPR_SIGNAL,)),
    )


def test_period_and_site_filters():
    assert set(_by_patient(Where(date(2024, 1, 1), date(2024, 12, 31)))) == {"p8"}
    assert set(_by_patient(Where(date(2025, 1, 1), date(2025, 12, 31), site="South"))) == {"p5"}
    assert review_cases(Frames().normalised(), YEAR) == []


def test_on_one_day_the_conversation_decides_before_an_observation_of_it():
    """q1: a comfort focus answered in conversation c1 and extracted as an Observation of c1, both
    on 06-01; a care focus Observation of its own on the same day, full treatments (outranked by
    comfort on the same day); CPR 06-10; died 06-20."""
    day = date(2025, 6, 1)
    observed = [
        {**_event("q1", "care_focus", day, value=COMFORT, source="Observation"), "procedure_id": "c1"},
        _event("q1", "care_focus", day, value=FULL, source="Observation", n=1),
        _event("q1", "cpr", date(2025, 6, 10)),
    ]
    talk = {**_talk("q1", day, focus=COMFORT, who="Practitioner/dr2"), "procedure_id": "c1"}
    built = Frames.from_records(
        patients=[{"patient_id": "q1", "deceased_date": date(2025, 6, 20)}],
        conversations=[talk],
        care_events=observed,
    ).normalised()
    (case,) = review_cases(built, YEAR)
    assert case.signals == (COMFORT_SIGNAL,)
    assert case.care_focus == Documentation(
        "care_focus", COMFORT, day, "conversation", "c1", None, "Practitioner/dr2"
    )
    assert case.events == (Event("cpr", date(2025, 6, 10), signals=(COMFORT_SIGNAL,)),)
    # Without the conversation, its Observation decides and still names it and its clinician.
    built = Frames.from_records(
        patients=[{"patient_id": "q1", "deceased_date": date(2025, 6, 20)}],
        conversations=[{**talk, "care_focus": None}],
        care_events=observed,
    ).normalised()
    (case,) = review_cases(built, YEAR)
    assert case.care_focus == Documentation(
        "care_focus", COMFORT, day, "observation", "c1", "care_focus-q1-0", "Practitioner/dr2"
    )
