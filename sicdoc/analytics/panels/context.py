"""The per-cohort patient tables every panel reads, computed once per request scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.incidence import cumulative_incidence
from sicdoc.analytics.inpatient import INPATIENT_COHORTS, admission_table, timeliness_counts
from sicdoc.analytics.intervals import conversation_before_death, decedents, referral_to_death
from sicdoc.analytics.lookforward import (
    REFERRAL_HORIZONS,
    SIC_HORIZONS,
    lookforward_table,
    median_days_to_referral,
    referred_days,
)
from sicdoc.analytics.metrics import present
from sicdoc.analytics.quality import cohort_flags, count_flags, flag_rows
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.suppression import MIN_CELL

CURVE_STEP = 30
HORIZONS = {"referral": REFERRAL_HORIZONS, "sic": SIC_HORIZONS}
# The curves are drawn every CURVE_STEP days up to the last horizon.
GRID_DAYS = {m: tuple(range(0, h[-1] + 1, CURVE_STEP)) for m, h in HORIZONS.items()}


@dataclass
class PanelContext:
    """Normalised, cut frames plus lazily built look-forward, decedent and admission tables."""

    frames: Frames
    scope: Scope
    value_set_version: str
    min_cell: int = MIN_CELL
    # How clinicians are named in the funnel by clinician (never by a resource id).
    clinicians: ClinicianLabels = field(default_factory=ClinicianLabels)
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def data(self) -> Frames:
        return self.frames.normalised().observed(self.scope.as_of)

    @property
    def _where(self) -> dict:
        s = self.scope
        return {"period_from": s.period_from, "period_to": s.period_to, "site": s.site, "unit": s.unit}

    def look(self, cohort: str) -> pd.DataFrame:
        key = ("look", cohort)
        if key not in self._cache:
            self._cache[key] = lookforward_table(self.data, cohort, as_of=self.scope.as_of, **self._where)
        return self._cache[key]

    def dead(self, cohort: str) -> pd.DataFrame:
        key = ("dead", cohort)
        if key not in self._cache:
            self._cache[key] = decedents(self.data, cohort, **self._where)
        return self._cache[key]

    def admissions(self, cohort: str) -> pd.DataFrame:
        key = ("admissions", cohort)
        if key not in self._cache:
            self._cache[key] = admission_table(self.data, cohort, as_of=self.scope.as_of, **self._where)
        return self._cache[key]

    def incidence(self, cohort: str, measure: str) -> dict:
        """Cumulative incidence of ``measure`` ("referral" or "sic") at every day the dashboard
        shows: the curve's grid and the report's horizons, estimated once for both."""
        key = ("incidence", cohort, measure)
        if key not in self._cache:
            look = self.look(cohort)
            rows = look[look[f"{measure}_event"].notna()]
            data = pd.DataFrame(
                {"time": rows[f"{measure}_time"].astype(int), "event": rows[f"{measure}_event"].astype(int)}
            )
            self._cache[key] = cumulative_incidence(
                data, sorted(set(GRID_DAYS[measure]) | set(HORIZONS[measure]))
            )
        return self._cache[key]

    @property
    def inpatient_cohorts(self) -> list[str]:
        return [c for c in self.scope.cohorts if c in INPATIENT_COHORTS]

    @cached_property
    def report(self) -> dict:
        """The suppressed metrics report of the scope, the same as ``compute_metrics`` gives (a test
        holds them equal) but built from the tables the panels already computed."""
        s = self.scope
        report: dict = {
            "as_of": s.as_of.isoformat(),
            "period": {
                "from": s.period_from.isoformat() if s.period_from else None,
                "to": s.period_to.isoformat() if s.period_to else None,
            },
            "value_set_version": self.value_set_version,
            "filters": {"site": s.site, "unit": s.unit},
            "suppressed": True,
            "min_cell": self.min_cell,
            "cohorts": {},
        }
        flags = flag_rows(self.data)
        for cohort in s.cohorts:
            report["cohorts"][cohort] = present(self._counts(cohort, flags), min_cell=self.min_cell)
        return report

    def _counts(self, cohort: str, flags: pd.DataFrame) -> dict:
        # Mirrors metrics.cohort_counts over the cached tables.
        look, dead = self.look(cohort), self.dead(cohort)
        raw: dict = {
            "index_patients": len(look),
            "prior_referral": int(look["prior_referral"].sum()),
            "referral_cif": {h: self.incidence(cohort, "referral")[h] for h in REFERRAL_HORIZONS},
            "referred_patients": len(referred_days(look)),
            "median_days_index_to_referral": median_days_to_referral(look),
            **referral_to_death(dead),
            **conversation_before_death(dead),
            "prior_sic": int(look["prior_sic"].sum()),
            "sic_cif": {h: self.incidence(cohort, "sic")[h] for h in SIC_HORIZONS},
            "inpatient_timeliness": None,
        }
        raw["referral_cif_patients"] = raw["index_patients"] - raw["prior_referral"]
        raw["sic_cif_patients"] = raw["index_patients"] - raw["prior_sic"]
        patients = set(look["patient_id"]) | set(dead["patient_id"])
        if cohort in INPATIENT_COHORTS:
            admissions = self.admissions(cohort)
            raw["inpatient_timeliness"] = timeliness_counts(admissions)
            patients |= set(admissions["patient_id"])
        raw["data_quality"] = count_flags(cohort_flags(flags, cohort, patients, **self._where))
        return raw
