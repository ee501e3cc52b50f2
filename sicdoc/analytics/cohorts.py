"""Who is in a cohort, their index date, where they are attributed, and their first referral/conversation.

All functions take normalised frames (``Frames.normalised().observed(as_of)``).

Attribution (for the optional site/unit filters): a patient's place in a cohort is the site and unit
of the encounter of their index diagnosis; when that diagnosis has no encounter (or the encounter no
site) the site falls back to ``patients.site``. One place per patient and cohort keeps every measure
of a cohort on the same population. Inpatient admissions (M4) are filtered by their own site/unit.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from sicdoc.analytics.frames import Frames, lookup
from sicdoc.codes import COHORTS

CONVERSATION_DONE = "completed"
REFERRAL_VOID = "entered-in-error"
# Encounter statuses of visits and stays that did not happen.
NOT_HAPPENED = frozenset({"planned", "cancelled", "entered-in-error"})
AGE_BANDS = ((18, "18-44"), (45, "45-64"), (65, "65-74"), (75, "75-84"), (85, "85+"))
STRATA = ("race", "ethnicity", "language", "sex", "age_band")

COHORT_COLUMNS = (
    "patient_id",
    "cohort",
    "index_date",
    "index_encounter_id",
    "site",
    "unit",
    "death_date",
    "metastatic",
    "birth_date",
    "sex",
    "race",
    "ethnicity",
    "language",
)


def check_cohorts(cohorts: list[str] | None) -> list[str]:
    """The requested cohorts in canonical order (all of them by default)."""
    if cohorts is None:
        return list(COHORTS)
    unknown = sorted(set(cohorts) - set(COHORTS))
    if unknown:
        raise ValueError(f"unknown cohorts {unknown}; expected some of {list(COHORTS)}")
    return [c for c in COHORTS if c in cohorts]


def dated_diagnoses(frames: Frames, cohort: str) -> pd.DataFrame:
    """Qualifying diagnoses of one cohort that have a date and are not dated after death.

    A diagnosis after death is a data-quality flag (see quality.py), never an index event.
    """
    dx = frames.diagnoses[(frames.diagnoses["cohort"] == cohort) & frames.diagnoses["diagnosis_date"].notna()]
    death = lookup(dx["patient_id"], frames.patients_by_id["deceased_date"])
    return dx[~(dx["diagnosis_date"] > death)]


def cohort_patients(
    frames: Frames, cohort: str, *, site: str | None = None, unit: str | None = None
) -> pd.DataFrame:
    """One row per patient of ``cohort``: index date, attribution, death and demographics."""
    # Several measures of one cohort start from the same patients.
    table = frames.memo(
        ("cohort_patients", cohort, site, unit), lambda: _cohort_patients(frames, cohort, site, unit)
    )
    return table.copy(deep=False)


def _cohort_patients(frames: Frames, cohort: str, site: str | None, unit: str | None) -> pd.DataFrame:
    dx = dated_diagnoses(frames, cohort)
    if dx.empty:
        dtypes = {
            "patient_id": "int64",
            "index_date": "datetime64[s]",
            "death_date": "datetime64[s]",
            "birth_date": "datetime64[s]",
            "metastatic": "bool",
        }
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "object")) for c in COHORT_COLUMNS})
    # Ties on the index date: the lowest condition id, so the attribution is reproducible.
    first = dx.sort_values(["patient_id", "diagnosis_date", "condition_id"]).drop_duplicates("patient_id")
    out = first[["patient_id", "diagnosis_date", "encounter_id"]].rename(
        columns={"diagnosis_date": "index_date", "encounter_id": "index_encounter_id"}
    )
    out.insert(1, "cohort", cohort)
    out["site"], out["unit"] = attribution(frames, out["index_encounter_id"], out["patient_id"])
    # Any of the patient's diagnoses metastatic (a membership test: a group-by and a merge cost a
    # chart's check ten times as much on its one patient).
    out["metastatic"] = out["patient_id"].isin(dx.loc[dx["metastatic"], "patient_id"].unique())
    # One look-up for every column: a step each cost a chart's check a fifth of this function.
    people = frames.patients_by_id.reindex(out["patient_id"].to_numpy(), columns=list(DEMOGRAPHICS.values()))
    people.index = out.index
    for column, source in DEMOGRAPHICS.items():
        out[column] = people[source]
    out["death_date"] = pd.to_datetime(out["death_date"])
    out["birth_date"] = pd.to_datetime(out["birth_date"])
    return in_scope(out, site=site, unit=unit).reset_index(drop=True)


DEMOGRAPHICS = {
    "death_date": "deceased_date",
    "birth_date": "birth_date",
    "sex": "sex",
    "race": "race",
    "ethnicity": "ethnicity",
    "language": "language",
}


def attribution(
    frames: Frames, encounter_ids: pd.Series, patient_ids: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Site and unit of each row's encounter; the site falls back to the patient's own site."""
    enc, pts = frames.encounters_by_id, frames.patients_by_id
    site = lookup(encounter_ids, enc["site"])
    site = site.where(site.notna(), lookup(patient_ids, pts["site"]))
    return site, lookup(encounter_ids, enc["unit"])


def in_scope(frame: pd.DataFrame, *, site: str | None, unit: str | None) -> pd.DataFrame:
    """Rows whose ``site``/``unit`` columns match the filters (None = no filter)."""
    keep = pd.Series(True, index=frame.index)
    if site is not None:
        keep &= frame["site"] == site
    if unit is not None:
        keep &= frame["unit"] == unit
    return frame[keep]


def in_period(dates: pd.Series, period_from: date | None, period_to: date | None) -> pd.Series:
    """Boolean mask of dates within [from, to], either end open when None."""
    keep = dates.notna()
    if period_from is not None:
        keep &= dates >= pd.Timestamp(period_from)
    if period_to is not None:
        keep &= dates <= pd.Timestamp(period_to)
    return keep


def referral_rows(frames: Frames) -> pd.DataFrame:
    """Palliative referrals that count: every status except entered-in-error, with a date."""
    ref = frames.referrals
    return frames.memo(
        "referral_rows", lambda: ref[(ref["status"] != REFERRAL_VOID) & ref["authored_date"].notna()]
    )


def conversation_rows(frames: Frames) -> pd.DataFrame:
    """Completed conversations with a date."""
    conv = frames.conversations
    return frames.memo(
        "conversation_rows",
        lambda: conv[(conv["status"] == CONVERSATION_DONE) & conv["performed_date"].notna()],
    )


def first_referral_dates(frames: Frames) -> pd.Series:
    """Each patient's first palliative referral date (index patient_id)."""
    return frames.memo("first_referral", lambda: first_dates(referral_rows(frames), "authored_date"))


def first_dates(rows: pd.DataFrame, date_column: str) -> pd.Series:
    """Earliest date per patient (index patient_id)."""
    return rows.groupby("patient_id")[date_column].min()


def first_on_or_after(rows: pd.DataFrame, date_column: str, anchors: pd.Series) -> pd.Series:
    """Per patient, the earliest date on or after that patient's anchor date (anchors by patient_id)."""
    anchor = lookup(rows["patient_id"], anchors)
    later = rows[rows[date_column] >= anchor]
    return later.groupby("patient_id")[date_column].min()


def first_on_or_before(rows: pd.DataFrame, date_column: str, limits: pd.Series) -> pd.Series:
    """Per patient, the earliest date on or before that patient's limit date (e.g. death)."""
    limit = lookup(rows["patient_id"], limits)
    earlier = rows[rows[date_column] <= limit]
    return earlier.groupby("patient_id")[date_column].min()


def age_years(birth: pd.Series, on: pd.Series) -> pd.Series:
    """Completed years of age on a date (nullable)."""
    years = on.dt.year - birth.dt.year
    before_birthday = (on.dt.month < birth.dt.month) | (
        (on.dt.month == birth.dt.month) & (on.dt.day < birth.dt.day)
    )
    return (years - before_birthday.astype(int)).astype("Int64")


def age_band(age: pd.Series) -> pd.Series:
    """Age bands 18-44 / 45-64 / 65-74 / 75-84 / 85+; "<18" and "unknown" are kept visible."""
    out = pd.Series("unknown", index=age.index, dtype=object)
    out[age.notna() & (age < AGE_BANDS[0][0])] = "<18"
    for low, label in AGE_BANDS:
        out[age.notna() & (age >= low)] = label
    return out


def consult_rows(frames: Frames) -> pd.DataFrame:
    """Palliative consults that took place (not planned, cancelled or entered in error)."""
    cons = frames.consults
    return cons[~cons["status"].isin(NOT_HAPPENED)]
