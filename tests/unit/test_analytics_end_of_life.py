"""End-of-life measures (issue 17) on small hand-made frames, every answer worked out by hand.

Whole calendar days; "in the last N days" means 0 <= death date - event date <= N - 1. "death-n"
below is the date n days before the death date (negative n: after it).
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count
from typing import Any

import pandas as pd
import pytest

from sicdoc.analytics import Frames
from sicdoc.analytics.documentation import (
    all_documentation,
    cohort_documentation,
    documentation_quality,
    scored_conversations,
)
from sicdoc.analytics.end_of_life import care_table, data_quality_counts, decedent_care, end_of_life_counts
from sicdoc.analytics.frames import Where

DEATH = date(2025, 6, 30)
AS_OF = date(2025, 12, 31)
DX = date(2024, 1, 1)
FULL, SELECTIVE, COMFORT = "LA33473-2", "LA33474-0", "LA33475-7"
LOCATIONS = [
    {"location_id": "L-icu", "name": "Medical ICU", "typed": True, "icu": True},
    {"location_id": "L-ward", "name": "Ward 4", "typed": True, "icu": False},
    {"location_id": "L-untyped", "name": "Unit 9", "typed": False, "icu": False},
]


def before(n: int, death: date = DEATH) -> date:
    """n days before death (negative n: after death)."""
    return death - timedelta(days=n)


class Build:
    """Rows of hand-made frames, one decedent (or member) at a time."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {
            "patients": [],
            "diagnoses": [],
            "encounters": [],
            "conversations": [],
            "care_events": [],
        }
        self.ids = count(1)

    def patient(
        self, pid: str, *, death: date | None = DEATH, cohort: str = "cancer", dx: date = DX
    ) -> Build:
        self.tables["patients"].append(
            {"patient_id": pid, "birth_date": date(1945, 1, 1), "deceased_date": death, "site": "north"}
        )
        self.tables["diagnoses"].append(
            {"condition_id": f"c-{pid}", "cohort": cohort, "patient_id": pid, "diagnosis_date": dx}
        )
        return self

    def event(
        self,
        pid: str,
        kind: str,
        start: date | None,
        end: date | None = None,
        *,
        value: str | None = None,
        location_id: str | None = None,
    ) -> Build:
        self.tables["care_events"].append(
            {
                "event_id": f"ev{next(self.ids)}",
                "patient_id": pid,
                "kind": kind,
                "start_date": start,
                "end_date": end,
                "value": value,
                "location_id": location_id,
            }
        )
        return self

    def icu(self, pid: str, start: date, end: date | None = None, location_id: str | None = "L-icu") -> Build:
        return self.event(pid, "stay", start, end, location_id=location_id)

    def encounter(
        self,
        pid: str,
        class_code: str,
        admit: date,
        discharge: date | None = None,
        *,
        disposition: str | None = None,
        status: str = "finished",
    ) -> Build:
        self.tables["encounters"].append(
            {
                "encounter_id": f"e{next(self.ids)}",
                "patient_id": pid,
                "class_code": class_code,
                "status": status,
                "admit_date": admit,
                "discharge_date": discharge,
                "site": "north",
                "discharge_disposition": disposition,
            }
        )
        return self

    def conversation(
        self,
        pid: str,
        performed: date,
        *,
        status: str = "completed",
        code_status: str | None = None,
        care_focus: str | None = None,
        quality: str | None = None,
        source: str | None = None,
    ) -> Build:
        self.tables["conversations"].append(
            {
                "procedure_id": f"p{next(self.ids)}",
                "patient_id": pid,
                "status": status,
                "performed_date": performed,
                "clinician_id": "dr1",
                "site": "north",
                "code_status": code_status,
                "care_focus": care_focus,
                "quality_domains": quality,
                "quality_source": source,
            }
        )
        return self

    def frames(self) -> Frames:
        return Frames.from_records(**self.tables, locations=LOCATIONS).normalised().observed(AS_OF)


def by_patient(data: Frames, table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index(data.patient_ids(table["patient_id"]))


def eol_frames() -> Frames:
    b = Build()
    # -- chemotherapy (NQF 0210): last 14 days = death-0 .. death-13
    b.patient("chemo13").event("chemo13", "chemotherapy", before(13))
    b.patient("chemo14").event("chemo14", "chemotherapy", before(14))
    # -- ED visits (NQF 0211): last 30 days = death-0 .. death-29
    b.patient("ed2").encounter("ed2", "EMER", before(0)).encounter("ed2", "EMER", before(29))
    b.patient("ed30").encounter("ed30", "EMER", before(0)).encounter("ed30", "EMER", before(30))
    b.patient("ed_void").encounter("ed_void", "EMER", before(1)).encounter(
        "ed_void", "EMER", before(2), status="cancelled"
    )
    # -- ICU (NQF 0213): overlap = start <= death and (no end or end >= death-29)
    b.patient("icu29").icu("icu29", before(40), before(29))
    b.patient("icu30").icu("icu30", before(40), before(30))
    b.patient("icu_open").icu("icu_open", before(5))
    b.patient("icu_after").icu("icu_after", before(-1), before(-3))
    b.patient("icu_death").icu("icu_death", before(3), before(0))
    b.patient("icu_untyped").icu("icu_untyped", before(5), before(0), "L-untyped")
    b.patient("icu_noloc").icu("icu_noloc", before(5), before(0), "L-missing").icu(
        "icu_noloc", before(8), before(6), None
    )
    b.patient("ward").icu("ward", before(5), before(0), "L-ward")
    # -- hospice (NQF 0215/0216)
    b.patient("h2").event("h2", "hospice", before(2))
    b.patient("h3").event("h3", "hospice", before(3))
    b.patient("h_first").event("h_first", "hospice", before(40)).event("h_first", "hospice", before(1))
    b.patient("h_after").event("h_after", "hospice", before(-1))
    b.patient("h_disch").encounter("h_disch", "IMP", before(10), before(1), disposition="hosp")
    b.patient("h_back").event("h_back", "hospice", before(10), before(12))
    b.patient("h0").event("h0", "hospice", before(0))
    b.patient("h_amb").encounter("h_amb", "AMB", before(5), before(5), disposition="hosp")
    # -- place of death
    b.patient("dh_span").encounter("dh_span", "IMP", before(5), before(-2))
    b.patient("dh_dday").encounter("dh_dday", "IMP", before(5), before(0))
    b.patient("dh_open").encounter("dh_open", "IMP", before(5))
    b.patient("dh_exp").encounter("dh_exp", "IMP", before(3), before(1), disposition="exp")
    b.patient("dh_no").encounter("dh_no", "AMB", before(1), before(-1)).encounter(
        "dh_no", "EMER", before(0)
    ).encounter("dh_no", "IMP", before(10), before(2))
    # -- six months (180 days = death-0 .. death-179)
    b.patient("sic179").conversation("sic179", before(179))
    b.patient("sic180").conversation("sic180", before(180))
    b.patient("sic_open").conversation("sic_open", before(10), status="in-progress")
    b.patient("sic0").conversation("sic0", before(0))
    b.patient("sic_late").conversation("sic_late", before(-1))
    # -- concordance: care focus
    b.patient("cf_full").conversation("cf_full", before(30), care_focus=COMFORT).event(
        "cf_full", "care_focus", before(10), value=FULL
    )
    b.patient("cf_after").conversation("cf_after", before(20), care_focus=FULL).event(
        "cf_after", "care_focus", before(-1), value=COMFORT
    )
    b.patient("cf_cpr").conversation("cf_cpr", before(20), care_focus=COMFORT).event(
        "cf_cpr", "cpr", before(10)
    )
    b.patient("cf_mv").event("cf_mv", "care_focus", before(20), value=COMFORT).event(
        "cf_mv", "ventilation", before(5)
    )
    b.patient("cf_mv_first").conversation("cf_mv_first", before(5), care_focus=COMFORT).event(
        "cf_mv_first", "ventilation", before(25)
    )
    b.patient("cf_mv_old").conversation("cf_mv_old", before(5), care_focus=COMFORT).event(
        "cf_mv_old", "ventilation", before(30)
    )
    b.patient("cf_icu").conversation("cf_icu", before(20), care_focus=COMFORT).icu(
        "cf_icu", before(15), before(12)
    )
    b.patient("cf_dday").event("cf_dday", "care_focus", before(0), value=COMFORT).event(
        "cf_dday", "cpr", before(3)
    )
    b.patient("cf_intub").conversation("cf_intub", before(20), care_focus=COMFORT).event(
        "cf_intub", "intubation", before(5)
    )
    b.patient("cf_hosp").conversation("cf_hosp", before(20), care_focus=COMFORT).encounter(
        "cf_hosp", "IMP", before(4)
    )
    # -- concordance: code status
    b.patient("dnr_cpr").conversation("dnr_cpr", before(20), code_status="dnr").event(
        "dnr_cpr", "cpr", before(10)
    )
    b.patient("dnr_same").conversation("dnr_same", before(10), code_status="dnr").event(
        "dnr_same", "cpr", before(10)
    )
    b.patient("dnr_late").event("dnr_late", "cpr", before(20)).conversation(
        "dnr_late", before(10), code_status="dnr"
    )
    b.patient("dni").conversation("dni", before(20), code_status="dnr-dni").event(
        "dni", "intubation", before(5)
    )
    b.patient("dni_same").conversation("dni_same", before(5), code_status="dnr-dni").event(
        "dni_same", "intubation", before(5)
    )
    b.patient("obs_dnr").event("obs_dnr", "code_status", before(20), value="dnr").event(
        "obs_dnr", "cpr", before(5)
    )
    b.patient("dnr_full").conversation("dnr_full", before(40), code_status="dnr").conversation(
        "dnr_full", before(20), code_status="full"
    ).event("dnr_full", "cpr", before(5))
    b.patient("dnr_twice").conversation("dnr_twice", before(40), code_status="dnr").event(
        "dnr_twice", "cpr", before(30)
    ).conversation("dnr_twice", before(20), code_status="dnr")
    b.patient("dnr_undecided").conversation("dnr_undecided", before(40), code_status="dnr").conversation(
        "dnr_undecided", before(20), code_status="undecided"
    ).event("dnr_undecided", "cpr", before(5))
    b.patient("dnr_cpr_late").conversation("dnr_cpr_late", before(20), code_status="dnr").event(
        "dnr_cpr_late", "cpr", before(-1)
    )
    # -- events dated after death: counted in data quality, never as events
    b.patient("late").encounter("late", "EMER", before(-1)).encounter("late", "EMER", before(-2))
    for kind in ("chemotherapy", "cpr", "ventilation", "intubation"):
        b.event("late", kind, before(-1))
    b.event("late", "care_focus_invalid", before(3), value="LA6270-8")
    # -- another cohort: chemotherapy there is not NQF 0210
    b.patient("stroke1", cohort="stroke").event("stroke1", "chemotherapy", before(1))
    # -- not decedents: alive, or dying after the as-of date (unknown on it)
    b.patient("alive", death=None)
    b.patient("future", death=date(2026, 2, 1))
    return b.frames()


@pytest.fixture(scope="module")
def data() -> Frames:
    return eol_frames()


@pytest.fixture(scope="module")
def table(data: Frames) -> pd.DataFrame:
    return by_patient(data, decedent_care(data, "cancer"))


def test_decedents_are_the_cohort_members_who_died(data, table):
    assert len(table) == len(set(table.index))
    assert "stroke1" not in table.index  # another cohort
    assert "alive" not in table.index  # no death date
    assert "future" not in table.index  # died after the as-of date: not known yet
    assert "chemo13" in table.index


def test_chemotherapy_in_the_last_14_days(table):
    assert table.loc["chemo13", "chemo_last_14d"]  # death-13 is the 14th day: counts
    assert not table.loc["chemo14", "chemo_last_14d"]  # death-14 is the 15th day: does not


def test_more_than_one_ed_visit_in_the_last_30_days(table):
    assert table.loc["ed2", "ed_visits_last_30d"] == 2  # day 0 and day 29 both inside
    assert table.loc["ed2", "ed_gt1_last_30d"]  # 2 > 1
    assert table.loc["ed30", "ed_visits_last_30d"] == 1  # the visit at death-30 is the 31st day
    assert not table.loc["ed30", "ed_gt1_last_30d"]
    assert table.loc["dh_no", "ed_visits_last_30d"] == 1  # one EMER on the death day
    assert table.loc["ed_void", "ed_visits_last_30d"] == 1  # a cancelled visit did not happen
    assert not table.loc["ed_void", "ed_gt1_last_30d"]


def test_icu_stay_overlapping_the_last_30_days(table):
    assert table.loc["icu29", "icu_last_30d"]  # ends at death-29: the 30th day, overlaps
    assert not table.loc["icu30", "icu_last_30d"]  # ends at death-30: just outside
    assert table.loc["icu_open", "icu_last_30d"]  # open stay started before death
    assert not table.loc["icu_after", "icu_last_30d"]  # starts after death
    assert table.loc["icu_death", "icu_last_30d"]
    assert not table.loc["icu_untyped", "icu_last_30d"]  # Location without a type: no ICU stay
    assert not table.loc["icu_noloc", "icu_last_30d"]  # no stored Location / display-only: none
    assert not table.loc["ward", "icu_last_30d"]  # typed, but not an ICU type


def test_death_in_icu(table):
    assert table.loc["icu_death", "death_in_icu"]  # death-3 .. death: start <= death <= end
    assert table.loc["icu_open", "death_in_icu"]  # still open on the death day
    assert not table.loc["icu29", "death_in_icu"]  # left the ICU 29 days before
    assert not table.loc["icu_untyped", "death_in_icu"]  # untyped: not an ICU
    assert not table.loc["ward", "death_in_icu"]


def test_icu_stays_without_location_type_are_counted(table):
    assert table.loc["icu_untyped", "icu_stays_without_location_type"] == 1  # Location with no type
    assert table.loc["icu_noloc", "icu_stays_without_location_type"] == 2  # unknown id + no reference
    assert table.loc["icu29", "icu_stays_without_location_type"] == 0  # typed ICU
    assert table.loc["ward", "icu_stays_without_location_type"] == 0  # typed ward


def test_hospice(table):
    assert table.loc["h2", "hospice_lt3d"] and not table.loc["h2", "no_hospice"]  # 2 days: < 3
    assert not table.loc["h3", "hospice_lt3d"] and not table.loc["h3", "no_hospice"]  # 3 days: not
    # The first enrolment (death-40) decides, not the later one at death-1.
    assert not table.loc["h_first", "hospice_lt3d"] and not table.loc["h_first", "no_hospice"]
    # Enrolment after death is no enrolment.
    assert table.loc["h_after", "no_hospice"] and not table.loc["h_after", "hospice_lt3d"]
    assert table.loc["h_after", "hospice_after_death"] == 1
    # Discharged from an IMP stay to hospice at death-1: enrolment on the discharge date.
    assert not table.loc["h_disch", "no_hospice"] and table.loc["h_disch", "hospice_lt3d"]
    # A hospice episode ending before it starts is not an enrolment, and it is counted.
    assert table.loc["h_back", "no_hospice"] and not table.loc["h_back", "hospice_lt3d"]
    assert table.loc["h_back", "hospice_ends_before_start"] == 1
    # Enrolled on the death day: 0 days, < 3.
    assert table.loc["h0", "hospice_lt3d"] and not table.loc["h0", "no_hospice"]
    # Discharge to hospice counts from an inpatient stay only, not an ambulatory visit.
    assert table.loc["h_amb", "no_hospice"]
    # Nobody else has hospice.
    assert table.loc["chemo13", "no_hospice"] and not table.loc["chemo13", "hospice_lt3d"]


def test_death_in_hospital(table):
    assert table.loc["dh_span", "death_in_hospital"]  # IMP death-5 .. death+2 spans the death day
    assert table.loc["dh_dday", "death_in_hospital"]  # discharged on the death day: counts
    assert table.loc["dh_open", "death_in_hospital"]  # still open: counts
    assert table.loc["dh_exp", "death_in_hospital"]  # discharge disposition "exp"
    # AMB spanning death, EMER on the death day, IMP ended 2 days before: not in hospital.
    assert not table.loc["dh_no", "death_in_hospital"]
    # Discharged to hospice the day before death: not a hospital death.
    assert not table.loc["h_disch", "death_in_hospital"]


def test_conversation_in_the_last_180_days(table):
    assert table.loc["sic179", "sic_last_180d"]  # death-179: the 180th day
    assert not table.loc["sic180", "sic_last_180d"]  # death-180: the 181st day
    assert not table.loc["sic_open", "sic_last_180d"]  # not completed
    assert table.loc["sic0", "sic_last_180d"]  # on the death day: day 0
    assert not table.loc["sic_late", "sic_last_180d"]  # after death


def test_last_care_focus_on_or_before_death_decides(table):
    # Comfort at death-30, then full at death-10: full decides.
    assert table.loc["cf_full", "care_focus"] == FULL and not table.loc["cf_full", "comfort_focus"]
    # Full at death-20; a comfort focus dated after death is ignored.
    assert table.loc["cf_after", "care_focus"] == FULL and not table.loc["cf_after", "comfort_focus"]
    assert table.loc["cf_after", "events_after_death"] == 1  # that care-focus Observation


def test_comfort_focus_then_icu_cpr_or_ventilation(table):
    for pid in ("cf_cpr", "cf_mv", "cf_mv_first", "cf_mv_old", "cf_icu", "cf_hosp"):
        assert table.loc[pid, "comfort_focus"], pid
    assert table.loc["cf_cpr", "comfort_icu_cpr_mv_last_30d"]  # CPR at death-10
    assert table.loc["cf_mv", "comfort_icu_cpr_mv_last_30d"]  # ventilation at death-5 (Observation focus)
    # Ventilation at death-25, before the documentation at death-5: still in the last 30 days.
    assert table.loc["cf_mv_first", "comfort_icu_cpr_mv_last_30d"]
    assert not table.loc["cf_mv_old", "comfort_icu_cpr_mv_last_30d"]  # death-30: 31st day
    assert table.loc["cf_icu", "comfort_icu_cpr_mv_last_30d"]  # ICU death-15 .. death-12
    assert not table.loc["cf_hosp", "comfort_icu_cpr_mv_last_30d"]  # nothing of the three
    # Comfort documented on the death day decides; CPR at death-3 came before it: still a signal.
    assert table.loc["cf_dday", "comfort_focus"] and table.loc["cf_dday", "comfort_icu_cpr_mv_last_30d"]
    # Intubation is not one of ICU / CPR / mechanical ventilation.
    assert table.loc["cf_intub", "comfort_focus"] and not table.loc["cf_intub", "comfort_icu_cpr_mv_last_30d"]
    # A non-comfort decedent with CPR never raises the signal.
    assert not table.loc["dnr_cpr", "comfort_icu_cpr_mv_last_30d"]


def test_comfort_focus_died_in_hospital(table):
    assert table.loc["cf_hosp", "comfort_died_in_hospital"]  # comfort and an open IMP stay
    assert not table.loc["cf_cpr", "comfort_died_in_hospital"]  # comfort, not in hospital
    assert not table.loc["dh_open", "comfort_died_in_hospital"]  # in hospital, no care focus


def test_dnr_then_cpr(table):
    assert table.loc["dnr_cpr", "dnr"] and table.loc["dnr_cpr", "dnr_then_cpr"]  # CPR 10 days later
    assert table.loc["dnr_same", "dnr"] and not table.loc["dnr_same", "dnr_then_cpr"]  # same day
    assert table.loc["dnr_late", "dnr"] and not table.loc["dnr_late", "dnr_then_cpr"]  # DNR after CPR
    # A code-status Observation outside a conversation reading DNR counts as DNR.
    assert table.loc["obs_dnr", "dnr"] and table.loc["obs_dnr", "dnr_then_cpr"]
    assert not table.loc["obs_dnr", "dnr_dni"]  # an Observation alone reads full or DNR only
    # DNR at death-40 overridden by full at death-20: not DNR, no signal.
    assert table.loc["dnr_full", "code_status"] == "full"
    assert not table.loc["dnr_full", "dnr"] and not table.loc["dnr_full", "dnr_then_cpr"]
    # CPR between two DNR documentations: the LAST one (death-20) decides, CPR (death-30) precedes it.
    assert table.loc["dnr_twice", "dnr"] and not table.loc["dnr_twice", "dnr_then_cpr"]
    # "undecided" documented last is the code status that decides: not DNR.
    assert table.loc["dnr_undecided", "code_status"] == "undecided"
    assert not table.loc["dnr_undecided", "dnr"] and not table.loc["dnr_undecided", "dnr_then_cpr"]
    # CPR dated after death: not a signal (up to the death day), a data-quality count instead.
    assert table.loc["dnr_cpr_late", "dnr"] and not table.loc["dnr_cpr_late", "dnr_then_cpr"]
    assert table.loc["dnr_cpr_late", "events_after_death"] == 1


def test_dnr_dni_then_intubation(table):
    # DNR/DNI is DNR too; intubation 15 days later is the signal, CPR none.
    assert table.loc["dni", "dnr"] and table.loc["dni", "dnr_dni"]
    assert table.loc["dni", "dnr_dni_then_intubation"] and not table.loc["dni", "dnr_then_cpr"]
    # Intubation on the day of the documentation: no signal.
    assert table.loc["dni_same", "dnr_dni"] and not table.loc["dni_same", "dnr_dni_then_intubation"]
    # Plain DNR is not DNR/DNI.
    assert not table.loc["dnr_cpr", "dnr_dni"]


def test_events_after_death_are_flagged_not_counted(table):
    # 2 ED visits + chemotherapy + CPR + ventilation + intubation, all after death = 6.
    assert table.loc["late", "events_after_death"] == 6
    assert table.loc["late", "ed_visits_last_30d"] == 0
    assert not table.loc["late", "chemo_last_14d"]
    assert table.loc["icu_after", "events_after_death"] == 1  # ICU stay starting after death
    assert table.loc["late", "care_focus_outside_answer_list"] == 1
    assert table.loc["chemo13", "events_after_death"] == 0


def test_data_quality_counts(table):
    # events_after_death: late 6 + icu_after 1 + cf_after 1 + dnr_cpr_late 1 = 9; hospice after death: h_after;
    # untyped stays: icu_untyped 1 + icu_noloc 2 = 3; backwards hospice: h_back; bad focus: late.
    assert data_quality_counts(table) == {
        "events_after_death": 9,
        "hospice_after_death": 1,
        "icu_stays_without_location_type": 3,
        "hospice_ends_before_start": 1,
        "care_focus_outside_answer_list": 1,
    }


def test_care_table_for_given_decedents(data):
    # care_table works on any decedents; the stroke patient's chemotherapy at death-1 is in the window.
    people = decedent_care(data, "stroke")
    assert list(data.patient_ids(people["patient_id"])) == ["stroke1"]
    again = care_table(data, people[["patient_id", "death_date", "site", "unit"]])
    assert bool(again.loc[0, "chemo_last_14d"])


# ---- end_of_life_counts on a small set -----------------------------------------------------------


def count_frames() -> Frames:
    b = Build()
    # P1: chemo death-3; comfort + DNR conversation death-20; CPR death-5; open IMP; hospice death-1.
    b.patient("P1").event("P1", "chemotherapy", before(3))
    b.conversation("P1", before(20), code_status="dnr", care_focus=COMFORT)
    b.event("P1", "cpr", before(5)).encounter("P1", "IMP", before(6)).event("P1", "hospice", before(1))
    # P2: nothing at all.
    b.patient("P2")
    # P3: DNR/DNI conversation death-200 (outside 180 days); intubation death-2; ED death-1 and
    # death-2; ICU death-4 .. death-2; hospice from death-10.
    b.patient("P3").conversation("P3", before(200), code_status="dnr-dni")
    b.event("P3", "intubation", before(2)).encounter("P3", "EMER", before(1)).encounter(
        "P3", "EMER", before(2)
    )
    b.icu("P3", before(4), before(2)).event("P3", "hospice", before(10))
    # P4 alive; P5 died before the period (with chemotherapy): neither is a decedent of the period.
    b.patient("P4", death=None)
    b.patient("P5", death=date(2024, 6, 30)).event("P5", "chemotherapy", date(2024, 6, 29))
    # S1: a stroke decedent with chemotherapy the day before death.
    b.patient("S1", cohort="stroke").event("S1", "chemotherapy", before(1))
    return b.frames()


PERIOD_2025 = Where(period_from=date(2025, 1, 1), period_to=date(2025, 12, 31))


def test_end_of_life_counts_by_hand():
    data = count_frames()
    counts = end_of_life_counts(decedent_care(data, "cancer", PERIOD_2025), "cancer")
    assert counts == {
        "decedents": 3,  # P1 P2 P3
        "hospice_enrolled": 2,  # P1 P3
        "eol_chemo_last_14d": 1,  # P1
        "eol_ed_gt1_last_30d": 1,  # P3 (2 visits)
        "eol_icu_last_30d": 1,  # P3
        "eol_no_hospice": 1,  # P2
        "eol_hospice_lt3d": 1,  # P1 (1 day); P3 10 days
        "eol_death_in_hospital": 1,  # P1 (open IMP)
        "eol_death_in_icu": 0,  # P3 left the ICU 2 days before death
        "sic_last_180d": 1,  # P1 (death-20); P3 at death-200 is too early
        "concordance_comfort_focus_decedents": 1,  # P1
        "concordance_comfort_icu_cpr_mv_last_30d": 1,  # P1: CPR death-5
        "concordance_comfort_died_in_hospital": 1,  # P1
        "dnr_decedents": 2,  # P1 (DNR) P3 (DNR/DNI)
        "dnr_then_cpr": 1,  # P1: CPR 15 days after the DNR
        "dnr_dni_decedents": 1,  # P3
        "dnr_dni_then_intubation": 1,  # P3: intubation 198 days after
    }


def test_chemotherapy_is_null_outside_the_cancer_cohort():
    data = count_frames()
    counts = end_of_life_counts(decedent_care(data, "stroke", PERIOD_2025), "stroke")
    assert counts["decedents"] == 1  # S1
    assert counts["eol_chemo_last_14d"] is None  # NQF 0210 is a cancer measure only
    assert counts["eol_no_hospice"] == 1


# ---- documentation quality -----------------------------------------------------------------------


def documentation_frames() -> Frames:
    b = Build()
    # M (cancer, diagnosed 2024-01-01)
    b.patient("M", death=None)
    b.conversation(
        "M", date(2023, 6, 1), quality="values,prognosis,planning,treatment", source="questionnaire-response"
    )
    b.conversation("M", date(2024, 5, 1), quality="values,treatment", source="observations")
    b.conversation("M", date(2025, 3, 1))  # nothing recorded: 0, source none
    b.conversation("M", date(2025, 4, 1), status="in-progress", quality="values")  # not completed
    b.conversation("M", date(2026, 2, 1), quality="values")  # after the as-of date
    # N (cancer)
    b.patient("N", death=None).conversation("N", date(2025, 2, 1), quality="planning", source="note")
    # O (stroke only): not a cancer member
    b.patient("O", death=None, cohort="stroke")
    b.conversation(
        "O", date(2025, 2, 1), quality="values,prognosis,planning,treatment", source="questionnaire-response"
    )
    return b.frames()


def test_scored_conversations():
    data = documentation_frames()
    scored = scored_conversations(data)
    scored = scored.assign(pid=list(data.patient_ids(scored["patient_id"]))).sort_values(
        ["pid", "performed_date"]
    )
    # Completed ones up to the as-of date only: M x3, N, O.
    rows = list(zip(scored["pid"], scored["domains"], scored["all_four"], scored["source"], strict=True))
    assert rows == [
        ("M", 4, True, "questionnaire-response"),
        ("M", 2, False, "observations"),
        ("M", 0, False, "none"),  # nothing: scores 0 and still counts
        ("N", 1, False, "note"),
        ("O", 4, True, "questionnaire-response"),
    ]


def test_documentation_quality_of_a_set():
    scored = pd.DataFrame({"domains": [4, 2, 1], "all_four": [True, False, False]})
    # (4 + 2 + 1) / 3 = 2.333333 (6 decimals); one of three has all four.
    assert documentation_quality(scored) == {
        "conversations": 3,
        "conversations_all_four": 1,
        "mean_domains": 2.333333,
    }
    empty = pd.DataFrame({"domains": pd.Series(dtype=int), "all_four": pd.Series(dtype=bool)})
    assert documentation_quality(empty) == {
        "conversations": 0,
        "conversations_all_four": 0,
        "mean_domains": None,
    }


def test_cohort_documentation_counts_every_completed_conversation_of_members():
    data = documentation_frames()
    # M: 4 (before the diagnosis, still counts), 2, 0; N: 1. O is not in the cancer cohort.
    # (4 + 2 + 0 + 1) / 4 = 1.75
    assert documentation_quality(cohort_documentation(data, "cancer")) == {
        "conversations": 4,
        "conversations_all_four": 1,
        "mean_domains": 1.75,
    }
    # Stroke: O only.
    assert documentation_quality(cohort_documentation(data, "stroke")) == {
        "conversations": 1,
        "conversations_all_four": 1,
        "mean_domains": 4.0,
    }


def test_all_documentation_counts_every_patient():
    data = documentation_frames()
    # M 4, 2, 0; N 1; O 4: (4 + 2 + 0 + 1 + 4) / 5 = 2.2; all four: M's first and O's.
    assert documentation_quality(all_documentation(data)) == {
        "conversations": 5,
        "conversations_all_four": 2,
        "mean_domains": 2.2,
    }
