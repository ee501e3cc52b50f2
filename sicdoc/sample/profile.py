"""Shape of a generated population, read back from its bundles as a loader would see them.

An independent check of the generator (and a reference for the analytics tests): cohorts come from
the value sets, intervals are whole calendar days between dates as written (DESIGN.md section 5).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sicdoc import codes, valuesets

CONSULT_CODE = "713281006"


@dataclass
class CohortProfile:
    patients: int = 0
    decedents: int = 0
    referred_decedents: int = 0
    days_referral_to_death: list[int] = field(default_factory=list)

    @property
    def pct_decedents_referred(self) -> float:
        return 100.0 * self.referred_decedents / self.decedents if self.decedents else 0.0

    @property
    def median_referral_to_death(self) -> float | None:
        days = self.days_referral_to_death
        return statistics.median(days) if days else None


@dataclass
class PopulationProfile:
    cohorts: dict[str, CohortProfile]
    patients: int = 0
    bundles: int = 0
    controls: int = 0
    two_or_more_cohorts: int = 0
    duplicate_bundles: int = 0
    referrals: int = 0
    referrals_after_death: int = 0
    consults: int = 0
    consults_before_referral: int = 0
    snomed_only_conditions: int = 0
    cohort_conditions: int = 0
    stroke_admissions: int = 0
    stroke_admissions_with_consult: int = 0
    conversations: int = 0
    care_procedures: int = 0  # chemotherapy and life-sustaining treatment
    types: Counter[str] = field(default_factory=Counter)


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value and len(value) >= 10 else None


def profile(bundles: Iterable[dict[str, Any]]) -> PopulationProfile:
    """Count cohorts, deaths, referrals and known data problems over patient bundles."""
    sets = valuesets.load()
    out = PopulationProfile(cohorts={c: CohortProfile() for c in valuesets.COHORTS})
    seen: set[str] = set()
    for bundle in bundles:
        out.bundles += 1
        resources = [e["resource"] for e in bundle["entry"]]
        patient = next(r for r in resources if r["resourceType"] == "Patient")
        mrn = patient["identifier"][0]["value"]
        if mrn in seen:
            out.duplicate_bundles += 1
            continue
        seen.add(mrn)
        out.patients += 1
        out.types.update(r["resourceType"] for r in resources)
        _one_patient(out, sets, patient, resources, {e["fullUrl"]: e["resource"] for e in bundle["entry"]})
    return out


def _one_patient(
    out: PopulationProfile, sets: Any, patient: dict, resources: list[dict], by_url: dict
) -> None:
    death = _day(patient.get("deceasedDateTime"))
    cohorts: set[str] = set()
    stroke_encounters: set[str] = set()
    for r in resources:
        if r["resourceType"] != "Condition":
            continue
        for system, code in codes.codings(r["code"]):
            matches = sets.classify(system, code)
            if matches:
                out.cohort_conditions += 1
                out.snomed_only_conditions += system == codes.SNOMED
            for match in matches:
                cohorts.add(match.cohort)
                if match.cohort == "stroke" and "encounter" in r:
                    stroke_encounters.add(r["encounter"]["reference"])
    referral_days = sorted(
        d
        for r in resources
        if r["resourceType"] == "ServiceRequest"
        and any(c in codes.PALLIATIVE_REFERRAL_CODES for _, c in codes.codings(r["code"]))
        and (d := _day(r.get("authoredOn"))) is not None
    )
    out.referrals += len(referral_days)
    if death is not None:
        out.referrals_after_death += sum(d > death for d in referral_days)
    consulted: set[str] = set()
    for r in resources:
        if r["resourceType"] == "Encounter" and any(
            c == CONSULT_CODE for _, c in codes.codings(r.get("type", []))
        ):
            out.consults += 1
            if "partOf" in r:
                consulted.add(r["partOf"]["reference"])
            for based in r.get("basedOn", ()):
                referral = by_url.get(based["reference"], {})
                if r["period"]["start"] < referral.get("authoredOn", ""):
                    out.consults_before_referral += 1
        elif r["resourceType"] == "Procedure" and codes.is_conversation(r):
            out.conversations += 1
        elif r["resourceType"] == "Procedure" and any(
            c in codes.CARE_EVENT_PROCEDURES for _, c in codes.codings(r.get("code"))
        ):
            out.care_procedures += 1
    if "stroke" in cohorts:
        out.stroke_admissions += len(stroke_encounters)
        out.stroke_admissions_with_consult += len(stroke_encounters & consulted)
    if not cohorts:
        out.controls += 1
    out.two_or_more_cohorts += len(cohorts) > 1
    for cohort in cohorts:
        cp = out.cohorts[cohort]
        cp.patients += 1
        if death is None:
            continue
        cp.decedents += 1
        if referral_days:
            cp.referred_decedents += 1
            cp.days_referral_to_death.append((death - referral_days[0]).days)
