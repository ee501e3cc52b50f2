"""The per-cohort patient tables every panel reads, computed once per request scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.inpatient import INPATIENT_COHORTS, admission_table
from sicdoc.analytics.intervals import decedents
from sicdoc.analytics.lookforward import HORIZONS, incidence, lookforward_table
from sicdoc.analytics.metrics import build_report, tally
from sicdoc.analytics.quality import flag_rows
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.suppression import MIN_CELL

CURVE_STEP = 30
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

    def look(self, cohort: str) -> pd.DataFrame:
        key = ("look", cohort)
        if key not in self._cache:
            self._cache[key] = lookforward_table(
                self.data, cohort, as_of=self.scope.as_of, where=self.scope.where
            )
        return self._cache[key]

    def dead(self, cohort: str) -> pd.DataFrame:
        key = ("dead", cohort)
        if key not in self._cache:
            self._cache[key] = decedents(self.data, cohort, self.scope.where)
        return self._cache[key]

    def admissions(self, cohort: str) -> pd.DataFrame:
        key = ("admissions", cohort)
        if key not in self._cache:
            self._cache[key] = admission_table(
                self.data, cohort, as_of=self.scope.as_of, where=self.scope.where
            )
        return self._cache[key]

    def incidence(self, cohort: str, measure: str) -> dict:
        """Cumulative incidence of ``measure`` ("referral" or "sic") at every day the dashboard
        shows: the curve's grid and the report's horizons, estimated once for both."""
        key = ("incidence", cohort, measure)
        if key not in self._cache:
            days = set(GRID_DAYS[measure]) | set(HORIZONS[measure])
            self._cache[key] = incidence(self.look(cohort), measure, days)
        return self._cache[key]

    @property
    def inpatient_cohorts(self) -> list[str]:
        return [c for c in self.scope.cohorts if c in INPATIENT_COHORTS]

    @cached_property
    def report(self) -> dict:
        """The suppressed metrics report of the scope, the one ``compute_metrics`` builds, from the
        tables the panels already computed."""
        s = self.scope
        flags = flag_rows(self.data)
        return build_report(
            s.cohorts,
            lambda cohort: self._counts(cohort, flags),
            as_of=s.as_of,
            value_set_version=self.value_set_version,
            suppress=True,
            min_cell=self.min_cell,
            where=self.scope.where,
        )

    def _counts(self, cohort: str, flags: pd.DataFrame) -> dict:
        return tally(
            cohort,
            look=self.look(cohort),
            dead=self.dead(cohort),
            admissions=self.admissions(cohort) if cohort in INPATIENT_COHORTS else None,
            referral_cif={h: self.incidence(cohort, "referral")[h] for h in HORIZONS["referral"]},
            sic_cif={h: self.incidence(cohort, "sic")[h] for h in HORIZONS["sic"]},
            flags=flags,
            where=self.scope.where,
        )
