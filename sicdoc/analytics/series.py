"""Tidy numerator/denominator tables for charts: monthly series, equity strata, unit and clinician funnels.

Every builder returns columns ``numerator``, ``denominator`` and ``rate`` next to its grouping
columns, ready for ``spc.p_chart``, ``spc.funnel`` or ``suppression.suppress_proportions``.
Inputs are the patient tables of lookforward.py, intervals.py and inpatient.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from sicdoc.analytics.cohorts import STRATA
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where
from sicdoc.analytics.intervals import LATE_SIC_DAYS, decedents
from sicdoc.analytics.lookforward import lookforward_table

TOTAL = "All"
EARLY_REFERRAL_DAYS = 30

# How long after the end of a month each measure's outcome can still change, in days. A month's
# point is complete (a signal or part of the limits) only once this window has passed for every
# patient in it: end of month + window <= the last date with data. Later months are still shown,
# with their full denominator, but flagged as a window not yet complete.
WINDOW_DAYS: dict[str, int] = {
    "referred_within_30d": 30,  # M1, by index month: each patient followed 30 days
    "referred_within_90d": 90,  # M1, by index month
    "timely_24h": 1,  # M4, by admission month: 24 hours after the last admission of the month
    "timely_48h": 2,
    "timely_72h": 3,
    # M2/M3 and the referral-to-death interval, by month of death: the referral or conversation
    # came before the death, so the month is complete once every death in it can be recorded.
    "referral_gt30d_before_death": 0,
    "sic_gt30d_before_death": 0,
    "days_referral_to_death": 0,
    # Documentation quality, by month of the conversation: scored from what it documented then.
    "documentation_quality": 0,
}
DATE_COLUMNS = {
    "patients": ("deceased_date",),
    "diagnoses": ("diagnosis_date",),
    "encounters": ("admit_date", "discharge_date"),
    "referrals": ("authored_date",),
    "consults": ("start_date",),
    "conversations": ("performed_date",),
}


def data_complete_through(data: Frames, *, whole_months: bool = False) -> date | None:
    """The last day with data: the latest event date in normalised (usually cut) frames.

    With ``whole_months`` it is moved back to the end of the last month the data cover to its last
    day, so a whole-months answer never states the day of a single record (and a month whose data
    stop part-way is not counted as complete).
    """
    latest = [
        getattr(data, table)[column].max()
        for table, columns in DATE_COLUMNS.items()
        for column in columns
        if column in getattr(data, table)
    ]
    found = [d for d in latest if pd.notna(d)]
    if not found:
        return None
    last = pd.Timestamp(max(found))
    if whole_months and not last.is_month_end:
        last = last - pd.offsets.MonthEnd(1)
    return last.date()


def window_complete(months: pd.Series, measure: str, through: date | None) -> pd.Series:
    """True where the ``measure``'s window for every patient of the "YYYY-MM" month ended by
    ``through`` (the last day with data, never later than the as-of date); False with no data."""
    if measure not in WINDOW_DAYS:
        raise ValueError(f"no completeness rule for {measure!r}")
    if through is None:
        return pd.Series(False, index=months.index, dtype=bool)
    ends = pd.to_datetime(months.astype(str) + "-01") + pd.offsets.MonthEnd(0)
    closes = ends + timedelta(days=WINDOW_DAYS[measure])
    return pd.Series(closes <= pd.Timestamp(through), index=months.index, dtype=bool)


def _with_rate(df: pd.DataFrame) -> pd.DataFrame:
    df = df.astype({"numerator": int, "denominator": int})
    rates = [n / d if d else None for n, d in zip(df["numerator"], df["denominator"], strict=True)]
    df["rate"] = pd.Series(rates, index=df.index, dtype=object)
    return df


def month_of(dates: pd.Series) -> pd.Series:
    """ "YYYY-MM" of each date (sorts in time order as text); None where the date is missing."""
    # A few hundred distinct months among up to a million dates: each is formatted once (numpy, in
    # C), not once per date (formatting every date was a fifth of a new dashboard filter's time).
    months = dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    codes, distinct = pd.factorize(months.view("int64"))
    text = distinct.view("datetime64[M]").astype(str).astype(object)[codes]
    return pd.Series(text, index=dates.index).where(dates.notna(), None)


def _monthly(dates: pd.Series, numerator: pd.Series, include: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"month": month_of(dates), "numerator": numerator.astype(bool), "include": include})
    frame = frame[frame["include"].astype(bool) & frame["month"].notna()]
    grouped = frame.groupby("month", sort=True)["numerator"].agg(["sum", "size"]).reset_index()
    grouped.columns = ["month", "numerator", "denominator"]
    return _with_rate(grouped)


def monthly_referral_within(lookforward: pd.DataFrame, days: int = 90) -> pd.DataFrame:
    """By index month: patients referred within ``days`` of index among all index patients not
    already in palliative care.

    Every patient stays in the denominator, whether or not the window is over: dropping the open
    windows unless already referred would inflate recent months. Months whose window is not over
    are flagged instead (``window_complete``) and kept out of limits and signals. Deaths without
    referral within the window stay in the denominator (a crude proportion; the cumulative
    incidence in the report is the competing-risk figure).
    """
    eligible = lookforward[lookforward["referral_event"].notna()]
    referred = ((eligible["referral_event"] == 1) & (eligible["referral_time"] <= days)).fillna(False)
    return _monthly(eligible["index_date"], referred, pd.Series(True, index=eligible.index))


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

    The tables are unsuppressed; the equity panel merges small groups into "Other or unknown"
    (``suppression.merge_small_groups``) before complementary suppression.
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
    ``sic_gt30d_before_death`` by month of death, each with its ``complete`` flag
    (``window_complete``). Suppress (``suppress_proportions``) before display.
    """
    data = frames.normalised().observed(as_of)
    through = data_complete_through(data, whole_months=True)
    look = lookforward_table(data, cohort, as_of=as_of, where=where)
    dead = decedents(data, cohort, where)
    series = {
        "referred_within_90d": monthly_referral_within(look, 90),
        "referral_gt30d_before_death": monthly_early_referral(dead),
        "sic_gt30d_before_death": monthly_sic_before_death(dead),
    }
    for measure, table in series.items():
        table["complete"] = window_complete(table["month"], measure, through)
    return series
