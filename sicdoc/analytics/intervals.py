"""Decedent look-back measures: referral-to-death bands (M2) and conversations before death (M3).

Intervals are whole calendar days ``death_date - event_date``; an event on the day of death is 0
days and counts as the event. A first referral dated after death makes the patient "never referred"
here (the record is a data-quality flag); a conversation after death is likewise not a conversation.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sicdoc.analytics.cohorts import (
    cohort_patients,
    conversation_rows,
    first_on_or_before,
    first_referral_dates,
    in_period,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, days_between, lookup

# (label, lowest day, highest day) of the referral-to-death bands; "never" is kept apart.
BANDS = (("0-7", 0, 7), ("8-30", 8, 30), ("31-90", 31, 90), ("gt90", 91, None))
BAND_KEYS = ("never", *(label for label, _, _ in BANDS))
LATE_SIC_DAYS = 30


def median_days(values: Iterable[float]) -> float | int | None:
    """Median (an even count gives the mean of the two middle values); None when empty.

    Whole numbers come back as int so a JSON report reads ``12`` rather than ``12.0``.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    arr = pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)
    if arr.size == 0:
        return None
    value = float(np.median(arr))
    return int(value) if value.is_integer() else value


def band_of(days: pd.Series) -> pd.Series:
    """Band label per interval (NaN days = never referred)."""
    out = pd.Series("never", index=days.index, dtype=object)
    for label, low, high in BANDS:
        hit = days.notna() & (days >= low)
        if high is not None:
            hit &= days <= high
        out[hit.fillna(False).astype(bool)] = label
    return out


def decedents(
    frames: Frames,
    cohort: str,
    where: Where = EVERYWHERE,
) -> pd.DataFrame:
    """Cohort patients whose death date is in the period, with their look-back intervals.

    Frames must be normalised and cut at the as-of date (``Frames.normalised().observed(as_of)``).
    """
    pts = cohort_patients(frames, cohort, site=where.site, unit=where.unit)
    pts = pts[in_period(pts["death_date"], where.period_from, where.period_to)]
    return decedent_table(frames, pts)


def decedent_table(frames: Frames, patients: pd.DataFrame) -> pd.DataFrame:
    """Per decedent: days first referral -> death, band, days first conversation -> death.

    ``patients`` needs patient_id and death_date; other columns are kept. Referral: the patient's
    first (non-void) referral ever; if it is after death the patient counts as never referred.
    Conversation: the first completed one on or before death (``sic_clinician`` documented it).
    """
    out = patients.copy()
    deaths = out.set_index("patient_id")["death_date"]
    first_ref = lookup(out["patient_id"], first_referral_dates(frames))
    ref_days = days_between(out["death_date"], first_ref)
    out["referral_date"] = first_ref.where(ref_days >= 0)
    out["days_referral_to_death"] = ref_days.where(ref_days >= 0)
    out["band"] = band_of(out["days_referral_to_death"])
    convs = conversation_rows(frames)
    first_sic = lookup(out["patient_id"], first_on_or_before(convs, "performed_date", deaths))
    out["sic_date"] = first_sic
    out["sic_clinician"] = lookup(out["patient_id"], first_conversation_clinician(frames))
    out["sic_clinician"] = out["sic_clinician"].where(first_sic.notna(), None)
    out["days_sic_to_death"] = days_between(out["death_date"], first_sic)
    return out.reset_index(drop=True)


def first_conversation_clinician(frames: Frames) -> pd.Series:
    """Who held each patient's first completed conversation (ties: the lowest procedure id)."""

    def build() -> pd.Series:
        convs = conversation_rows(frames)
        firsts = convs.sort_values(["patient_id", "performed_date", "procedure_id"]).drop_duplicates(
            "patient_id"
        )
        return firsts.set_index("patient_id")["clinician_id"]

    return frames.memo("first_conversation_clinician", build)


def referral_to_death(table: pd.DataFrame) -> dict[str, object]:
    """M2 counts: decedents, referred decedents, band counts and the median among the referred."""
    counts = table["band"].value_counts()
    bands = {key: int(counts.get(key, 0)) for key in BAND_KEYS}
    referred = table["days_referral_to_death"].dropna()
    return {
        "decedents": len(table),
        "decedents_referred": len(table) - bands["never"],
        "referral_to_death_bands": bands,
        "median_days_referral_to_death": median_days(referred),
    }


def conversation_before_death(table: pd.DataFrame) -> dict[str, object]:
    """M3 counts: decedents with a conversation, first one more than 30 days before death, median."""
    days = table["days_sic_to_death"].dropna()
    return {
        "decedents_with_sic": len(days),
        "decedents_first_sic_gt30d": int((days > LATE_SIC_DAYS).sum()),
        "median_days_first_sic_to_death": median_days(days),
    }
