"""compute_metrics on a hand-built stroke cohort whose every answer is worked out below."""

import dataclasses
import json
from datetime import date

import pytest

from sicdoc.analytics import Frames, compute_metrics, quality_flags
from tests.unit.stroke_cohort import D0, stroke_frames

AS_OF = date(2025, 12, 31)
PERIOD = {"period_from": date(2024, 12, 1), "period_to": date(2025, 12, 31)}


@pytest.fixture(scope="module")
def stroke() -> dict:
    report = compute_metrics(
        stroke_frames(), as_of=AS_OF, cohorts=["stroke"], value_set_version="2026.1", suppress=False, **PERIOD
    )
    return report["cohorts"]["stroke"]


def test_report_header_and_json():
    report = compute_metrics(
        stroke_frames(), as_of=AS_OF, cohorts=None, value_set_version="2026.1", suppress=False, **PERIOD
    )
    assert report["as_of"] == "2025-12-31"
    assert report["period"] == {"from": "2024-12-01", "to": "2025-12-31"}
    assert report["value_set_version"] == "2026.1"
    assert list(report["cohorts"]) == ["stroke", "heart_failure", "cancer"]
    assert report["cohorts"]["cancer"]["inpatient_timeliness"] is None
    assert report["cohorts"]["heart_failure"]["index_patients"] == 0
    assert json.loads(json.dumps(report)) == report


def test_m1_population_and_prior_referral(stroke):
    # Index in the period and by the cut-off: A B C D E F G H I J (K after the cut-off; L M N O before
    # the period; P's only diagnosis is after death). I was referred before index: counted apart.
    assert stroke["index_patients"] == 10
    assert stroke["prior_referral"] == 1
    assert "referral_cif_patients" not in stroke  # 10 - 1 = 9 in the estimate, not shown


def test_m1_cumulative_incidence_by_hand(stroke):
    # Times (days) and outcomes of the 9: A 0 ref, B 10 ref (died the same day), C 20 death,
    # D 40 ref, E 40 death, J 50 death (its referral after death is not one), F 60 censored,
    # G 100 ref, H 365 censored (its entered-in-error referral ignored).
    # Aalen-Johansen: F1(0) = 1/9; F1(10) = 2/9; S(20) = 6/9; at 40 n=6: F1 += 6/9 * 1/6 -> 3/9;
    # S(40) = 4/9; S(50) = 3/9; at 100 n=2: F1 += 3/9 * 1/2 -> 1/2.
    assert stroke["referral_cif"] == {"30": 0.2222, "90": 0.3333, "180": 0.5, "365": 0.5}
    lower, upper = stroke["referral_cif_ci"]["90"]
    assert lower < 0.3333 < upper
    # Median days index -> referral among the referred: 0, 10, 40, 100 -> (10 + 40) / 2.
    assert stroke["median_days_index_to_referral"] == 25


def test_m7_conversation_incidence_by_hand(stroke):
    # D had a completed conversation before index: prior. The 9 others: A 5 sic, B 10 sic (day of death
    # counts), C 20 death (in-progress conversation is not one), E 40 death (conversation after death is
    # not one), J 50 death, F 60 censored, G 150 sic, I 364 censored, H 365 censored.
    # F1(5) = 1/9, F1(10) = 2/9, S: 7/9 -> 6/9 (20) -> 5/9 (40) -> 4/9 (50); at 150 n=3:
    # F1 = 2/9 + 4/9 * 1/3 = 10/27 = 0.37037.
    assert stroke["prior_sic"] == 1
    assert stroke["sic_cif"] == {"30": 0.2222, "90": 0.2222, "180": 0.3704}


def test_m2_referral_to_death_bands(stroke):
    # Deaths in the period: B C E J L M O (N died before it). Days first referral -> death:
    # B 0 (same day) -> 0-7; O 2025-04-01 -> 04-20 = 19 -> 8-30; L 01-01 -> 03-01 = 31+28 = 59 -> 31-90;
    # M 2024-05-01 -> 2025-06-01 = 365 + 31 = 396 -> gt90; C, E never; J's referral is after death -> never.
    assert stroke["decedents"] == 7
    assert stroke["decedents_referred"] == 4
    assert stroke["referral_to_death_bands"] == {"never": 3, "0-7": 1, "8-30": 1, "31-90": 1, "gt90": 1}
    # Median of 0, 19, 59, 396 = (19 + 59) / 2.
    assert stroke["median_days_referral_to_death"] == 39


def test_m3_conversations_before_death(stroke):
    # B 0 days (on the day of death), M 2025-05-02 -> 06-01 = 30 days (not more than 30),
    # L 2024-07-01 -> 2025-03-01 = 243 days. C's was not completed, E's was after death.
    assert stroke["decedents_with_sic"] == 3
    assert stroke["decedents_first_sic_gt30d"] == 1
    assert stroke["median_days_first_sic_to_death"] == 30


def test_data_quality_counts_and_listing(stroke):
    # J referral after death; E conversation after death; D consult before its patient's first
    # referral and G consult before its own referral; C's second diagnosis and P's only one after death.
    assert stroke["data_quality"] == {
        "referral_after_death": 1,
        "conversation_after_death": 1,
        "consult_before_referral": 2,
        "diagnosis_after_death": 2,
        # The end-of-life checks (this population has no care events).
        "events_after_death": 0,
        "hospice_after_death": 0,
        "icu_stays_without_location_type": 0,
        "hospice_ends_before_start": 0,
        "care_focus_outside_answer_list": 0,
    }
    flags = quality_flags(stroke_frames().normalised())
    listed = set(zip(flags["patient_id"], flags["kind"], flags["days"], strict=True))
    assert listed == {
        ("J", "referral_after_death", -5),  # death day 50 - referral day 55
        ("E", "conversation_after_death", -5),  # death day 40 - conversation day 45
        ("D", "consult_before_referral", -10),  # consult day 30 - first referral day 40
        ("G", "consult_before_referral", -10),  # consult day 90 - its referral day 100
        ("C", "diagnosis_after_death", -5),  # death day 20 - diagnosis day 25
        ("P", "diagnosis_after_death", -28),  # death 02-01 - diagnosis 03-01
    }


def test_period_filter_moves_each_measure_on_its_own_date():
    # From 2025-02-01: index patients only F (index 2025-11-01); deaths E (02-10) J (02-20) L M O
    # (B and C died in January).
    report = compute_metrics(
        stroke_frames(),
        as_of=AS_OF,
        period_from=date(2025, 2, 1),
        period_to=None,
        cohorts=["stroke"],
        value_set_version="v",
        suppress=False,
    )
    s = report["cohorts"]["stroke"]
    assert s["index_patients"] == 1
    assert s["decedents"] == 5
    assert s["referral_to_death_bands"] == {"never": 2, "0-7": 0, "8-30": 1, "31-90": 1, "gt90": 1}
    # F censored at 60 days with no event: 0 at 30 days, unknown beyond follow-up.
    assert s["referral_cif"] == {"30": 0.0, "90": None, "180": None, "365": None}


def test_earlier_as_of_does_not_see_the_future():
    # On 2025-01-15, for the period from D0, only A's (day 0) and B's (day 10) referrals are known and
    # only B has died; F (index in November) is not in the cohort yet.
    report = compute_metrics(
        stroke_frames(),
        as_of=date(2025, 1, 15),
        period_from=D0,
        period_to=None,
        cohorts=["stroke"],
        value_set_version="v",
        suppress=False,
    )
    s = report["cohorts"]["stroke"]
    assert s["index_patients"] == 8  # A B C D E G I J
    assert s["decedents"] == 1  # B
    assert s["median_days_index_to_referral"] == 5  # A 0 and B 10
    # Censored at 14 days (the cut-off) after index: 30-day incidence not known yet.
    assert s["referral_cif"]["30"] is None


def test_site_filter_uses_attribution():
    frames = stroke_frames()
    patients = frames.patients.copy()
    patients.loc[patients["patient_id"].isin(["A", "B"]), "site"] = "south"
    frames = dataclasses.replace(frames, patients=patients)
    report = compute_metrics(
        frames, as_of=AS_OF, cohorts=["stroke"], value_set_version="v", suppress=False, site="south", **PERIOD
    )
    s = report["cohorts"]["stroke"]
    assert s["index_patients"] == 2
    assert s["decedents"] == 1  # B
    assert report["filters"] == {"site": "south", "unit": None}


def test_unknown_cohort_is_refused():
    with pytest.raises(ValueError, match="unknown cohorts"):
        compute_metrics(
            Frames(), as_of=AS_OF, period_from=None, period_to=None, cohorts=["copd"], value_set_version="v"
        )
