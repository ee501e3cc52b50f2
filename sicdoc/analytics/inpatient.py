"""M4: palliative consult or completed conversation within 24/48/72 hours of a stroke or HF admission.

An admission is an inpatient encounter (class IMP, ACUTE or NONAC, not planned, cancelled or
entered in error, and not itself a palliative consult) that a cohort diagnosis names by encounter_id or that starts within one calendar
day of a cohort diagnosis date. Each admission counts (a patient can have several).

Opportunity-based denominator at hour N: the admission counts if the event already happened by
hour N, or else if the patient was still alive and in hospital at hour N and hour N is before the
cut-off. The death record only has a date, so a death on the calendar day of hour N counts as not
alive at hour N (conservative: it only removes admissions that were not done).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from sicdoc.analytics.cohorts import NOT_HAPPENED, consult_rows, conversation_rows, in_period, in_scope
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, as_instant_end, lookup
from sicdoc.analytics.quality import invalid_consults
from sicdoc.analytics.tables import NO_KEY
from sicdoc.codes import INPATIENT_CLASSES

HOURS = (24, 48, 72)
INPATIENT_COHORTS = ("stroke", "heart_failure")
LINK_DAYS = 1
ADMISSION_COLUMNS = (
    "encounter_id",
    "patient_id",
    "admit_at",
    "admit_date",
    "discharge_at",
    "site",
    "unit",
    "death_date",
)


def inpatient_encounters(frames: Frames) -> pd.DataFrame:
    """Inpatient stays that took place. A palliative consult recorded as an inpatient encounter is the
    event being timed, not a stay of its own."""
    enc = frames.encounters
    stays = enc["class_code"].isin(INPATIENT_CLASSES) & ~enc["status"].isin(NOT_HAPPENED)
    return enc[stays & ~enc["palliative"].astype(bool)]


def cohort_admissions(frames: Frames, cohort: str) -> pd.DataFrame:
    """Inpatient admissions linked to a diagnosis of ``cohort`` (diagnoses after death excluded)."""
    enc = inpatient_encounters(frames)
    deaths = frames.patients_by_id["deceased_date"]
    dx = frames.diagnoses[frames.diagnoses["cohort"] == cohort]
    dx = dx[~(dx["diagnosis_date"] > lookup(dx["patient_id"], deaths))]
    by_id = enc["encounter_id"].isin(set(dx["encounter_id"]) - {NO_KEY})
    pairs = enc[["encounter_id", "patient_id", "admit_date"]].merge(
        dx[["patient_id", "diagnosis_date"]].dropna(), on="patient_id"
    )
    near = pairs[(pairs["admit_date"] - pairs["diagnosis_date"]).abs() <= pd.Timedelta(days=LINK_DAYS)]
    linked = enc[by_id | enc["encounter_id"].isin(set(near["encounter_id"]))]
    out = linked.drop_duplicates("encounter_id").copy()
    out["death_date"] = pd.to_datetime(lookup(out["patient_id"], deaths))
    return out.loc[:, list(ADMISSION_COLUMNS)].reset_index(drop=True)


def first_event_hours(frames: Frames, admissions: pd.DataFrame) -> pd.Series:
    """Hours from admission to the first consult or completed conversation during the stay.

    Consults dated before their referral and conversations dated after death are flagged in
    quality.py and are not events.
    """
    consults = consult_rows(frames).drop(index=invalid_consults(frames), errors="ignore")
    convs = conversation_rows(frames)
    deaths = frames.patients_by_id["deceased_date"]
    convs = convs[~(convs["performed_date"] > lookup(convs["patient_id"], deaths))]
    events = pd.concat(
        [
            consults[["patient_id", "start_at"]].rename(columns={"start_at": "event_at"}),
            convs[["patient_id", "performed_at"]].rename(columns={"performed_at": "event_at"}),
        ],
        ignore_index=True,
    ).dropna()
    if admissions.empty or events.empty:
        return pd.Series(float("nan"), index=admissions.index, dtype=float)
    adm = admissions[["encounter_id", "patient_id", "admit_at", "discharge_at"]].reset_index()
    pairs = adm.merge(events, on="patient_id")
    during = (pairs["event_at"] >= pairs["admit_at"]) & ~(pairs["event_at"] > pairs["discharge_at"])
    pairs = pairs[during.fillna(False).astype(bool)]
    hours = (pairs["event_at"] - pairs["admit_at"]).dt.total_seconds() / 3600.0
    first = hours.groupby(pairs["index"]).min()
    return first.reindex(admissions.index).astype(float)


def timeliness(
    frames: Frames,
    cohort: str,
    *,
    as_of: date,
    where: Where = EVERYWHERE,
    hours: tuple[int, ...] = HOURS,
) -> dict[str, dict[str, int | float | None]]:
    """Per hour N: numerator (done by N), denominator (opportunity at N) and rate."""
    return timeliness_counts(admission_table(frames, cohort, as_of=as_of, where=where, hours=hours), hours)


def timeliness_counts(
    table: pd.DataFrame, hours: tuple[int, ...] = HOURS
) -> dict[str, dict[str, int | float | None]]:
    """Numerator, denominator and rate per hour from an ``admission_table``."""
    out = {}
    for n in hours:
        num, den = int(table[f"done_{n}h"].sum()), int(table[f"eligible_{n}h"].sum())
        out[str(n)] = {"numerator": num, "denominator": den, "rate": num / den if den else None}
    return out


def admission_table(
    frames: Frames,
    cohort: str,
    *,
    as_of: date,
    where: Where = EVERYWHERE,
    hours: tuple[int, ...] = HOURS,
) -> pd.DataFrame:
    """One row per admission in the period with ``done_{N}h`` and ``eligible_{N}h`` flags.

    Admissions without an admission instant cannot be timed and are left out.
    """
    adm = frames.memo(("timed_admissions", cohort), lambda: _timed_admissions(frames, cohort))
    adm = adm[in_period(adm["admit_date"], where.period_from, where.period_to)]
    adm = in_scope(adm, site=where.site, unit=where.unit).reset_index(drop=True)
    cut = as_instant_end(as_of)
    for n in hours:
        at_n = adm["admit_at"] + pd.Timedelta(hours=n)
        done = adm["hours_to_event"] <= n
        day_n = at_n.dt.tz_localize(None).dt.normalize()
        alive = adm["death_date"].isna() | (adm["death_date"] > day_n)
        in_hospital = adm["discharge_at"].isna() | (adm["discharge_at"] >= at_n)
        adm[f"done_{n}h"] = done.fillna(False).astype(bool)
        adm[f"eligible_{n}h"] = (done | (alive & in_hospital & (at_n <= cut))).fillna(False).astype(bool)
    return adm


def _timed_admissions(frames: Frames, cohort: str) -> pd.DataFrame:
    """The cohort's admissions with an admission instant and their ``hours_to_event``, which does
    not depend on the period or place asked for: built once per frames, each filter picks rows."""
    adm = cohort_admissions(frames, cohort)
    adm = adm[adm["admit_at"].notna()].reset_index(drop=True)
    adm["hours_to_event"] = first_event_hours(frames, adm)
    return adm
