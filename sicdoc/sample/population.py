"""Who the synthetic patients are: cohorts, demographics, diagnosis dates and death.

Shares and rates follow the published figures summarised in reference/qi_metrics.md section 2
(the per-cohort knobs are in ``COHORT_MODEL``); the events of each patient's course are laid out
in ``sicdoc.sample.course``. Times are naive local wall-clock times of the patient's site.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sicdoc.conversation.answers import Answer
from sicdoc.sample import catalog
from sicdoc.sample.catalog import Clinician, Site, Unit

PERIOD_START = date(2023, 1, 1)
CONTROL_SHARE = 0.25
SECOND_COHORT_SHARE = 0.12
PRIMARY_WEIGHTS = {"cancer": 0.42, "heart_failure": 0.32, "stroke": 0.26}
SUBTYPES = {
    "stroke": (("ischemic", 0.80), ("ich", 0.13), ("sah", 0.07)),
    "heart_failure": (("hf", 1.0),),
    "cancer": (("solid", 0.62), ("metastatic", 0.23), ("hematologic", 0.15)),
}
SNOMED_ONLY_SHARE = 0.15


@dataclass(frozen=True)
class CohortModel:
    """Knobs of one cohort (or subtype): age, death, length of stay, palliative referral."""

    age_mean: float
    p_die: float  # would die within the model horizon if follow-up were long enough
    death_mean_days: float  # mean time index -> death among those who die
    los_median: float  # days
    readmissions: tuple[float, ...]  # weights of 0, 1, 2, ... readmissions
    p_hospital_death: float
    p_referral_decedent: float
    p_referral_alive: float
    lag_median: float  # days referral -> death among referred decedents
    p_conversation: float  # primary-team conversation, independent of a palliative consult


# p_hospital_death is the chance of a terminal admission for a decedent not already in hospital; with
# the stays that run into death anyway about a quarter of decedents die in hospital (Teno et al. 2018).
COHORT_MODEL = {
    "solid": CohortModel(66, 0.55, 330, 5, (0.5, 0.35, 0.15), 0.10, 0.50, 0.22, 18, 0.22),
    "metastatic": CohortModel(65, 0.75, 170, 5, (0.45, 0.35, 0.2), 0.10, 0.55, 0.30, 15, 0.28),
    "hematologic": CohortModel(63, 0.55, 280, 6, (0.4, 0.4, 0.2), 0.22, 0.35, 0.15, 7, 0.15),
    "hf": CohortModel(73, 0.58, 320, 4.5, (0.35, 0.3, 0.2, 0.15), 0.08, 0.30, 0.10, 5, 0.12),
    "stroke": CohortModel(71, 0.50, 260, 4, (0.75, 0.25), 0.08, 0.38, 0.20, 2.5, 0.10),
    "control": CohortModel(58, 0.12, 400, 3.5, (0.8, 0.2), 0.12, 0.03, 0.01, 3, 0.02),
}


@dataclass(eq=False)  # identity semantics: plans refer to each other and key the fullUrl map
class Stay:
    """An Encounter: an admission, a clinic visit or a palliative consult."""

    start: datetime
    end: datetime | None  # None: still in hospital at the cut-off
    unit: Unit
    clinician: Clinician
    inpatient: bool = True
    disposition: str | None = None  # discharge-disposition code
    referral: Referral | None = None  # set on a palliative consult
    part_of: Stay | None = None  # a consult inside an admission
    emergency: bool = False  # an emergency department visit (class EMER)
    # Where the patient was, in order, when the stay moved between units (e.g. ward, then ICU);
    # empty: the whole stay at ``unit``.
    segments: list[Segment] = field(default_factory=list)

    @property
    def places(self) -> list[Segment]:
        return self.segments or [Segment(self.unit, self.start, self.end)]


@dataclass(frozen=True)
class Segment:
    """Part of a stay spent at one unit (an Encounter.location entry with its own period)."""

    unit: Unit
    start: datetime
    end: datetime | None


@dataclass(eq=False)
class Hospice:
    """A hospice enrolment (an EpisodeOfCare typed hospice care); ends at death or is still open."""

    start: datetime
    end: datetime | None


@dataclass(eq=False)
class CareProcedure:
    """Chemotherapy or a life-sustaining treatment (a completed Procedure)."""

    kind: str  # chemotherapy, cpr, ventilation or intubation (codes.CARE_EVENT_PROCEDURES values)
    when: datetime
    stay: Stay | None


@dataclass(eq=False)
class Diagnosis:
    cohort: str  # a cohort name, or "other"
    coding: tuple[str, str, str]  # system, code, display
    onset: datetime
    stay: Stay | None


@dataclass(eq=False)
class Referral:
    authored: datetime
    stay: Stay | None
    requester: Clinician
    reason: Diagnosis | None
    code: str
    completed: bool = False


@dataclass(eq=False)
class Talk:
    start: datetime
    stay: Stay | None
    clinician: Clinician
    unit: Unit | None
    qi: bool
    near_death: bool
    # Filled in by ``sicdoc.sample.end_of_life``: what the conversation documented, and its length.
    answers: dict[str, Answer] = field(default_factory=dict)
    duration: int = 30


@dataclass
class PatientPlan:
    index: int
    mrn: str
    site: Site
    gender: str
    birth_date: date
    given: str
    family: str
    race: tuple[str, str, str, float]
    ethnicity: tuple[str, str, str, float]
    language: str
    cohorts: list[str]
    subtype: str  # ischemic, ich, sah, hf, solid, metastatic, hematologic or control
    model: str  # key of COHORT_MODEL driving this patient's course
    home_unit: Unit
    first_dx: datetime
    death: datetime | None
    diagnoses: list[Diagnosis] = field(default_factory=list)
    stays: list[Stay] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    talks: list[Talk] = field(default_factory=list)
    hospice: list[Hospice] = field(default_factory=list)
    procedures: list[CareProcedure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def primary(self) -> str:
        return self.cohorts[0] if self.cohorts else "control"


def pick(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in pairs)
    for value, weight in pairs:
        x -= weight
        if x < 0:
            return value
    return pairs[-1][0]


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def plan_person(rng: random.Random, index: int, seed: int, as_of: date) -> PatientPlan:
    """Demographics, cohorts, first diagnosis and death; the course is added by ``course``."""
    site = rng.choices(catalog.SITES, catalog.SITE_WEIGHTS)[0]
    cohorts: list[str] = []
    subtype = "control"
    if rng.random() >= CONTROL_SHARE:
        primary = pick(rng, tuple(PRIMARY_WEIGHTS.items()))
        cohorts.append(primary)
        subtype = pick(rng, SUBTYPES[primary])
        if rng.random() < SECOND_COHORT_SHARE:
            others = tuple((c, w) for c, w in PRIMARY_WEIGHTS.items() if c != primary)
            cohorts.append(pick(rng, others))
    model_key = "stroke" if subtype in ("ischemic", "ich", "sah") else subtype
    model = COHORT_MODEL[model_key]
    days = (as_of - PERIOD_START).days
    first_day = PERIOD_START + timedelta(days=rng.randrange(days))
    first_dx = datetime.combine(first_day, datetime.min.time()) + timedelta(minutes=rng.randrange(24 * 60))
    age = min(100, max(18, round(rng.gauss(model.age_mean, 12))))
    birth = first_day - timedelta(days=age * 365 + rng.randrange(365))
    gender = "female" if rng.random() < 0.5 else "male"
    if rng.random() < 0.004:
        gender = "unknown"
    race = rng.choices(catalog.RACES, [r[3] for r in catalog.RACES])[0]
    ethnicity = rng.choices(catalog.ETHNICITIES, [e[3] for e in catalog.ETHNICITIES])[0]
    language = _language(rng, race[1], ethnicity[1])
    names = catalog.FEMALE_NAMES if gender == "female" else catalog.MALE_NAMES
    unit_code = pick(rng, catalog.UNIT_BY_COHORT[cohorts[0] if cohorts else "control"])
    death = _death(rng, model_key, model, first_dx, as_of)
    return PatientPlan(
        index=index,
        mrn=f"{seed}-{index:07d}",
        site=site,
        gender=gender,
        birth_date=birth,
        given=rng.choice(names),
        family=rng.choice(catalog.FAMILY_NAMES),
        race=race,
        ethnicity=ethnicity,
        language=language,
        cohorts=cohorts,
        subtype=subtype,
        model=model_key,
        home_unit=catalog.UNITS[(site.code, unit_code)],
        first_dx=first_dx,
        death=death,
    )


def _language(rng: random.Random, race: str, ethnicity: str) -> str:
    x = rng.random()
    if ethnicity == "2135-2":
        return "es" if x < 0.55 else "en"
    if race == "2028-9":
        return "zh" if x < 0.3 else "vi" if x < 0.5 else "en"
    return "ar" if x < 0.015 else "ru" if x < 0.03 else "pt" if x < 0.04 else "en"


def _death(
    rng: random.Random, key: str, model: CohortModel, first_dx: datetime, as_of: date
) -> datetime | None:
    if rng.random() >= model.p_die:
        return None
    # A third of stroke deaths happen within days of the stroke, during the first admission.
    if key == "stroke" and rng.random() < 0.35:
        days = rng.uniform(0.3, 8)
    else:
        days = rng.expovariate(1 / model.death_mean_days)
    death = first_dx + timedelta(days=max(days, 0.1))
    return death if death.date() <= as_of else None
