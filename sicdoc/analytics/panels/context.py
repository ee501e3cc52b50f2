"""The per-cohort patient tables every panel reads, computed once per request scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import pandas as pd

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.documentation import all_documentation, cohort_documentation, documentation_quality
from sicdoc.analytics.end_of_life import decedent_care
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.inpatient import INPATIENT_COHORTS, admission_table
from sicdoc.analytics.intervals import decedents
from sicdoc.analytics.lookforward import CURVE_DAYS, incidence, lookforward_table
from sicdoc.analytics.metrics import build_report, tally
from sicdoc.analytics.phases import Phase
from sicdoc.analytics.quality import flag_rows
from sicdoc.analytics.reach import ALL, reach_counts, reach_table
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.series import data_complete_through
from sicdoc.analytics.suppression import MIN_CELL


@dataclass
class PanelContext:
    """Normalised, cut frames plus lazily built look-forward, decedent and admission tables."""

    frames: Frames
    scope: Scope
    value_set_version: str
    min_cell: int = MIN_CELL
    # Programme phases of the dashboard: control charts restart their limits at each start.
    phases: tuple[Phase, ...] = ()
    # How clinicians are named in the funnel by clinician (never by a resource id).
    clinicians: ClinicianLabels = field(default_factory=ClinicianLabels)
    # The department (PractitionerRole specialty) of each recorded performer that has one.
    departments: Mapping[str, str] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @cached_property
    def data(self) -> Frames:
        return self.frames.normalised().observed(self.scope.as_of)

    @cached_property
    def data_through(self) -> date | None:
        """The last day with data up to the as-of date (windows close against it, not the as-of),
        at a month end like every suppressed answer."""
        return data_complete_through(self.data, whole_months=True)

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

    def reach(self, cohort: str) -> pd.DataFrame:
        """The M5 admissions table (``reach.reach_table``) of ``cohort``, or of everyone for "all"."""
        key = ("reach", cohort)
        if key not in self._cache:
            self._cache[key] = reach_table(self.data, cohort, as_of=self.scope.as_of, where=self.scope.where)
        return self._cache[key]

    def reach_counts(self, cohort: str) -> dict:
        """``reach.reach_counts`` of ``cohort``'s (or everyone's) table, for the report and the panel."""
        key = ("reach_counts", cohort)
        if key not in self._cache:
            self._cache[key] = reach_counts(self.reach(cohort), self.data_through)
        return self._cache[key]

    def eol(self, cohort: str) -> pd.DataFrame:
        """The ``end_of_life.decedent_care`` table of ``cohort`` (one row per decedent in the period)."""
        key = ("eol", cohort)
        if key not in self._cache:
            self._cache[key] = decedent_care(self.data, cohort, self.scope.where)
        return self._cache[key]

    def documentation(self, cohort: str) -> pd.DataFrame:
        """The scored conversations of ``cohort``'s members (``end_of_life.cohort_documentation``)."""
        key = ("documentation", cohort)
        if key not in self._cache:
            self._cache[key] = cohort_documentation(self.data, cohort, self.scope.where)
        return self._cache[key]

    def incidence(self, cohort: str, measure: str) -> dict:
        """Cumulative incidence of ``measure`` ("referral" or "sic") at every day the dashboard
        shows: the curve's grid and the report's horizons, estimated once for both."""
        key = ("incidence", cohort, measure)
        if key not in self._cache:
            self._cache[key] = incidence(self.look(cohort), measure, CURVE_DAYS[measure])
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
            data_through=self.data_through,
            reach=lambda: self.reach_counts(ALL),
            documentation=lambda: documentation_quality(all_documentation(self.data, self.scope.where)),
        )

    def _counts(self, cohort: str, flags: pd.DataFrame) -> dict:
        return tally(
            cohort,
            look=self.look(cohort),
            dead=self.dead(cohort),
            admissions=self.admissions(cohort) if cohort in INPATIENT_COHORTS else None,
            referral_cif=self.incidence(cohort, "referral"),
            sic_cif=self.incidence(cohort, "sic"),
            flags=flags,
            where=self.scope.where,
            reach=self.reach_counts(cohort),
            eol=self.eol(cohort),
            documentation=self.documentation(cohort),
        )
