"""The input frames: one per projection table, with the columns of ``sicdoc.models.projections``.

Analytics never reads the database; callers load the projection tables into DataFrames (any dtypes
pandas gives them) and ``Frames.normalised()`` coerces dates, instants and flags once, so every
module below can do date arithmetic without re-checking types.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date

import pandas as pd

PATIENT_COLUMNS = (
    "patient_id",
    "birth_date",
    "sex",
    "race",
    "ethnicity",
    "language",
    "deceased_date",
    "site",
)
DIAGNOSIS_COLUMNS = (
    "condition_id",
    "cohort",
    "patient_id",
    "code_system",
    "code",
    "subtype",
    "metastatic",
    "hematologic",
    "diagnosis_date",
    "encounter_id",
)
ENCOUNTER_COLUMNS = (
    "encounter_id",
    "patient_id",
    "class_code",
    "status",
    "admit_at",
    "admit_date",
    "discharge_at",
    "discharge_date",
    "site",
    "unit",
    "palliative",
)
REFERRAL_COLUMNS = (
    "service_request_id",
    "patient_id",
    "code",
    "status",
    "authored_at",
    "authored_date",
    "encounter_id",
    "requester_id",
    "site",
    "unit",
)
CONSULT_COLUMNS = (
    "encounter_id",
    "patient_id",
    "status",
    "start_at",
    "start_date",
    "referral_id",
    "site",
    "unit",
)
CONVERSATION_COLUMNS = (
    "procedure_id",
    "patient_id",
    "status",
    "performed_at",
    "performed_date",
    "clinician_id",
    "encounter_id",
    "site",
    "unit",
    "domains",
    "code_status",
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": PATIENT_COLUMNS,
    "diagnoses": DIAGNOSIS_COLUMNS,
    "encounters": ENCOUNTER_COLUMNS,
    "referrals": REFERRAL_COLUMNS,
    "consults": CONSULT_COLUMNS,
    "conversations": CONVERSATION_COLUMNS,
}
# Calendar dates stay calendar dates (datetime64 at midnight, no time zone): intervals are whole days
# between the dates as written in the record.
DATE_COLUMNS = {
    "patients": ("birth_date", "deceased_date"),
    "diagnoses": ("diagnosis_date",),
    "encounters": ("admit_date", "discharge_date"),
    "referrals": ("authored_date",),
    "consults": ("start_date",),
    "conversations": ("performed_date",),
}
INSTANT_COLUMNS = {
    "encounters": ("admit_at", "discharge_at"),
    "referrals": ("authored_at",),
    "consults": ("start_at",),
    "conversations": ("performed_at",),
}
FLAG_COLUMNS = {"diagnoses": ("metastatic", "hematologic"), "encounters": ("palliative",)}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with the expected columns of projection ``name``."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in COLUMNS[name]})


def as_dates(values: pd.Series) -> pd.Series:
    """Calendar dates as datetime64 (NaT for missing), whatever mix of date/str/None came in."""
    out = pd.to_datetime(values, errors="coerce")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    return out.dt.normalize()


def as_instants(values: pd.Series) -> pd.Series:
    """UTC instants; naive values are taken to be UTC already (the projections store UTC)."""
    return pd.to_datetime(values, errors="coerce", utc=True)


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole calendar days ``later - earlier`` (nullable Int64, negative kept: it is a flag)."""
    return (later - earlier).dt.days.astype("Int64")


def _normalise(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS[name] if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks columns {missing}")
    out = frame.loc[:, list(COLUMNS[name])].copy()
    for column in DATE_COLUMNS.get(name, ()):
        out[column] = as_dates(out[column])
    for column in INSTANT_COLUMNS.get(name, ()):
        out[column] = as_instants(out[column])
    for column in FLAG_COLUMNS.get(name, ()):
        out[column] = out[column].astype(object).where(out[column].notna(), False).astype(bool)
    # Identifiers are compared across frames, so one dtype for all of them.
    for column in out.columns:
        if column.endswith("_id"):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Frames:
    """The six projection tables an analytics run reads."""

    patients: pd.DataFrame = field(default_factory=lambda: empty_frame("patients"))
    diagnoses: pd.DataFrame = field(default_factory=lambda: empty_frame("diagnoses"))
    encounters: pd.DataFrame = field(default_factory=lambda: empty_frame("encounters"))
    referrals: pd.DataFrame = field(default_factory=lambda: empty_frame("referrals"))
    consults: pd.DataFrame = field(default_factory=lambda: empty_frame("consults"))
    conversations: pd.DataFrame = field(default_factory=lambda: empty_frame("conversations"))

    @classmethod
    def from_records(cls, **tables: list[dict]) -> Frames:
        """Build from lists of row dicts (missing columns become None), e.g. in tests or from SQL rows."""
        built = {}
        for name, rows in tables.items():
            if name not in COLUMNS:
                raise ValueError(f"unknown frame {name!r}")
            built[name] = pd.DataFrame(rows, columns=list(COLUMNS[name])) if rows else empty_frame(name)
        return cls(**built)

    def normalised(self) -> Frames:
        """A copy with dates as datetime64, instants as UTC, flags as bool and ids as objects."""
        return Frames(**{f.name: _normalise(f.name, getattr(self, f.name)) for f in fields(self)})

    def observed(self, as_of: date) -> Frames:
        """What was known at the end of ``as_of`` (normalised frames in, normalised frames out).

        Records dated after the cut-off are dropped and later deaths and discharges blanked, so a
        re-run with an old ``as_of`` reproduces the old report and nothing downstream sees the future.
        """
        cut = pd.Timestamp(as_of)
        end = as_instant_end(as_of)
        patients = self.patients.copy()
        patients["deceased_date"] = patients["deceased_date"].where(patients["deceased_date"] <= cut)
        encounters = self.encounters[~(self.encounters["admit_date"] > cut)].copy()
        late = encounters["discharge_at"] > end
        encounters.loc[late, ["discharge_at", "discharge_date"]] = pd.NaT
        return Frames(
            patients=patients,
            diagnoses=self.diagnoses[~(self.diagnoses["diagnosis_date"] > cut)],
            encounters=encounters,
            referrals=self.referrals[~(self.referrals["authored_date"] > cut)],
            consults=self.consults[~(self.consults["start_date"] > cut)],
            conversations=self.conversations[~(self.conversations["performed_date"] > cut)],
        )


def as_instant_end(day: date) -> pd.Timestamp:
    """The end of a calendar day as a UTC instant (the cut-off for hour-level measures)."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` that keeps the mapping's dtype (dates stay dates) even when empty."""
    if mapping.index.has_duplicates:
        mapping = mapping[~mapping.index.duplicated()]
    if len(mapping) == 0:  # Series.map casts an empty mapping to float, which dates refuse
        return pd.Series(
            pd.array([None] * len(keys), dtype=mapping.dtype), index=keys.index, name=mapping.name
        )
    return keys.map(mapping)
