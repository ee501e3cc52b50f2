"""Cohort value sets: which diagnosis codes put a patient in the stroke, heart-failure or cancer cohort.

The sets are versioned data files inside the package; every report names the version it used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sicdoc.codes import COHORTS, ICD10_WHO, ICD10CM, SNOMED
from sicdoc.errors import ConfigurationError
from sicdoc.schemas import Invalid, check
from sicdoc.schemas.valuesets import ValueSetFileSchema

DEFAULT_FILE = "cohorts-2026.1.json"


@dataclass(frozen=True)
class CohortMatch:
    cohort: str
    subtype: str | None
    metastatic: bool = False
    hematologic: bool = False


@dataclass(frozen=True)
class ValueSets:
    version: str
    data: dict[str, Any]

    def classify(self, system: str | None, code: str) -> list[CohortMatch]:
        """Every cohort one coding qualifies for (usually none, sometimes one)."""
        if system == SNOMED:
            return self._snomed(code)
        if system in (ICD10CM, ICD10_WHO):
            return self._icd(code, who=system == ICD10_WHO)
        return []

    def _snomed(self, code: str) -> list[CohortMatch]:
        out = []
        for cohort in COHORTS:
            subtype = self.data[cohort].get("snomed", {}).get(code)
            if subtype is not None:
                out.append(CohortMatch(cohort, subtype, subtype == "metastatic", subtype == "hematologic"))
        return out

    def _icd(self, code: str, who: bool) -> list[CohortMatch]:
        code = code.strip().upper()
        dotted = code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"
        category = dotted[:3]
        out = []
        stroke = self.data["stroke"]
        if category in stroke["icd10cm"]["include"]:
            out.append(CohortMatch("stroke", stroke["icd10cm"]["include"][category]))
        elif who and category in stroke.get("icd10_who_only", {}):
            out.append(CohortMatch("stroke", stroke["icd10_who_only"][category]))
        hf = self.data["heart_failure"]["icd10cm"]
        if dotted not in hf["exclude"] and any(
            dotted == prefix
            or dotted.startswith(prefix + ("" if "." in prefix else "."))
            or (dotted == category and prefix == category)
            for prefix in hf["include"]
        ):
            out.append(CohortMatch("heart_failure", "hf"))
        cancer = self.data["cancer"]["icd10cm"]
        if (
            category[0] == "C"
            and category not in cancer["exclude_categories"]
            and (
                category in cancer["extra_categories"]
                or any(lo <= category <= hi and category[1:].isdigit() for lo, hi in cancer["ranges"])
            )
        ):
            lo, hi = cancer["hematologic_range"]
            hematologic = category[1:].isdigit() and lo <= category <= hi
            metastatic = category in cancer["metastatic_categories"]
            subtype = "hematologic" if hematologic else "metastatic" if metastatic else "solid"
            out.append(CohortMatch("cancer", subtype, metastatic, hematologic))
        return out


class ValueSetError(ConfigurationError):
    """A value-set file that cannot be used; the message names the file and the field."""


@cache
def load(path: str | None = None) -> ValueSets:
    """The packaged value sets, or a site's own file (checked against ``ValueSetFileSchema``)."""
    name = Path(path).name if path else DEFAULT_FILE
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files(__package__).joinpath(DEFAULT_FILE).read_text(encoding="utf-8")
        raw = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueSetError(f"{name}: not readable JSON ({exc})") from None
    try:
        checked = check(ValueSetFileSchema(), raw)
    except Invalid as exc:
        raise ValueSetError(f"{name}: {exc}") from None
    return ValueSets(checked["version"], checked["cohorts"])


__all__ = ["COHORTS", "CohortMatch", "ValueSetError", "ValueSets", "load"]


ICU_FILE = "icu-2026.1.json"


@dataclass(frozen=True)
class IcuValueSet:
    """Location types that mark an intensive care unit, with the version reports name."""

    version: str
    codes: frozenset[tuple[str, str]]

    def is_icu(self, system: str | None, code: str) -> bool:
        return (system or "", code) in self.codes


@cache
def icu_value_set() -> IcuValueSet:
    """The ICU value set shipped with sicdoc (a versioned data file beside the cohort sets)."""
    raw = json.loads(resources.files(__package__).joinpath(ICU_FILE).read_text(encoding="utf-8"))
    return IcuValueSet(raw["version"], frozenset((c["system"], c["code"]) for c in raw["codes"]))
