"""M5 reach and timeliness (CAPC registry, PCQN): penetration and hours to the first palliative consult.

All functions take normalised frames cut at the as-of date (``Frames.normalised().observed(as_of)``).

Admissions: inpatient encounters (class IMP, ACUTE or NONAC; not planned, cancelled or entered in
error) with an admission instant, that are not themselves a palliative consult encounter, of patients
not known to be under 18 on the admission date (CAPC counts adult admissions; an unknown birth date
is kept). Each admission counts once; the period, site and unit apply to the admission (its date and
its own site and unit). A cohort's admissions are those of patients whose first qualifying diagnosis
of the cohort is dated on or before the day the stay ended (or the stay is still open).

Initial consult of an admission: its first palliative consult (any status but planned, cancelled or
entered in error) starting at or after the admission instant and, when the stay has ended, at or
before the discharge instant. A consult before the admission belongs to no admission (a stay is never
given a negative time); consults after discharge likewise. A patient seen in an earlier stay has an
initial consult again in a later stay (CAPC counts initial consults per hospitalisation).

Penetration (CAPC): unique patients with an initial consult during an admission in the group (period,
month, site, unit) / admissions in that group. A patient with two consulted admissions in one month
counts once above and twice below.

Admission -> consult hours: per admission with an initial consult, hours from the admission instant to
the consult's start. Referral -> consult hours: per initial consult, hours from its referral's
authored instant (the consult's own referral, or else the patient's latest palliative referral
authored at or before the consult) to the consult's start; a consult that started before its own
referral is a data-quality flag and left out (never clipped to zero); a consult with no referral is
left out. Both are statistics among admissions that had a consult by the cut-off: admissions without
one are not censored times but simply not in them (they are in the penetration denominator).

Median and quartiles: linear interpolation between order statistics (numpy's default, Hyndman and
Fan type 7); the median of an even count is the mean of the two middle values.

Monthly series are by month of admission. A month is complete when it ended on or before the last
day with data and every admission in it ended (discharge) on or before that day: until then a
consult may still come and change the month's numerator and hours.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from sicdoc.analytics.cohorts import (
    age_years,
    cohort_patients,
    consult_rows,
    in_period,
    in_scope,
    referral_rows,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, lookup
from sicdoc.analytics.inpatient import inpatient_encounters
from sicdoc.analytics.series import month_of
from sicdoc.analytics.suppression import is_small, suppress_count, suppress_proportions
from sicdoc.analytics.tables import STAY_COLUMNS, no_rows

ADULT_AGE = 18
HOUR_DECIMALS = 2
RATE_DECIMALS = 4
# The margin row of a monthly table: the whole period (never a "YYYY-MM").
PERIOD_ROW = "period"
ALL = "all"
REACH_COLUMNS = (
    "encounter_id",
    "patient_id",
    *STAY_COLUMNS,
    "month",
    "consult_at",
    "admission_to_consult_hours",
    "referral_at",
    "referral_to_consult_hours",
)
HOURS_KEYS = ("median", "q1", "q3", "n")
HOUR_MEASURES = ("admission_to_consult_hours", "referral_to_consult_hours")


def adult_admissions(frames: Frames) -> pd.DataFrame:
    """Inpatient admissions that took place, with an admission instant, that are not a palliative
    consult encounter, of patients not known to be under 18 on the admission date (read once per
    frames, by ``reach_table``'s rows)."""
    enc = inpatient_encounters(frames)
    enc = enc[~enc["palliative"] & enc["admit_at"].notna()]
    births = lookup(enc["patient_id"], frames.patients_by_id["birth_date"])
    age = age_years(pd.to_datetime(births), enc["admit_date"])
    return enc[~(age < ADULT_AGE).fillna(False).astype(bool)].drop_duplicates("encounter_id")


def _of_cohort(frames: Frames, adm: pd.DataFrame, cohort: str | None) -> np.ndarray:
    """Which admissions of ``adm`` are ``cohort``'s (every one for None or "all")."""
    if cohort is None or cohort == ALL:
        return np.ones(len(adm), dtype=bool)
    index = cohort_patients(frames, cohort).set_index("patient_id")["index_date"]
    first_dx = lookup(adm["patient_id"], index)
    ended = adm["discharge_date"]
    known = first_dx.notna() & (ended.isna() | (first_dx <= ended))
    return known.fillna(False).to_numpy(dtype=bool)


def reach_table(
    frames: Frames, cohort: str | None, *, as_of: date, where: Where = EVERYWHERE
) -> pd.DataFrame:
    """One row per admission in the period and scope (``REACH_COLUMNS``): its month, its initial
    consult (``consult_at`` NaT when none), the hours from admission and from referral to it."""
    rows = frames.memo("reach_rows", lambda: _reach_rows(frames))
    keep = _of_cohort(frames, rows, cohort) & (rows["admit_date"] <= pd.Timestamp(as_of)).to_numpy()
    keep &= in_period(rows["admit_date"], where.period_from, where.period_to).to_numpy()
    return in_scope(rows[keep], site=where.site, unit=where.unit).reset_index(drop=True)


def _reach_rows(frames: Frames) -> pd.DataFrame:
    """``reach_table``'s columns for every adult admission. What an admission's row holds does not
    depend on the period or the cohort asked for: built once per frames, each filter picks rows."""
    out = adult_admissions(frames).reset_index(drop=True)
    out = out.loc[:, [c for c in REACH_COLUMNS if c in out.columns]]
    # A few hundred places among a million admissions: the panel's breakdowns group by their codes.
    out[["site", "unit"]] = out[["site", "unit"]].astype("category")
    out["month"] = month_of(out["admit_date"])
    first = _initial_consults(frames, out)
    out["consult_at"] = first["start_at"]
    out["admission_to_consult_hours"] = _hours(out["consult_at"], out["admit_at"])
    out["referral_at"] = first["referral_at"]
    hours = _hours(out["consult_at"], out["referral_at"])
    out["referral_to_consult_hours"] = hours.where(hours >= 0)
    return out.loc[:, list(REACH_COLUMNS)]


def _hours(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return ((later - earlier).dt.total_seconds() / 3600.0).astype(float)


def _initial_consults(frames: Frames, adm: pd.DataFrame) -> pd.DataFrame:
    """Per admission row: the first consult's ``start_at`` and its referral instant (NaT if none)."""
    empty = pd.DataFrame(
        {"start_at": pd.Series(pd.NaT, index=adm.index, dtype="datetime64[ns, UTC]")}
        | {"referral_at": pd.Series(pd.NaT, index=adm.index, dtype="datetime64[ns, UTC]")}
    )
    consults = consult_rows(frames)
    consults = consults[consults["start_at"].notna()]
    if adm.empty or consults.empty:
        return empty
    stays = adm[["patient_id", "admit_at", "discharge_at"]].reset_index()
    pairs = stays.merge(
        consults[["patient_id", "start_at", "referral_id"]].reset_index(names="consult_row"), on="patient_id"
    )
    during = (pairs["start_at"] >= pairs["admit_at"]) & ~(pairs["start_at"] > pairs["discharge_at"])
    pairs = pairs[during.fillna(False).astype(bool)]
    # Ties on the start instant: the lowest consult row, so the referral picked is reproducible.
    first = pairs.sort_values(["index", "start_at", "consult_row"]).drop_duplicates("index")
    first = first.set_index("index")
    first["referral_at"] = _referral_instants(frames, first)
    return first.reindex(adm.index)[["start_at", "referral_at"]].astype(empty.dtypes.to_dict())


def _referral_instants(frames: Frames, consults: pd.DataFrame) -> pd.Series:
    """The consult's own referral instant, or else the patient's latest referral at or before it."""
    refs = referral_rows(frames)
    refs = refs[refs["authored_at"].notna()]
    by_id = refs.drop_duplicates("service_request_id").set_index("service_request_id")["authored_at"]
    own = lookup(consults["referral_id"], by_id)
    if refs.empty:
        return own
    pairs = (
        consults[["patient_id", "start_at"]]
        .reset_index(names="row")
        .merge(refs[["patient_id", "authored_at"]], on="patient_id")
    )
    pairs = pairs[pairs["authored_at"] <= pairs["start_at"]]
    latest = pairs.groupby("row")["authored_at"].max()
    return own.where(own.notna(), latest.reindex(consults.index))


def hours_summary(hours: pd.Series) -> dict[str, float | int | None]:
    """Median, first and third quartile (type 7) and n of the hours that are not missing."""
    values = pd.to_numeric(hours, errors="coerce").dropna().to_numpy(dtype=float)
    if values.size == 0:
        return {"median": None, "q1": None, "q3": None, "n": 0}
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    return {"median": median, "q1": q1, "q3": q3, "n": int(values.size)}


def penetration_counts(table: pd.DataFrame) -> dict[str, int | float | None]:
    """Unique patients with an initial consult, admissions, and their ratio, of a ``reach_table``."""
    consulted = int(table.loc[table["consult_at"].notna(), "patient_id"].nunique())
    admissions = len(table)
    return {
        "consulted_patients": consulted,
        "admissions": admissions,
        "rate": consulted / admissions if admissions else None,
    }


def month_complete(table: pd.DataFrame, months: pd.Series, through: date | None) -> pd.Series:
    """True for each "YYYY-MM" of ``months`` that ended on or before ``through`` (the last day with
    data) and whose admissions in ``table`` all ended by then; False with no data."""
    if through is None:
        return pd.Series(False, index=months.index, dtype=bool)
    cut = pd.Timestamp(through)
    still_open = set(table.loc[~(table["discharge_date"] <= cut), "month"].dropna())
    ends = pd.to_datetime(months.astype(str) + "-01") + pd.offsets.MonthEnd(0)
    closed = ~months.isin(still_open)
    return pd.Series((ends <= cut) & closed, index=months.index, dtype=bool)


def monthly_reach(table: pd.DataFrame, through: date | None) -> pd.DataFrame:
    """By month of admission: ``consulted_patients``, ``admissions``, ``rate``, ``complete`` and the
    admission -> consult and referral -> consult hours (``HOURS_KEYS`` with those prefixes; NaN
    where no admission of the month has one)."""
    columns = [
        "month",
        "consulted_patients",
        "admissions",
        "rate",
        *(f"{m}_{k}" for m in HOUR_MEASURES for k in HOURS_KEYS),
    ]
    if table.empty:
        return no_rows([*columns, "complete"])
    by_month = table.groupby("month", sort=True)
    out = by_month.size().to_frame("admissions")
    consulted = table[table["consult_at"].notna()].groupby("month")["patient_id"].nunique()
    out["consulted_patients"] = consulted.reindex(out.index, fill_value=0).astype(int)
    out["rate"] = out["consulted_patients"] / out["admissions"]
    for measure in HOUR_MEASURES:
        # pandas' default quantile interpolation is numpy's (type 7), as in ``hours_summary``.
        quartiles = by_month[measure].quantile(np.array([0.25, 0.5, 0.75])).unstack()
        out[f"{measure}_q1"] = quartiles[0.25]
        out[f"{measure}_median"] = quartiles[0.5]
        out[f"{measure}_q3"] = quartiles[0.75]
        out[f"{measure}_n"] = by_month[measure].count()
    out = out.rename_axis("month").reset_index().loc[:, columns]
    out["complete"] = month_complete(table, out["month"], through)
    return out


def reach_counts(table: pd.DataFrame, through: date | None) -> dict:
    """The unsuppressed reach figures of one ``reach_table`` for the metrics report."""
    return {
        "penetration": penetration_counts(table),
        "penetration_monthly": monthly_reach(table, through),
        "admission_to_consult_hours": hours_summary(table["admission_to_consult_hours"]),
        "referral_to_consult_hours": hours_summary(table["referral_to_consult_hours"]),
    }


def _round(value: object, decimals: int) -> float | None:
    return None if value is None else round(float(value), decimals)  # type: ignore[arg-type]


def present_hours(summary: dict, *, suppress: bool, min_cell: int) -> dict:
    """Median and quartiles (2 decimals) and n; under suppression an n of 1..min_cell-1 is "<11" and
    the statistics are None (with so few admissions the quartiles are nearly the values)."""
    n = summary["n"]
    hidden = suppress and is_small(n, min_cell)
    stats = {k: None if hidden else _round(summary[k], HOUR_DECIMALS) for k in ("median", "q1", "q3")}
    return stats | {"n": suppress_count(n, min_cell) if suppress else n}


def present_reach(raw: dict, *, suppress: bool, min_cell: int) -> dict:
    """The report shape of ``reach_counts``: the period's penetration, its months (keyed "YYYY-MM",
    suppressed as one table whose margin is the period) and the two hour summaries."""
    pen = raw["penetration"]
    monthly = raw["penetration_monthly"]
    table = monthly.set_index("month")[["consulted_patients", "admissions", "rate"]].rename(
        columns={"consulted_patients": "numerator", "admissions": "denominator"}
    )
    table.loc[PERIOD_ROW] = [pen["consulted_patients"], pen["admissions"], pen["rate"]]
    table = table.astype({"numerator": int, "denominator": int})
    if suppress:
        table = suppress_proportions(table, total_row=PERIOD_ROW, min_cell=min_cell)
    complete = monthly.set_index("month")["complete"]

    def count(value: object) -> int | str:
        return value if isinstance(value, str) else int(value)  # type: ignore[call-overload]

    def entry(row: pd.Series) -> dict:
        return {
            "consulted_patients": count(row["numerator"]),
            "admissions": count(row["denominator"]),
            "rate": _round(row["rate"], RATE_DECIMALS) if pd.notna(row["rate"]) else None,
        }

    return {
        "penetration": entry(table.loc[PERIOD_ROW]),
        "penetration_monthly": {
            str(month): entry(row) | {"complete": bool(complete[month])}
            for month, row in table.drop(index=PERIOD_ROW).iterrows()
        },
        "admission_to_consult_hours": present_hours(
            raw["admission_to_consult_hours"], suppress=suppress, min_cell=min_cell
        ),
        "referral_to_consult_hours": present_hours(
            raw["referral_to_consult_hours"], suppress=suppress, min_cell=min_cell
        ),
    }
