"""Tidy numerator/denominator tables for charts: monthly series, equity strata, unit and clinician funnels.

Every builder returns columns ``numerator``, ``denominator`` and ``rate`` next to its grouping
columns, ready for ``spc.p_chart``, ``spc.funnel`` or ``suppression.suppress_proportions``.
Inputs are the patient tables of lookforward.py, intervals.py and inpatient.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from sicdoc.analytics.cohorts import STRATA
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where
from sicdoc.analytics.intervals import LATE_SIC_DAYS, decedents
from sicdoc.analytics.lookforward import lookforward_table

TOTAL = "All"
EARLY_REFERRAL_DAYS = 30


def _with_rate(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({"numerator": int, "denominator": int})
    rates = [n / d if d else None for n, d in zip(df["numerator"], df["denominator"], strict=True)]
    df["rate"] = pd.Series(rates, index=df.index, dtype=object)
    return df


def month_of(dates: pd.Series) -> pd.Series:
    """ "YYYY-MM" of each date (sorts in time order as text); None where the date is missing."""
    # numpy formats month-precision datetimes in C; strftime goes through Python per value.
    text = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]").astype(str).astype(object)
    return pd.Series(text, index=dates.index).where(dates.notna(), None)


def _monthly(dates: pd.Series, numerator: pd.Series, include: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"month": month_of(dates), "numerator": numerator.astype(bool), "include": include})
    frame = frame[frame["include"].astype(bool) & frame["month"].notna()]
    grouped = frame.groupby("month", sort=True)["numerator"].agg(["sum", "size"]).reset_index()
    grouped.columns = ["month", "numerator", "denominator"]
    return _with_rate(grouped)


def monthly_referral_within(lookforward: pd.DataFrame, days: int = 90) -> pd.DataFrame:
    """By index month: patients referred within ``days`` of index among those followed that long.

    Only patients whose ``days`` window closed before the cut-off (follow-up time >= days, or the
    referral or death already came) are counted, so recent months are not pulled down by open windows.
    Deaths without referral within the window stay in the denominator (a crude proportion; the
    cumulative incidence in the report is the competing-risk figure).
    """
    eligible = lookforward[lookforward["referral_event"].notna()]
    referred = ((eligible["referral_event"] == 1) & (eligible["referral_time"] <= days)).fillna(False)
    followed = (eligible["referral_time"] >= days) | (eligible["referral_event"] != 0)
    return _monthly(eligible["index_date"], referred, followed.fillna(False))


def monthly_early_referral(decedents: pd.DataFrame, days: int = EARLY_REFERRAL_DAYS) -> pd.DataFrame:
    """By month of death: referred decedents whose first referral was more than ``days`` before death."""
    referred = decedents["days_referral_to_death"].notna()
    early = (decedents["days_referral_to_death"] > days).fillna(False)
    return _monthly(decedents["death_date"], early, referred)


def monthly_sic_before_death(decedents: pd.DataFrame) -> pd.DataFrame:
    """By month of death: decedents whose first conversation was more than 30 days before death."""
    early = (decedents["days_sic_to_death"] > LATE_SIC_DAYS).fillna(False)
    return _monthly(decedents["death_date"], early, pd.Series(True, index=decedents.index))


def grouped_table(
    table: pd.DataFrame,
    by: str,
    numerator: pd.Series,
    denominator: pd.Series | None = None,
    *,
    missing: str = "unknown",
    total: bool = True,
) -> pd.DataFrame:
    """Numerator/denominator per value of ``by`` (missing values grouped as ``missing``), with an "All"
    margin row when ``total``. ``numerator``/``denominator`` are boolean masks over ``table``."""
    include = pd.Series(True, index=table.index) if denominator is None else denominator.astype(bool)
    frame = pd.DataFrame(
        {
            by: table[by].astype(object).where(table[by].notna(), missing),
            "numerator": (numerator.astype(bool) & include).astype(int),
            "denominator": include.astype(int),
        }
    )
    out = frame.groupby(by, sort=True)[["numerator", "denominator"]].sum()
    if total:
        out.loc[TOTAL] = out.sum()
    return _with_rate(out)


def strata_tables(
    table: pd.DataFrame,
    numerator: pd.Series,
    denominator: pd.Series | None = None,
    strata: Sequence[str] = STRATA,
) -> dict[str, pd.DataFrame]:
    """One ``grouped_table`` per equity stratum (race, ethnicity, language, sex, age band).

    Small groups are best merged (e.g. into "Other/Multiple") before suppression, which then hides
    whatever is still below the threshold.
    """
    return {s: grouped_table(table, s, numerator, denominator) for s in strata}


def referral_within_strata(lookforward: pd.DataFrame, days: int = 90) -> dict[str, pd.DataFrame]:
    """Strata of "referred within ``days`` of index" among patients whose window closed."""
    eligible = lookforward["referral_event"].notna()
    referred = ((lookforward["referral_event"] == 1) & (lookforward["referral_time"] <= days)).fillna(False)
    followed = eligible & ((lookforward["referral_time"] >= days) | (lookforward["referral_event"] != 0))
    return strata_tables(lookforward, referred, followed.fillna(False).astype(bool))


def unit_table(admissions: pd.DataFrame, hours: int = 72) -> pd.DataFrame:
    """For a funnel by unit: admissions done within ``hours`` among those eligible at that hour."""
    return grouped_table(
        admissions, "unit", admissions[f"done_{hours}h"], admissions[f"eligible_{hours}h"], total=False
    )


def clinician_table(decedents: pd.DataFrame) -> pd.DataFrame:
    """For a funnel by clinician: of the decedents whose first conversation a clinician documented,
    how many were more than 30 days before death."""
    with_sic = decedents[decedents["days_sic_to_death"].notna()]
    early = with_sic["days_sic_to_death"] > LATE_SIC_DAYS
    return grouped_table(with_sic, "sic_clinician", early, total=False)


def cohort_series(
    frames: Frames,
    cohort: str,
    *,
    as_of: date,
    where: Where = EVERYWHERE,
) -> dict[str, pd.DataFrame]:
    """The monthly series of one cohort, straight from the input frames (unsuppressed):

    ``referred_within_90d`` by index month, ``referral_gt30d_before_death`` and
    ``sic_gt30d_before_death`` by month of death. Suppress (``suppress_proportions``) before display.
    """
    data = frames.normalised().observed(as_of)
    look = lookforward_table(data, cohort, as_of=as_of, where=where)
    dead = decedents(data, cohort, where)
    return {
        "referred_within_90d": monthly_referral_within(look, 90),
        "referral_gt30d_before_death": monthly_early_referral(dead),
        "sic_gt30d_before_death": monthly_sic_before_death(dead),
    }
