"""The end of life of each synthetic patient: ICU time, ED visits, hospice, chemotherapy, life support,
and what each conversation documented (care focus, code status, the four quality domains).

Drawn after the course (``sicdoc.sample.course``) from an rng of its own, so the course of a seed is
the same whether or not this layer changes. Shares are set so that a population shows published
figures (``README``: the sample; ``truth`` computes them from a plan):

- ICU in the last 30 days: about a quarter of cancer decedents (Wright et al. 2016, JAMA 315:284:
  roughly 27-30% of cancer decedents had ICU care in their last month).
- Chemotherapy in the last 14 days: about 5-10% of cancer decedents (Earle et al. 2004, JCO
  22:315; quality benchmark < 10%, Earle et al. 2003/2008).
- More than one ED visit in the last 30 days: about 10-15% of decedents (Earle 2004 reports a
  rising share near 10% of cancer decedents; benchmark < 4%).
- No hospice: about 40-55% of decedents; enrolled 0-2 days before death: about 10-15% of those
  enrolled (Earle 2004: 14-17% of hospice users enrolled in the last 3 days; benchmark < 8%).
- Death in hospital: about 20-30% (Teno et al. 2018, JAMA 320:264: about a fifth of Medicare
  decedents; higher for cancer in Earle 2004).
- A first conversation more than 30 days before death goes with less ICU, ventilation and CPR and
  with more and earlier hospice (Wright et al. 2008, JAMA 300:1665: ICU 4.1% vs 12.4%, ventilation
  1.6% vs 11.0%, resuscitation 0.8% vs 6.7%, hospice for a week or more 65.6% vs 44.5%).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sicdoc.sample import catalog
from sicdoc.sample.population import CareProcedure, Hospice, PatientPlan, Segment, Stay, lognormal
from sicdoc.sample.talk_text import COMFORT, make_answers

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EARLY_DAYS = 30  # a first conversation more than this many days before death is "early"

# Chance to add ICU time in the last 30 days to a decedent not already there, by conversation timing;
# on top of the ICU units some patients are admitted to anyway (about 9% of cancer decedents).
ICU_ADD = {"early": 0.06, "late": 0.28, "none": 0.28}
COMFORT_ICU_FACTOR = 0.3  # comfort-focused patients still reach the ICU, less often
# Hospice by primary model; early conversation +, ICU -, a comfort focus +.
HOSPICE_BASE = {"solid": 0.62, "metastatic": 0.66, "hematologic": 0.48, "hf": 0.62, "stroke": 0.60}
HOSPICE_OTHER = 0.50
HOSPICE_EARLY = 0.22
HOSPICE_LATE = 0.05
HOSPICE_COMFORT = 0.10
HOSPICE_AFTER_ICU = 0.6
# Share of enrolments in the last 0-2 days of life.
HOSPICE_LATE_ENROLMENT = {"early": 0.03, "late": 0.06, "none": 0.06}
HOSPICE_DAYS_MEDIAN = {"early": 30.0, "late": 12.0, "none": 12.0}  # days before death otherwise
P_DISCHARGED_TO_HOSPICE = 0.7  # enrolment at a discharge in the last 30 days, when there is one
P_EPISODE_WITH_DISCHARGE = 0.4  # the hospice also posts its EpisodeOfCare
# ED visits in the last 30 days of life: weights of 0, 1, 2, 3 visits.
ED_VISITS = {"early": (0.76, 0.16, 0.06, 0.02), "late": (0.62, 0.22, 0.12, 0.04)}
P_ED_SURVIVOR = 0.12
# Chemotherapy (cancer): in the last 14 days of life, else some courses that stopped earlier.
CHEMO_LAST_14D = {"early": 0.03, "late": 0.09, "none": 0.09}
P_CHEMO = 0.55
# Life support: intubation with ventilation in a decedent's last-month ICU stay; CPR at a death in
# hospital, by the last code status documented (a DNR order does not always stop it).
P_VENTILATED = {"early": 0.25, "late": 0.45, "none": 0.45}
P_VENTILATED_SURVIVOR = 0.1
DNI_INTUBATION_FACTOR = 0.2
P_CPR = {"early": 0.08, "late": 0.18, "none": 0.18}
P_CPR_DNR = 0.06


def timing(p: PatientPlan) -> str:
    """``early`` (first conversation more than 30 days before death), ``late`` or ``none``."""
    assert p.death is not None
    first = min((t.start for t in p.talks if t.start <= p.death), default=None)
    if first is None:
        return "none"
    return "early" if (p.death.date() - first.date()).days > EARLY_DAYS else "late"


def add(rng: random.Random, p: PatientPlan, as_of: date) -> None:
    """Fill in talks' answers, ICU time, ED visits, hospice and procedures of ``p`` (in place)."""
    horizon = datetime.combine(as_of, time(23, 59))
    _answers(rng, p)
    if p.death is None:
        _survivor(rng, p, horizon)
    else:
        group = timing(p)
        comfort = _last(p, "care-focus") == COMFORT
        if not icu_last_30d(p) and rng.random() < ICU_ADD[group] * (COMFORT_ICU_FACTOR if comfort else 1):
            _icu_near_death(rng, p)
        _ed_visits(rng, p, group)
        _hospice(rng, p, group, comfort)
        _life_support(rng, p, group)
    if "cancer" in p.cohorts:
        _chemotherapy(rng, p, horizon)
    p.stays.sort(key=lambda s: s.start)
    p.procedures.sort(key=lambda c: c.when)


def _answers(rng: random.Random, p: PatientPlan) -> None:
    for talk in sorted(p.talks, key=lambda t: t.start):
        duration = min(120, max(10, round(lognormal(rng, 30, 0.4))))
        if p.death is not None:
            duration = max(1, min(duration, int((p.death - talk.start).total_seconds() // 60)))
        unit = talk.unit
        # The QI programme improves documentation where it runs, from its start.
        qi = (
            unit is not None
            and (unit.site.code, unit.code) in catalog.QI_UNITS
            and talk.start.date() >= catalog.QI_START
        )
        days = (p.death.date() - talk.start.date()).days if p.death is not None else None
        talk.duration = duration
        talk.answers = make_answers(
            rng, near_death=talk.near_death, qi=qi, duration=duration, days_to_death=days
        )


def _last(p: PatientPlan, link_id: str) -> str | None:
    """The last answer to ``link_id`` documented on or before the death day."""
    found = None
    for talk in sorted(p.talks, key=lambda t: t.start):
        if p.death is not None and talk.start.date() > p.death.date():
            break
        value = talk.answers.get(link_id)
        if isinstance(value, str):
            found = value
    return found


def _inpatient(p: PatientPlan) -> list[Stay]:
    return [s for s in p.stays if s.inpatient and s.referral is None]


def _free(p: PatientPlan, start: datetime, end: datetime) -> bool:
    return not any(s.start < end and (s.end is None or s.end > start) for s in p.stays if s.inpatient)


def _icu_unit(p: PatientPlan) -> catalog.Unit:
    code = "ccu" if p.model == "hf" else "micu"
    return catalog.UNITS[(p.site.code, code)]


def _split(rng: random.Random, p: PatientPlan, stay: Stay, window: datetime, die_in_icu: bool) -> None:
    """Put an ICU segment into ``stay`` overlapping ``window`` .. its end."""
    end = stay.end if stay.end is not None else window + 30 * DAY
    icu = _icu_unit(p)
    earliest = max(stay.start, window)
    length = timedelta(days=max(0.5, lognormal(rng, 2.5, 0.6)))
    if die_in_icu and stay.end is not None:
        a, b = max(earliest, end - length), end
    else:
        a = earliest + (end - earliest) * rng.random() * 0.5
        b = min(a + length, end)
    pieces = [(stay.unit, stay.start, a), (icu, a, b), (stay.unit, b, end)]
    stay.segments = [
        Segment(unit, s, e if e != end or stay.end is not None else None)
        for unit, s, e in pieces
        if e - s >= HOUR or unit is icu
    ]


def _icu_near_death(rng: random.Random, p: PatientPlan) -> None:
    """An ICU stay in the last 30 days: in an admission already there, else a new admission."""
    assert p.death is not None
    window = p.death - 29 * DAY
    current = [s for s in _inpatient(p) if s.start <= p.death and (s.end is None or s.end >= window)]
    die_in_icu = rng.random() < 0.5
    if current:
        stay = current[-1]
        if stay.unit.code not in catalog.ICU_UNITS and not stay.segments:
            _split(rng, p, stay, max(window, stay.start), die_in_icu and stay.disposition == "exp")
        return
    for _ in range(3):
        start = p.death - timedelta(days=rng.uniform(0.5, 28))
        wanted = start + timedelta(days=max(1.0, lognormal(rng, 6, 0.6)))
        end = min(wanted, p.death)
        if start < p.first_dx or not _free(p, start, end):
            continue
        unit = p.home_unit if p.home_unit.inpatient else catalog.UNITS[(p.site.code, "med")]
        doctor = rng.choice(catalog.clinicians_for(p.site, catalog.SPECIALTY_BY_UNIT[unit.code]))
        stay = Stay(start, end, unit, doctor, disposition="exp" if end == p.death else "home")
        p.stays.append(stay)
        if unit.code not in catalog.ICU_UNITS:
            _split(rng, p, stay, start, die_in_icu and end == p.death)
        return


def _ed_visits(rng: random.Random, p: PatientPlan, group: str) -> None:
    assert p.death is not None
    weights = ED_VISITS["early" if group == "early" else "late"]
    count = rng.choices(range(len(weights)), weights)[0]
    for _ in range(count):
        for _ in range(3):  # a few tries to find hours outside any admission
            start = p.death - timedelta(days=rng.uniform(0.3, 29.5))
            end = start + timedelta(hours=rng.uniform(2, 9))
            if end < p.death and start > p.first_dx and _free(p, start, end):
                _add_ed(rng, p, start, end)
                break


def _add_ed(rng: random.Random, p: PatientPlan, start: datetime, end: datetime) -> None:
    unit = catalog.UNITS[(p.site.code, "ed")]
    doctor = rng.choice(catalog.clinicians_for(p.site, catalog.SPECIALTY_BY_UNIT["ed"]))
    p.stays.append(Stay(start, end, unit, doctor, inpatient=False, emergency=True))


def _hospice(rng: random.Random, p: PatientPlan, group: str, comfort: bool) -> None:
    assert p.death is not None
    death = p.death
    chance = HOSPICE_BASE.get(p.model, HOSPICE_OTHER)
    chance += HOSPICE_EARLY if group == "early" else HOSPICE_LATE if group == "late" else 0.0
    chance += HOSPICE_COMFORT if comfort else 0.0
    if icu_last_30d(p):
        chance *= HOSPICE_AFTER_ICU
    enrol = rng.random() < min(chance, 0.92)
    inpatient = _inpatient(p)
    discharges = [s for s in inpatient if s.end is not None and death - 30 * DAY <= s.end < death]
    dying_in = next((s for s in inpatient if s.start <= death and (s.end is None or s.end >= death)), None)
    if not enrol:
        return
    if dying_in is not None:
        # Hospice care that starts in the hospital in the last days (or not at all).
        if rng.random() < 0.08:
            start = max(dying_in.start, _day_start(death, rng.randint(0, 2)))
            p.hospice.append(Hospice(start, death))
        return
    if discharges and rng.random() < P_DISCHARGED_TO_HOSPICE:
        last = discharges[-1]
        last.disposition = "hosp"
        if rng.random() < P_EPISODE_WITH_DISCHARGE:
            assert last.end is not None
            # An hour after the discharge, or halfway to a death sooner than that.
            p.hospice.append(Hospice(last.end + min(HOUR, (death - last.end) / 2), death))
        return
    if rng.random() < HOSPICE_LATE_ENROLMENT[group]:
        start = _day_start(death, rng.randint(0, 2))
    else:
        days = 3 + lognormal(rng, HOSPICE_DAYS_MEDIAN[group], 0.9)
        start = death - timedelta(days=days)
    last_out = max((s.end for s in inpatient if s.end is not None and s.end < death), default=None)
    if last_out is not None and start < last_out:
        start = last_out + HOUR  # enrolled after the last admission
    start = max(start, p.first_dx + HOUR)
    if start < death:
        p.hospice.append(Hospice(start, death))


def _day_start(death: datetime, days_before: int) -> datetime:
    """A time ``days_before`` calendar days before the death day, before the death itself."""
    day = datetime.combine(death.date() - timedelta(days=days_before), time(10))
    # A death in the first minutes of its day moves the time before midnight rather than after it.
    return min(day, max(datetime.combine(death.date(), time(0, 5)), death - 2 * HOUR), death - MINUTE)


def _life_support(rng: random.Random, p: PatientPlan, group: str) -> None:
    assert p.death is not None
    window = p.death - 29 * DAY
    dni = _last(p, "code-status") == "dnr-dni"
    for stay in _inpatient(p):
        for seg in stay.places:
            if seg.unit.code not in catalog.ICU_UNITS or seg.end is None or seg.end < window:
                continue
            chance = P_VENTILATED[group] * (DNI_INTUBATION_FACTOR if dni else 1.0)
            if rng.random() < chance:
                when = seg.start + (seg.end - seg.start) * rng.random() * 0.3
                p.procedures.append(CareProcedure("intubation", when, stay))
                p.procedures.append(CareProcedure("ventilation", when + timedelta(minutes=10), stay))
    in_hospital = next(
        (s for s in _inpatient(p) if s.start <= p.death and (s.end is None or s.end >= p.death)), None
    )
    if in_hospital is None:
        return
    status = _last(p, "code-status")
    chance = P_CPR_DNR if status in ("dnr", "dnr-dni") else P_CPR[group]
    if rng.random() < chance:
        when = max(in_hospital.start, p.death - timedelta(minutes=rng.randint(10, 50)))
        p.procedures.append(CareProcedure("cpr", when, in_hospital))


def _survivor(rng: random.Random, p: PatientPlan, horizon: datetime) -> None:
    if rng.random() < P_ED_SURVIVOR:
        start = p.first_dx + (horizon - p.first_dx) * rng.random()
        end = start + timedelta(hours=rng.uniform(2, 9))
        if end < horizon and _free(p, start, end):
            _add_ed(rng, p, start, end)
    for stay in _inpatient(p):
        if stay.unit.code in catalog.ICU_UNITS and rng.random() < P_VENTILATED_SURVIVOR:
            when = stay.start + timedelta(hours=rng.uniform(1, 12))
            if stay.end is None or when < stay.end:
                p.procedures.append(CareProcedure("intubation", when, stay))
                p.procedures.append(CareProcedure("ventilation", when + timedelta(minutes=10), stay))


def _chemotherapy(rng: random.Random, p: PatientPlan, horizon: datetime) -> None:
    """Cycles three weeks apart; for decedents the last one is placed relative to death."""
    first = p.first_dx + timedelta(days=rng.uniform(14, 40))
    cycles = rng.randint(3, 8)
    if p.death is not None:
        group = timing(p)
        if rng.random() < CHEMO_LAST_14D[group]:
            last = _day_start(p.death, rng.randint(0, 13))
        elif rng.random() < P_CHEMO:
            last = p.death - timedelta(days=15 + lognormal(rng, 40, 0.8))
        else:
            return
        day = last
        dates: list[datetime] = []
        while len(dates) < cycles and day >= p.first_dx:
            dates.append(day)
            day -= timedelta(days=21 + rng.randint(-2, 3))
    else:
        if rng.random() >= P_CHEMO:
            return
        dates = [first + timedelta(days=21 * k) for k in range(cycles)]
        dates = [d for d in dates if d < horizon]
    for when in dates:
        p.procedures.append(CareProcedure("chemotherapy", when, None))


@dataclass(frozen=True)
class Truth:
    """A decedent's end of life as the generator made it (the definitions of issue 17, from the plan)."""

    timing: str  # early, late or none
    first_talk_days: int | None  # days from the first conversation to death
    icu_last_30d: bool
    hospice: bool  # enrolled on or before the death day
    hospice_lt3d: bool
    chemo_last_14d: bool
    ed_gt1_last_30d: bool
    death_in_hospital: bool


def icu_last_30d(p: PatientPlan) -> bool:
    assert p.death is not None
    death, window = p.death.date(), p.death.date() - timedelta(days=29)
    return any(
        seg.unit.code in catalog.ICU_UNITS
        and seg.start.date() <= death
        and (seg.end is None or seg.end.date() >= window)
        for s in _inpatient(p)
        for seg in s.places
    )


def enrolments(p: PatientPlan) -> list[date]:
    """Hospice enrolment days: episodes by start, discharges to hospice by discharge day."""
    days = [h.start.date() for h in p.hospice]
    days += [s.end.date() for s in _inpatient(p) if s.disposition == "hosp" and s.end is not None]
    return sorted(days)


def truth(p: PatientPlan) -> Truth | None:
    """What the generator put into a decedent's last days; None for a survivor."""
    if p.death is None:
        return None
    death = p.death.date()
    first = min((t.start.date() for t in p.talks if t.start.date() <= death), default=None)
    enrolled = [d for d in enrolments(p) if d <= death]
    ed = [s for s in p.stays if s.emergency and 0 <= (death - s.start.date()).days <= 29]
    chemo = [c for c in p.procedures if c.kind == "chemotherapy" and 0 <= (death - c.when.date()).days <= 13]
    in_hospital = any(
        (s.start.date() <= death and (s.end is None or s.end.date() >= death)) or s.disposition == "exp"
        for s in _inpatient(p)
    )
    return Truth(
        timing=timing(p),
        first_talk_days=(death - first).days if first is not None else None,
        icu_last_30d=icu_last_30d(p),
        hospice=bool(enrolled),
        hospice_lt3d=bool(enrolled) and (death - enrolled[0]).days <= 2,
        chemo_last_14d=bool(chemo),
        ed_gt1_last_30d=len(ed) > 1,
        death_in_hospital=in_hospital,
    )
