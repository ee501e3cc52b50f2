"""Each patient's course: diagnoses, admissions, palliative referral and consult, conversations.

Referral timing is drawn backwards from death for decedents (the published figures are
referral -> death intervals) and forwards from diagnosis for survivors. The QI units refer
earlier and talk more from ``catalog.QI_START``; a few known data problems are injected.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from sicdoc.sample import catalog
from sicdoc.sample.population import (
    COHORT_MODEL,
    SNOMED_ONLY_SHARE,
    Diagnosis,
    PatientPlan,
    Referral,
    Stay,
    Talk,
    lognormal,
)

P_REFERRAL_AFTER_DEATH = 0.012  # of decedents' referrals, about 0.5% of all referrals
P_CONSULT_BEFORE_REFERRAL = 0.007
QI_REFERRAL_FACTOR = 1.6
QI_LAG_FACTOR = 3.0
QI_TALK_FACTOR = 2.2
# Black and Hispanic patients are referred less often (Chuang et al. 2017), so equity views show a gap.
EQUITY_FACTOR = 0.8
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def lay_out(rng: random.Random, p: PatientPlan, as_of: date) -> None:
    """Fill in diagnoses, stays, referrals and talks of ``p`` (in place)."""
    horizon = datetime.combine(as_of, time(23, 59))
    model = COHORT_MODEL[p.model]
    first = _index_stay(rng, p, model.los_median, horizon)
    _diagnoses(rng, p, first, horizon)
    _readmissions(rng, p, model.readmissions, model.los_median, horizon)
    died_in_hospital = any(s.disposition == "exp" for s in p.stays)
    if p.death is not None and not died_in_hospital and rng.random() < model.p_hospital_death:
        _terminal_stay(rng, p)
    p.stays.sort(key=lambda s: s.start)
    _dispositions(rng, p)
    qi = (p.site.code, p.home_unit.code) in catalog.QI_UNITS and (
        (p.death or p.first_dx).date() >= catalog.QI_START + timedelta(days=14)
    )
    _referral(rng, p, qi, horizon)
    _talks(rng, p, qi, horizon)


def _end(p: PatientPlan, horizon: datetime, wanted: datetime) -> tuple[datetime | None, str | None]:
    """Discharge time and disposition, cut at death (expired) or the cut-off (still admitted)."""
    if p.death is not None and wanted >= p.death:
        return p.death, "exp"
    if wanted > horizon:
        return None, None
    return wanted, "home"


def _index_stay(rng: random.Random, p: PatientPlan, los: float, horizon: datetime) -> Stay | None:
    admitted = p.model in ("stroke", "hf") or rng.random() < (0.5 if p.primary == "cancer" else 0.7)
    if not admitted:
        if p.primary != "cancer":
            return None
        clinic = catalog.UNITS[(p.site.code, "oncclinic")]
        start = datetime.combine(p.first_dx.date(), time(9)) + timedelta(minutes=rng.randrange(420))
        stay = Stay(start, start + HOUR, clinic, _doctor(rng, p, clinic), inpatient=False, disposition=None)
    else:
        end, disposition = _end(p, horizon, p.first_dx + timedelta(days=max(1.0, lognormal(rng, los, 0.6))))
        stay = Stay(p.first_dx, end, p.home_unit, _doctor(rng, p, p.home_unit), disposition=disposition)
    p.stays.append(stay)
    return stay


def _doctor(rng: random.Random, p: PatientPlan, unit: catalog.Unit) -> catalog.Clinician:
    return rng.choice(catalog.clinicians_for(p.site, catalog.SPECIALTY_BY_UNIT[unit.code]))


def _diagnoses(rng: random.Random, p: PatientPlan, first: Stay | None, horizon: datetime) -> None:
    for n, cohort in enumerate(p.cohorts):
        subtype = (
            p.subtype if n == 0 else {"stroke": "ischemic", "heart_failure": "hf", "cancer": "solid"}[cohort]
        )
        onset = p.first_dx if n == 0 else p.first_dx + timedelta(days=rng.randint(1, 400))
        if onset >= min(p.death or horizon, horizon):
            onset = p.first_dx
        stay = first if n == 0 else None
        if subtype == "metastatic":  # the primary tumour and its metastasis, both coded
            p.diagnoses.append(Diagnosis("cancer", _solid(rng, p), onset, stay))
        p.diagnoses.append(Diagnosis(cohort, _coding(rng, p, subtype), onset, stay))
    if not p.cohorts or rng.random() < 0.4:
        other = catalog.OTHER_SNOMED if rng.random() < SNOMED_ONLY_SHARE else catalog.OTHER_DIAGNOSES
        p.diagnoses.append(Diagnosis("other", rng.choice(other), p.first_dx, first))


def _solid(rng: random.Random, p: PatientPlan) -> tuple[str, str, str]:
    if rng.random() < SNOMED_ONLY_SHARE:
        return rng.choice(catalog.SNOMED_DIAGNOSES["solid"])
    pool = catalog.DIAGNOSES["solid"]
    if rng.random() < 0.3 and p.gender in ("female", "male"):
        pool = catalog.DIAGNOSES[f"solid-{p.gender}"]
    return rng.choice(pool)


def _coding(rng: random.Random, p: PatientPlan, subtype: str) -> tuple[str, str, str]:
    if subtype == "solid":
        return _solid(rng, p)
    table = catalog.SNOMED_DIAGNOSES if rng.random() < SNOMED_ONLY_SHARE else catalog.DIAGNOSES
    return rng.choice(table[subtype])


def _readmissions(
    rng: random.Random, p: PatientPlan, weights: tuple[float, ...], los: float, horizon: datetime
) -> None:
    count = rng.choices(range(len(weights)), weights)[0]
    limit = min(p.death or horizon, horizon)
    for _ in range(count):
        earliest = p.first_dx + 7 * DAY
        if earliest >= limit - DAY:
            return
        start = earliest + (limit - DAY - earliest) * rng.random()
        wanted = start + timedelta(days=max(1.0, lognormal(rng, los, 0.6)))
        if _busy(p, start, wanted):
            continue
        end, disposition = _end(p, horizon, wanted)
        unit = p.home_unit if rng.random() < 0.8 else catalog.UNITS[(p.site.code, "med")]
        stay = Stay(start, end, unit, _doctor(rng, p, unit), disposition=disposition)
        p.stays.append(stay)
        if rng.random() < 0.5:
            p.diagnoses.append(Diagnosis("other", rng.choice(catalog.OTHER_DIAGNOSES), start, stay))


def _busy(p: PatientPlan, start: datetime, end: datetime) -> bool:
    return any(s.inpatient and s.start < end and (s.end is None or s.end > start) for s in p.stays)


def _terminal_stay(rng: random.Random, p: PatientPlan) -> None:
    assert p.death is not None
    start = p.death - timedelta(days=max(0.5, lognormal(rng, 5, 0.7)))
    prior = max((s.end for s in p.stays if s.inpatient and s.end is not None), default=None)
    if prior is not None and prior > start:
        start = prior + DAY
    if start >= p.death - 4 * HOUR:
        return
    unit = p.home_unit if rng.random() < 0.85 else catalog.UNITS[(p.site.code, "micu")]
    p.stays.append(Stay(start, p.death, unit, _doctor(rng, p, unit), disposition="exp"))


def _dispositions(rng: random.Random, p: PatientPlan) -> None:
    """Nursing homes after some stays. Whether a last discharge shortly before death goes to hospice
    is decided with the rest of the end of life (``sicdoc.sample.end_of_life``)."""
    for n, stay in enumerate(p.stays):
        if stay.disposition != "home" or stay.end is None:
            continue
        last = n == len(p.stays) - 1
        if last and p.death is not None and p.death - stay.end < 30 * DAY:
            continue
        if p.model in ("stroke", "hf") and rng.random() < 0.15:
            stay.disposition = "snf"


def _stay_at(p: PatientPlan, when: datetime) -> Stay | None:
    for s in p.stays:
        if s.inpatient and s.referral is None and s.start <= when and (s.end is None or when <= s.end):
            return s
    return None


def _referral(rng: random.Random, p: PatientPlan, qi: bool, horizon: datetime) -> None:
    model = COHORT_MODEL[p.model]
    chance = model.p_referral_decedent if p.death is not None else model.p_referral_alive
    if qi:
        chance *= QI_REFERRAL_FACTOR
    if p.race[1] == "2054-5" or p.ethnicity[1] == "2135-2":
        chance *= EQUITY_FACTOR
    if rng.random() >= chance:
        return
    start = p.first_dx + HOUR
    if p.death is not None:
        lag = lognormal(rng, model.lag_median, 1.0) * (QI_LAG_FACTOR if qi else 1.0)
        when = p.death - timedelta(days=lag)
        if when < start:
            when = start + (p.death - start) * rng.random()
    elif p.primary == "cancer":
        when = start + timedelta(days=lognormal(rng, 45, 0.9))
    else:
        when = start + timedelta(days=rng.uniform(0.1, 3))
    when = _office_hours(rng, when, earliest=start, latest=p.death or horizon)
    if when > horizon:
        return
    stay = _stay_at(p, when)
    if stay is None:
        stay = _admit_for_referral(rng, p, when, horizon)
    unit = stay.unit if stay is not None else p.home_unit
    requester = stay.clinician if stay is not None else _doctor(rng, p, unit)
    if p.death is not None and rng.random() < P_REFERRAL_AFTER_DEATH and p.death + 4 * DAY < horizon:
        when = p.death + timedelta(days=rng.uniform(1, 4))  # entered late, dated after death
        p.problems.append("referral-after-death")
    code = "306288008" if rng.random() < 0.1 else "306237005"
    reason = next((d for d in p.diagnoses if d.cohort == p.primary), None)
    referral = Referral(when, stay, requester, reason, code)
    p.referrals.append(referral)
    _consult(rng, p, referral, qi, horizon)


def _admit_for_referral(rng: random.Random, p: PatientPlan, when: datetime, horizon: datetime) -> Stay | None:
    """A referral outside any stay: a clinic visit for cancer, else an admission around it."""
    if p.primary == "cancer" and rng.random() < 0.6:
        clinic = catalog.UNITS[(p.site.code, "oncclinic")]
        visit = Stay(when - HOUR / 2, when + HOUR / 2, clinic, _doctor(rng, p, clinic), inpatient=False)
        p.stays.append(visit)
        return visit
    start = when - timedelta(days=rng.uniform(0.2, 3))
    wanted = when + timedelta(days=rng.uniform(1, 6))
    for s in p.stays:
        if s.inpatient and s.end is not None and s.end <= when:
            start = max(start, s.end + HOUR)
        elif s.inpatient and s.start > when:
            wanted = min(wanted, s.start - HOUR)
    if wanted <= when or start >= when:  # no room between neighbouring stays: a referral without encounter
        return None
    end, disposition = _end(p, horizon, wanted)
    stay = Stay(start, end, p.home_unit, _doctor(rng, p, p.home_unit), disposition=disposition)
    p.stays.append(stay)
    return stay


def _consult(rng: random.Random, p: PatientPlan, ref: Referral, qi: bool, horizon: datetime) -> None:
    limit = min(p.death or horizon, horizon)
    if rng.random() >= (0.85 if limit - ref.authored > DAY else 0.45) or ref.authored >= limit:
        return
    stay = ref.stay
    if stay is not None and stay.inpatient:
        start = ref.authored + timedelta(hours=lognormal(rng, 18, 0.8))
        start = _office_hours(rng, start, earliest=ref.authored, latest=limit)
        if start >= limit or (stay.end is not None and start >= stay.end):
            return
        unit, part_of, inpatient = stay.unit, stay, True
    else:
        start = datetime.combine(ref.authored.date() + timedelta(days=rng.randint(3, 21)), time(9))
        start += timedelta(minutes=rng.randrange(420))
        if start >= limit:
            return
        unit, part_of, inpatient = catalog.UNITS[(p.site.code, "pcclinic")], None, False
    if rng.random() < P_CONSULT_BEFORE_REFERRAL:
        start = ref.authored - timedelta(days=rng.uniform(1, 2))  # a back-dated consult note
        p.problems.append("consult-before-referral")
    doctor = rng.choice(catalog.clinicians_for(p.site, "Palliative medicine"))
    end = start + timedelta(minutes=rng.randint(45, 90))
    consult = Stay(start, end, unit, doctor, inpatient=inpatient, referral=ref, part_of=part_of)
    p.stays.append(consult)
    ref.completed = True
    if rng.random() < (0.8 if qi else 0.6):
        near = p.death is not None and p.death - start < 30 * DAY
        p.talks.append(Talk(start + timedelta(minutes=rng.randint(5, 20)), consult, doctor, unit, qi, near))


def _talks(rng: random.Random, p: PatientPlan, qi: bool, horizon: datetime) -> None:
    """A conversation by the primary team, in one of the patient's admissions or clinic visits."""
    chance = COHORT_MODEL[p.model].p_conversation * (QI_TALK_FACTOR if qi else 1.0)
    if p.death is not None:
        chance += 0.1
    candidates = [s for s in p.stays if s.referral is None]
    if not candidates or rng.random() >= chance:
        return
    stay = rng.choice(candidates)
    end = min(stay.end or horizon, p.death or horizon, horizon)
    when = stay.start + (end - stay.start) * rng.random()
    if when.hour < 8 or when.hour > 19:
        when = when.replace(hour=rng.randint(9, 17))
    if when >= end or when < stay.start:
        return
    near = p.death is not None and p.death - when < 30 * DAY
    p.talks.append(Talk(when, stay, stay.clinician, stay.unit, qi, near))


def _office_hours(rng: random.Random, when: datetime, earliest: datetime, latest: datetime) -> datetime:
    """Referrals and consults mostly happen by day: move a night-time one into 08:00-18:00 of the
    nearest sensible day, unless that would cross the events it must stay between."""
    if 8 <= when.hour < 18:
        return when
    day = when.date() if when.hour < 8 else when.date() + DAY
    moved = datetime.combine(day, time(8)) + timedelta(minutes=rng.randrange(600))
    if moved > latest - HOUR:
        moved = datetime.combine(when.date(), time(8)) + timedelta(minutes=rng.randrange(600))
    return moved if earliest <= moved <= latest - HOUR else when
