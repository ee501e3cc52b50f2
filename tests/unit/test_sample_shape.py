"""The generated population has the shape of the published figures (qi_metrics.md section 2)."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sicdoc.sample import iter_patients, plan_patient
from sicdoc.sample.catalog import QI_START, QI_UNITS
from sicdoc.sample.profile import PopulationProfile, profile

N = 2000


@dataclass
class Population:
    profile: PopulationProfile  # read back from the bundles as written, duplicates included
    problems: Counter[str]  # what the generator says it injected
    lags: dict[tuple[bool, bool], list[int]]  # referral -> death days by (QI unit, after QI start)


@pytest.fixture(scope="module")
def population() -> Population:
    lags: dict[tuple[bool, bool], list[int]] = {}
    problems: Counter[str] = Counter()

    def bundles() -> Iterator[dict]:
        for plan, bundle, twice in iter_patients(N, 1):
            problems.update(plan.problems)
            if plan.death is not None and plan.referrals:
                key = ((plan.site.code, plan.home_unit.code) in QI_UNITS, plan.death.date() >= QI_START)
                lags.setdefault(key, []).append((plan.death.date() - plan.referrals[0].authored.date()).days)
            yield bundle
            if twice:
                yield bundle

    return Population(profile(bundles()), problems, lags)


def test_cohort_sizes_controls_and_overlap(population):
    p = population.profile
    assert p.patients == N
    assert 0.17 <= p.controls / N <= 0.33
    sizes = {c: p.cohorts[c].patients for c in p.cohorts}
    assert sizes["cancer"] > sizes["heart_failure"] > sizes["stroke"] > 0.15 * N
    assert 0.03 * N <= p.two_or_more_cohorts <= 0.15 * N
    assert 0.08 <= p.snomed_only_conditions / p.cohort_conditions <= 0.22


def test_deaths_and_referrals_follow_the_published_directions(population):
    p = population.profile
    cancer, hf, stroke = p.cohorts["cancer"], p.cohorts["heart_failure"], p.cohorts["stroke"]
    for cohort in (cancer, hf, stroke):
        assert 0.30 <= cohort.decedents / cohort.patients <= 0.55
    assert 35 <= cancer.pct_decedents_referred <= 55  # Hui 2012: 45%
    assert 20 <= hf.pct_decedents_referred <= 40
    assert cancer.pct_decedents_referred > hf.pct_decedents_referred
    assert 10 <= cancer.median_referral_to_death <= 21  # Jordan 2020: cancer 15 days
    assert hf.median_referral_to_death < 7 and stroke.median_referral_to_death < 7  # non-cancer 6 days
    assert cancer.median_referral_to_death > hf.median_referral_to_death
    assert 0.04 <= p.stroke_admissions_with_consult / p.stroke_admissions <= 0.20  # Singh 2017 6.2%


def test_injected_data_problems_are_what_a_reader_of_the_bundles_finds(population):
    p, injected = population.profile, population.problems
    assert p.bundles == p.patients + p.duplicate_bundles
    assert p.duplicate_bundles == injected["duplicate-bundle"]
    assert p.referrals_after_death == injected["referral-after-death"]
    assert p.consults_before_referral == injected["consult-before-referral"]


def test_known_data_problems_are_present_in_small_numbers():
    # Plans only (no FHIR), so a population large enough for rare events stays fast.
    problems: Counter[str] = Counter()
    referrals = consults = 0
    for index in range(10_000):
        plan, _ = plan_patient(5, index)
        problems.update(plan.problems)
        referrals += len(plan.referrals)
        consults += sum(stay.referral is not None for stay in plan.stays)
    assert 10 <= problems["duplicate-bundle"] <= 100  # ~0.5% of patients
    assert 1 <= problems["referral-after-death"] <= 0.015 * referrals  # ~0.5% of referrals
    assert 1 <= problems["consult-before-referral"] <= 0.015 * consults  # ~0.5% of consults


def test_qi_units_refer_earlier_after_the_programme_starts(population):
    lags = population.lags
    before, after = lags[(True, False)], lags[(True, True)]
    assert len(before) >= 10 and len(after) >= 10
    assert statistics.median(after) > statistics.median(before)


def test_conversations_arrive_as_complete_resource_sets(population):
    p = population.profile
    assert p.types["Procedure"] - p.care_procedures == p.conversations > 0.1 * N
    assert p.types["QuestionnaireResponse"] == p.types["Composition"] == p.conversations
    assert 0 < p.types["Goal"] < p.conversations  # goals are sometimes left undocumented
