"""The look-forward patient table behind M1 (index -> first referral) and M7 (index -> first conversation).

One row per patient whose index date falls in the period, with their competing-risk time and event
for each measure. Prevalent patients (a referral, or a completed conversation, dated before index)
are marked and kept out of that measure's estimate; they are reported as a count instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd

from sicdoc.analytics.cohorts import (
    age_band,
    age_years,
    cohort_patients,
    conversation_rows,
    first_on_or_after,
    first_referral_dates,
    in_period,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, lookup
from sicdoc.analytics.incidence import competing_risk_data, cumulative_incidence
from sicdoc.analytics.intervals import median_days

REFERRAL_HORIZONS = (30, 90, 180, 365)
SIC_HORIZONS = (30, 90, 180)
HORIZONS = {"referral": REFERRAL_HORIZONS, "sic": SIC_HORIZONS}
CURVE_STEP = 30
# The dashboard draws the curves every CURVE_STEP days up to the last horizon. Suppression runs
# along every day shown anywhere (grid and horizons) in both the report and the chart, so the
# two show and hide the same points (``suppression.curve_shown``).
GRID_DAYS = {m: tuple(range(0, h[-1] + 1, CURVE_STEP)) for m, h in HORIZONS.items()}
CURVE_DAYS = {m: tuple(sorted({*GRID_DAYS[m], *h})) for m, h in HORIZONS.items()}


def lookforward_table(
    frames: Frames,
    cohort: str,
    *,
    as_of: date,
    where: Where = EVERYWHERE,
) -> pd.DataFrame:
    """Index patients of the period with ``prior_referral``/``referral_time``/``referral_event`` and
    ``prior_sic``/``sic_time``/``sic_event`` (times and events are NA for prevalent patients).

    Frames must be normalised and cut at ``as_of`` (``Frames.normalised().observed(as_of)``).
    """
    pts = cohort_patients(frames, cohort, site=where.site, unit=where.unit)
    # An index after the cut-off is not in the cohort yet.
    pts = pts[
        in_period(pts["index_date"], where.period_from, where.period_to)
        & (pts["index_date"] <= pd.Timestamp(as_of))
    ]
    out = pts.reset_index(drop=True)
    out["age"] = age_years(out["birth_date"], out["index_date"])
    out["age_band"] = age_band(out["age"])
    index = out.set_index("patient_id")["index_date"]

    # M1: the first referral ever; before index makes the patient prevalent.
    out["referral_date"] = lookup(out["patient_id"], first_referral_dates(frames))
    out["prior_referral"] = (out["referral_date"] < out["index_date"]).fillna(False).astype(bool)
    _add_times(out, "referral", ~out["prior_referral"], out["referral_date"], as_of)

    # M7: the first completed conversation on or after index; any before index makes it prevalent.
    convs = conversation_rows(frames)
    before = convs[convs["performed_date"] < lookup(convs["patient_id"], index)]
    out["prior_sic"] = out["patient_id"].isin(set(before["patient_id"]))
    out["sic_date"] = lookup(out["patient_id"], first_on_or_after(convs, "performed_date", index))
    _add_times(out, "sic", ~out["prior_sic"], out["sic_date"], as_of)
    return out


def _add_times(out: pd.DataFrame, name: str, eligible: pd.Series, event_date: pd.Series, as_of: date) -> None:
    data = competing_risk_data(out["index_date"], event_date, out["death_date"], as_of)
    out[f"{name}_time"] = data["time"].where(eligible).astype("Int64")
    out[f"{name}_event"] = data["event"].where(eligible).astype("Int64")


def _eligible(table: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = table[table[f"{name}_event"].notna()]
    return pd.DataFrame(
        {"time": rows[f"{name}_time"].astype(int), "event": rows[f"{name}_event"].astype(int)}
    )


def incidence(table: pd.DataFrame, measure: str, days: Iterable[int] | None = None) -> dict:
    """M1 (``measure`` "referral") or M7 ("sic", a first completed conversation) cumulative
    incidence at ``days``, by default the report's horizons (see ``incidence.cumulative_incidence``)."""
    return cumulative_incidence(
        _eligible(table, measure), sorted(HORIZONS[measure] if days is None else days)
    )


def referred_days(table: pd.DataFrame) -> pd.Series:
    """Days index -> referral of the patients referred (by the cut-off), for the M1 median."""
    referred = (table["referral_event"] == 1).fillna(False).astype(bool)
    return table.loc[referred, "referral_time"].astype(int)


def median_days_to_referral(table: pd.DataFrame) -> float | int | None:
    """Median days index -> first referral among those referred."""
    return median_days(referred_days(table))
