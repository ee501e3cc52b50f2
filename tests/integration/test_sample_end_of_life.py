"""The generated population's end of life: realistic shares, and an early conversation going with less
ICU care and more hospice (Wright et al. 2008), in the generator's truth and in sicdoc's own analytics
over the same patients loaded through the FHIR transaction service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from sicdoc.analytics.end_of_life import all_decedents, care_table, decedent_care
from sicdoc.analytics.frames import Where
from sicdoc.conversation.quality import score_answers
from sicdoc.db import session_scope
from sicdoc.sample import DEFAULT_AS_OF, iter_patients, plan_patient
from sicdoc.sample.catalog import QI_START, QI_UNITS
from sicdoc.sample.end_of_life import Truth, truth
from sicdoc.sample.population import PatientPlan
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from sicdoc.store.frames import load_frames

PLANS = 4000
LOADED = 500
SEED = 11


def share(rows: list[Truth], flag: Callable[[Truth], bool]) -> float:
    return sum(map(flag, rows)) / len(rows)


@pytest.fixture(scope="module")
def plans() -> list[PatientPlan]:
    # Plans only (no FHIR): thousands of patients in about a second.
    return [plan_patient(SEED, i)[0] for i in range(PLANS)]


def decedents(plans: list[PatientPlan], cohort: str | None = None) -> list[Truth]:
    return [t for p in plans if (cohort is None or cohort in p.cohorts) and (t := truth(p)) is not None]


def test_an_early_conversation_goes_with_less_icu_and_more_hospice_in_the_truth(plans):
    for rows in (decedents(plans), decedents(plans, "cancer")):
        early = [t for t in rows if t.timing == "early"]
        rest = [t for t in rows if t.timing != "early"]
        assert len(early) >= 100 and len(rest) >= 300
        assert all(t.first_talk_days is not None and t.first_talk_days > 30 for t in early)
        icu = (share(early, lambda t: t.icu_last_30d), share(rest, lambda t: t.icu_last_30d))
        hospice = (share(early, lambda t: t.hospice), share(rest, lambda t: t.hospice))
        assert icu[0] < icu[1] - 0.08
        assert hospice[0] > hospice[1] + 0.15


def test_end_of_life_shares_are_in_the_published_ranges(plans):
    cancer, everyone = decedents(plans, "cancer"), decedents(plans)
    assert 0.18 <= share(cancer, lambda t: t.icu_last_30d) <= 0.32  # Wright 2016: about a quarter
    assert 0.04 <= share(cancer, lambda t: t.chemo_last_14d) <= 0.11  # Earle 2004: 5-10%
    assert 0.08 <= share(everyone, lambda t: t.ed_gt1_last_30d) <= 0.20
    assert 0.38 <= share(everyone, lambda t: not t.hospice) <= 0.60
    assert 0.38 <= share(cancer, lambda t: not t.hospice) <= 0.56
    enrolled = [t for t in everyone if t.hospice]
    assert 0.07 <= share(enrolled, lambda t: t.hospice_lt3d) <= 0.18
    assert 0.18 <= share(everyone, lambda t: t.death_in_hospital) <= 0.34


def test_care_focus_grows_comfort_focused_near_death_and_agrees_with_code_status(plans):
    near, far, comfort_dnr, comfort = 0, 0, 0, 0
    near_n = far_n = 0
    for p in plans:
        for talk in p.talks:
            focus, status = talk.answers.get("care-focus"), talk.answers.get("code-status")
            if focus is None:
                continue
            if p.death is not None and (p.death - talk.start).days < 30:
                near_n += 1
                near += focus == "LA33475-7"
            elif p.death is None:
                far_n += 1
                far += focus == "LA33475-7"
            if focus == "LA33475-7" and status is not None:
                comfort += 1
                comfort_dnr += status in ("dnr", "dnr-dni")
    assert near / near_n > 0.4 > 0.2 > far / far_n
    assert comfort_dnr / comfort > 0.8


def test_the_qi_programme_documents_more_domains_in_its_units(plans):
    all_four: dict[bool, list[bool]] = {True: [], False: []}
    for p in plans:
        for talk in p.talks:
            unit = talk.unit
            qi = (
                unit is not None and (unit.site.code, unit.code) in QI_UNITS and talk.start.date() >= QI_START
            )
            all_four[qi].append(len(score_answers(talk.answers).domains) == 4)
    during, otherwise = all_four[True], all_four[False]
    assert len(during) >= 50
    assert sum(during) / len(during) > sum(otherwise) / len(otherwise) + 0.2


def test_signals_for_case_review_are_present(plans):
    """Some DNR patients still get CPR after the order, some comfort-focused patients the ICU."""
    dnr_cpr = comfort_icu = 0
    for p in plans:
        t = truth(p)
        if t is None:
            continue
        talks = sorted(p.talks, key=lambda x: x.start)
        statuses = [x for x in talks if "code-status" in x.answers and x.start.date() <= p.death.date()]
        foci = [x for x in talks if "care-focus" in x.answers and x.start.date() <= p.death.date()]
        if statuses and statuses[-1].answers["code-status"] in ("dnr", "dnr-dni"):
            day = statuses[-1].start.date()
            dnr_cpr += any(c.kind == "cpr" and c.when.date() > day for c in p.procedures)
        if foci and foci[-1].answers["care-focus"] == "LA33475-7":
            comfort_icu += t.icu_last_30d
    assert dnr_cpr >= 3 and comfort_icu >= 10


def load(app, patients: int, seed: int) -> list[PatientPlan]:
    store = app.extensions["sicdoc.store"]
    plans = []
    with session_scope(app) as session:
        unit = system_unit(session, store)
        for plan, bundle, _ in iter_patients(patients, seed):
            process_transaction(unit, bundle)
            plans.append(plan)
    return plans


@pytest.mark.slow
def test_sicdoc_reads_the_same_end_of_life_from_the_loaded_population(app):
    plans = load(app, LOADED, SEED)
    with app.extensions["sicdoc.engine"].connect() as conn:
        frames = load_frames(conn).normalised().observed(DEFAULT_AS_OF)
    table = care_table(frames, all_decedents(frames))
    truths = decedents(plans)
    assert len(table) == len(truths)
    # Every measure the generator made is what sicdoc reads back from the FHIR records.
    for column, flag in (
        ("icu_last_30d", lambda t: t.icu_last_30d),
        ("no_hospice", lambda t: not t.hospice),
        ("hospice_lt3d", lambda t: t.hospice_lt3d),
        ("chemo_last_14d", lambda t: t.chemo_last_14d),
        ("ed_gt1_last_30d", lambda t: t.ed_gt1_last_30d),
        ("death_in_hospital", lambda t: t.death_in_hospital),
    ):
        assert int(table[column].sum()) == sum(map(flag, truths)), column
    days = (table["death_date"] - table["first_sic_date"]).dt.days
    early = table[days > 30]
    rest = table[~(days > 30)]
    assert len(early) >= 15
    assert early["icu_last_30d"].mean() < rest["icu_last_30d"].mean()
    assert (~early["no_hospice"]).mean() > (~rest["no_hospice"]).mean()
    cancer = decedent_care(frames, "cancer", Where(period_from=date(2023, 1, 1), period_to=DEFAULT_AS_OF))
    assert 0.1 <= cancer["icu_last_30d"].mean() <= 0.4


def test_a_hospice_episode_after_a_discharge_in_the_last_hour_still_starts_before_it_ends():
    # Seed 5, patient 16,577 was discharged to hospice 43 minutes before dying: the episode once
    # started an hour after the discharge, after the death, and the loader refused the bundle (per-1).
    plan = plan_patient(5, 16577)[0]
    assert plan.death is not None
    assert all(h.end is None or h.start < h.end for h in plan.hospice)
    assert all(h.start <= plan.death for h in plan.hospice)


def test_hospice_in_hospital_for_a_death_just_after_midnight_starts_before_the_death():
    # Seed 11, patient 57,509 died at 00:03 in hospital: the episode's start of day was 00:05, after the
    # death, and the loader refused the bundle (per-1).
    plan = plan_patient(11, 57509)[0]
    assert plan.death is not None and plan.hospice
    assert all(h.start < plan.death for h in plan.hospice)
    assert all(h.end is None or h.start < h.end for h in plan.hospice)
