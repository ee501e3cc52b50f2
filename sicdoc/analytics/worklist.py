"""Clinician worklist: living cohort patients who are due a serious illness conversation.

A patient is listed when, at the cut-off, they are alive and either
- ``no_sic_after_index``: 30 or more days have passed since their index diagnosis with no completed
  conversation on or after the index date, or
- ``no_sic_since_admission``: they had an inpatient admission (on or after index, in the last 30
  days) with no completed conversation on or after the admission date.
Order: patients in hospital now first, then those seen (any encounter, diagnosis or conversation) in
the last 90 days, then in the last year, then the rest; within each, by need (metastatic cancer, then
two or more heart-failure admissions in the last 365 days, then everyone else), then the most recently
seen first. A ward team works from the top: the patients it can talk to today.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd

from sicdoc.analytics.cohorts import check_cohorts, cohort_patients, conversation_rows
from sicdoc.analytics.frames import Frames, lookup
from sicdoc.analytics.inpatient import cohort_admissions, inpatient_encounters
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.tables import no_rows
from sicdoc.codes import COHORTS

INDEX_WAIT_DAYS = 30
ADMISSION_DAYS = 30
HF_WINDOW_DAYS = 365
PRIORITY_METASTATIC, PRIORITY_HF_READMITTED, PRIORITY_OTHER = 1, 2, 3
REASONS = ("no_sic_after_index", "no_sic_since_admission")
# The projection tables the rule reads. A chart's check and a write's patch read these rows alone: the
# other four (referrals, consults, care events, locations) were a sixth of a chart's page on PostgreSQL.
WORKLIST_TABLES = ("patients", "diagnoses", "encounters", "conversations")
# Recency groups of the default order: in hospital now, seen within 90 days, within a year, earlier.
IN_HOSPITAL, SEEN_RECENTLY, SEEN_THIS_YEAR, NOT_SEEN = 0, 1, 2, 3
RECENT_DAYS, YEAR_DAYS = 90, 365
# Stays still open at the cut-off when no discharge is recorded.
OPEN_STATUSES = ("planned", "arrived", "triaged", "in-progress", "onleave")
WORKLIST_COLUMNS = (
    "patient_id",
    "cohorts",
    "reason",
    "days_waiting",
    "priority",
    "days_since_index",
    "index_date",  # the earliest index date of a cohort that made the patient due after diagnosis
    "admit_date",  # the admission with no conversation since, for ``no_sic_since_admission``
    "in_hospital",
    "site_now",
    "unit_now",
    "last_contact",
    "recency",
)
# The columns of ``reasons``: why a patient is listed, without where they are and how soon to see them.
REASON_COLUMNS = (
    "patient_id",
    "cohorts",
    "reason",
    "days_waiting",
    "days_since_index",
    "index_date",
    "admit_date",
)
# Columns of a few distinct values, held as categories: every web worker holds the worklist it
# serves, and these strings, repeated on each of a million patients' 330,000 rows, were most of it.
CATEGORICAL = ("cohorts", "reason", "site_now", "unit_now")
# Columns of a few small numbers (1-3, 0-3), held in a byte each rather than eight: the worklist is
# held twice for a moment when a write's rows are put in place (4.4 MiB less each at a million).
SMALL = ("priority", "recency")


def worklist(
    frames: Frames,
    *,
    as_of: date,
    cohorts: list[str] | None = None,
    site: str | None = None,
    unit: str | None = None,
    index_wait_days: int = INDEX_WAIT_DAYS,
    admission_days: int = ADMISSION_DAYS,
) -> pd.DataFrame:
    """Patients due a conversation, most in need first (see the module docstring)."""
    data = frames.normalised().observed(as_of)
    cut = pd.Timestamp(as_of)
    out = _reasons(data, cut, check_cohorts(cohorts), site, unit, index_wait_days, admission_days)
    if out.empty:
        return compact(no_rows(WORKLIST_COLUMNS))
    hf = cohort_admissions(data, "heart_failure")
    hf = hf[(cut - hf["admit_date"]).dt.days < HF_WINDOW_DAYS]
    readmitted = set(hf.groupby("patient_id").size().loc[lambda n: n >= 2].index)
    out["priority"] = PRIORITY_OTHER
    out.loc[out["patient_id"].isin(readmitted), "priority"] = PRIORITY_HF_READMITTED
    out.loc[out["metastatic"], "priority"] = PRIORITY_METASTATIC
    out = _where_and_when(data, out, cut)
    out["patient_id"] = data.patient_ids(out["patient_id"])
    return ordered(out)


def reasons(frames: Frames, scope: Scope) -> pd.DataFrame:
    """Why each patient of a scope is due a conversation: the worklist's rows without the columns
    that place and order them, which a chart's banner does not show (a fifth less pandas work)."""
    data = frames.normalised().observed(scope.as_of)
    cohorts = check_cohorts(list(scope.cohorts))
    cut = pd.Timestamp(scope.as_of)
    out = _reasons(data, cut, cohorts, scope.site, scope.unit, INDEX_WAIT_DAYS, ADMISSION_DAYS)
    if out.empty:
        return no_rows(REASON_COLUMNS)
    out["patient_id"] = data.patient_ids(out["patient_id"])
    return out.loc[:, list(REASON_COLUMNS)]


def _reasons(
    data: Frames,
    cut: pd.Timestamp,
    cohorts: list[str],
    site: str | None,
    unit: str | None,
    index_wait_days: int,
    admission_days: int,
) -> pd.DataFrame:
    """One row per patient due a conversation (integer patient keys): cohorts, reason, days waiting
    and since the index diagnosis, the dates behind them, and whether a cancer is metastatic."""
    convs = conversation_rows(data)
    last_sic = convs.groupby("patient_id")["performed_date"].max()
    stays = inpatient_encounters(data).dropna(subset=["admit_date"])
    last_admit = stays.groupby("patient_id")["admit_date"].max()
    today = cut.to_datetime64()
    parts: list[dict[str, np.ndarray]] = []
    # Plain arrays, one row per patient and cohort with both reasons as flags: a chart checks its one
    # patient on every view, and each pandas step costs as much on one row as on thousands.
    for cohort in cohorts:
        pts = cohort_patients(data, cohort, site=site, unit=unit)
        pts = pts[pts["death_date"].isna().to_numpy()]
        index = pts["index_date"].to_numpy()
        sic = lookup(pts["patient_id"], last_sic).to_numpy()
        admit = lookup(pts["patient_id"], last_admit).to_numpy()
        since_index = _days(today - index)
        after_index = (since_index >= index_wait_days) & ~(sic >= index)
        admitted = admit >= index  # (False where there is no admission)
        since_admit = _days(today - np.where(admitted, admit, today))
        since_admission = admitted & (since_admit <= admission_days) & ~(sic >= admit)
        hit = after_index | since_admission
        waiting = np.maximum(np.where(after_index, since_index, 0), np.where(since_admission, since_admit, 0))
        parts.append(
            {
                "patient_id": pts["patient_id"].to_numpy()[hit],
                "cohort_bit": np.full(hit.sum(), 1 << COHORTS.index(cohort)),
                "reason_bits": (after_index * 1 + since_admission * 2)[hit],
                "days_waiting": waiting[hit],
                "days_since_index": since_index[hit],
                "metastatic": pts["metastatic"].to_numpy(dtype=bool)[hit] & (cohort == "cancer"),
                "index_date": np.where(after_index, index, NAT)[hit].astype(DATES),
                "admit_date": np.where(since_admission, admit, NAT)[hit].astype(DATES),
            }
        )
    found = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]} if parts else {}
    if not found or not len(found["patient_id"]):
        return pd.DataFrame()
    # Each patient's rows (one per cohort they are due in) as one, in order of patient key.
    order = np.argsort(found["patient_id"], kind="stable")
    found = {name: values[order] for name, values in found.items()}
    patients = found["patient_id"]
    starts = np.flatnonzero(np.r_[True, patients[1:] != patients[:-1]])
    return pd.DataFrame(
        {
            "patient_id": patients[starts],
            "days_waiting": pd.array(np.maximum.reduceat(found["days_waiting"], starts), dtype="Int64"),
            "days_since_index": np.maximum.reduceat(found["days_since_index"], starts),
            "metastatic": np.logical_or.reduceat(found["metastatic"], starts),
            "index_date": np.fmin.reduceat(found["index_date"], starts),  # (fmin and fmax pass over NaT)
            "admit_date": np.fmax.reduceat(found["admit_date"], starts),
            "cohorts": COHORT_LABELS[np.bitwise_or.reduceat(found["cohort_bit"], starts)],
            "reason": REASON_LABELS[np.bitwise_or.reduceat(found["reason_bits"], starts)],
        }
    )


def _days(spans: np.ndarray) -> np.ndarray:
    """Whole days of timedeltas (floored, as pandas' ``.dt.days``)."""
    return spans // np.timedelta64(1, "D")


NAT = np.datetime64("NaT")
DATES = "datetime64[ns]"  # the reasons' dates, as the worklists already stored have them


def _labels(order: Sequence[str]) -> np.ndarray:
    """The comma-joined label of every subset of ``order``, by the subset's bits."""
    return np.array(
        [",".join(v for i, v in enumerate(order) if mask >> i & 1) for mask in range(1 << len(order))],
        dtype=object,
    )


# A patient's cohorts and reasons are sets of bits, and their labels looked up: joining strings per
# patient cost most of the worklist's time with tens of thousands of patients.
COHORT_LABELS = _labels(COHORTS)
REASON_LABELS = _labels(REASONS)


def scoped(frames: Frames, scope: Scope) -> pd.DataFrame:
    """The worklist of a scope's cut-off, cohorts and place."""
    return worklist(frames, as_of=scope.as_of, cohorts=list(scope.cohorts), site=scope.site, unit=scope.unit)


def ordered(out: pd.DataFrame) -> pd.DataFrame:
    out = out.sort_values(
        ["recency", "priority", "last_contact", "patient_id"],
        ascending=[True, True, False, True],
        na_position="last",
    )
    return compact(out.loc[:, list(WORKLIST_COLUMNS)].reset_index(drop=True))


def compact(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype({column: "category" for column in CATEGORICAL} | dict.fromkeys(SMALL, "int8"))


def plain(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` of a worklist as pages show them: categories back to strings, and None where a
    value is missing (a category's missing value is NaN, which a template would print)."""
    out = rows.copy()
    for column in CATEGORICAL:
        values = out[column].astype(object)
        out[column] = values.where(values.notna(), None)
    return out


def _where_and_when(data: Frames, out: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """Where each patient is now (an open inpatient stay at the cut-off) and when they were last seen."""
    stays = inpatient_encounters(data)
    stays = stays[stays["admit_date"] <= cut]
    open_now = stays["discharge_date"] > cut
    open_now |= stays["discharge_date"].isna() & stays["status"].isin(OPEN_STATUSES)
    current = stays[open_now].sort_values("admit_date").drop_duplicates("patient_id", keep="last")
    current = current.set_index("patient_id")
    out["in_hospital"] = out["patient_id"].isin(current.index)
    for column in ("site", "unit"):
        place = lookup(out["patient_id"], current[column]).astype(object)
        out[f"{column}_now"] = place.where(place.notna(), None)
    seen = pd.concat(
        [
            data.encounters[["patient_id", "admit_date"]].set_axis(["patient_id", "day"], axis=1),
            data.diagnoses[["patient_id", "diagnosis_date"]].set_axis(["patient_id", "day"], axis=1),
            conversation_rows(data)[["patient_id", "performed_date"]].set_axis(["patient_id", "day"], axis=1),
        ],
        ignore_index=True,
    ).dropna()
    seen = seen[seen["day"] <= cut]
    out["last_contact"] = lookup(out["patient_id"], seen.groupby("patient_id")["day"].max())
    ago = (cut - out["last_contact"]).dt.days
    out["recency"] = NOT_SEEN
    out.loc[ago <= YEAR_DAYS, "recency"] = SEEN_THIS_YEAR
    out.loc[ago <= RECENT_DAYS, "recency"] = SEEN_RECENTLY
    out.loc[out["in_hospital"], "recency"] = IN_HOSPITAL
    return out
