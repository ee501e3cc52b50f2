"""Cumulative incidence with death as a competing risk (Aalen-Johansen), exact on tied whole-day data.

The point estimate is the textbook Aalen-Johansen estimator written out here, so that degenerate
cohorts (nobody died, nobody referred, everybody censored) still give an answer; tests prove it equals
scikit-survival's ``cumulative_incidence_competing_risks`` on tied data. Confidence intervals come from
scikit-survival (Aalen variance, log-log), which needs both causes observed; with no competing deaths
the cause-1 incidence is 1 - Kaplan-Meier and its log-log interval is used; otherwise none.

Events are coded 0 censored, 1 the event of interest (referral, conversation), 2 death.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

CENSORED, EVENT, DEATH = 0, 1, 2


def competing_risk_data(
    index_date: pd.Series, event_date: pd.Series, death_date: pd.Series, as_of: object
) -> pd.DataFrame:
    """Whole-day time from index and the event code, per row.

    An event on or before death is the event (a referral on the day of death counts as a referral);
    an event dated after death is bad data and is not an event (the caller flags it), so the
    patient's death is their outcome. Nothing after ``as_of`` exists; the rest are censored there.
    """
    cut = pd.Timestamp(as_of)
    death = death_date.where(death_date <= cut)
    valid = event_date.notna() & (event_date <= cut) & ~(event_date > death)
    end = event_date.where(valid, death.where(death.notna(), cut))
    code = np.where(valid, EVENT, np.where(death.notna(), DEATH, CENSORED))
    time = (end - index_date).dt.days
    return pd.DataFrame({"time": time.astype(int), "event": code.astype(int)}, index=index_date.index)


def aalen_johansen(time: ArrayLike, event: ArrayLike) -> pd.DataFrame:
    """Aalen-Johansen curves at every distinct time.

    At a time t with n at risk (time >= t), d1 events and d2 deaths: S(t) = S(t-) * (1 - (d1+d2)/n)
    and F_k(t) = F_k(t-) + S(t-) * d_k/n. All events tied at t share the same risk set and
    censorings at t leave after the events, so ties need no tie-breaking and time-0 events count.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=int)
    if t.shape != e.shape:
        raise ValueError("time and event differ in length")
    if (t < 0).any():
        raise ValueError("negative times: flag the record instead of estimating with it")
    columns = ["time", "at_risk", "events", "deaths", "censored", "survival", "cif_event", "cif_death"]
    if t.size == 0:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    # One pass over the data: counts per distinct time, and the risk set as a reversed running sum.
    times, where = np.unique(t, return_inverse=True)
    size = times.size
    events = np.bincount(where, weights=(e == EVENT), minlength=size).astype(int)
    deaths = np.bincount(where, weights=(e == DEATH), minlength=size).astype(int)
    censored = np.bincount(where, weights=(e == CENSORED), minlength=size).astype(int)
    at_risk = np.bincount(where, minlength=size)[::-1].cumsum()[::-1]
    survival = np.cumprod(1.0 - (events + deaths) / at_risk)
    before = np.r_[1.0, survival[:-1]]
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": at_risk,
            "events": events,
            "deaths": deaths,
            "censored": censored,
            "survival": survival,
            "cif_event": np.cumsum(before * events / at_risk),
            "cif_death": np.cumsum(before * deaths / at_risk),
        }
    )


def value_at(curve: pd.DataFrame, column: str, horizon: float) -> float | None:
    """A step curve's value at ``horizon``; None beyond follow-up unless nobody is left at risk."""
    if curve.empty:
        return None
    if horizon > curve["time"].iloc[-1] and curve["survival"].iloc[-1] > 0:
        return None
    upto = curve[curve["time"] <= horizon]
    return 0.0 if upto.empty else float(upto[column].iloc[-1])


def _intervals(t: np.ndarray, e: np.ndarray, horizons: list[int]) -> dict[int, tuple[float, float] | None]:
    """95% log-log intervals for the cause-1 incidence at each horizon, where they can be had."""
    # Imported here: scikit-survival takes seconds to import, and most callers of sicdoc (the
    # FHIR API, the CLI) never need an interval.
    from sksurv.nonparametric import cumulative_incidence_competing_risks, kaplan_meier_estimator

    # The estimate and its variance at time h use only what happened up to h, so follow-up past the
    # last horizon is cut there (censored the day after). The variance costs the square of the
    # number of distinct times; years of follow-up would cost seconds for the same answer.
    cap = max(horizons)
    late = t > cap
    if late.any():
        t, e = np.where(late, cap + 1, t), np.where(late, CENSORED, e)
    has_events, has_deaths = (e == EVENT).any(), (e == DEATH).any()
    if not has_events:
        return dict.fromkeys(horizons)
    if has_deaths:
        times, _, ci = cumulative_incidence_competing_risks(e, t, conf_type="log-log")
        lower, upper = ci[EVENT, 0], ci[EVENT, 1]
    else:
        # No competing deaths: the incidence is 1 - KM, whose interval is 1 - the KM interval.
        times, _, km_ci = kaplan_meier_estimator(e == EVENT, t, conf_type="log-log")
        lower, upper = 1.0 - km_ci[1], 1.0 - km_ci[0]
    out: dict[int, tuple[float, float] | None] = {}
    for h in horizons:
        upto = np.flatnonzero(times <= h)
        out[h] = None if upto.size == 0 else (float(lower[upto[-1]]), float(upper[upto[-1]]))
    return out


def cumulative_incidence(
    data: pd.DataFrame, horizons: Iterable[int], *, confidence: bool = True
) -> dict[int, dict[str, float | int | None]]:
    """Cause-1 cumulative incidence at each horizon with the counts it rests on.

    ``data`` has columns ``time`` and ``event`` (see ``competing_risk_data``). For each horizon:
    ``estimate``, ``lower``, ``upper`` (None when not available), ``events`` (cause-1 events by then,
    the numerator suppression looks at) and ``n`` (patients in the estimate).
    """
    horizons = list(horizons)
    t = data["time"].to_numpy(dtype=float)
    e = data["event"].to_numpy(dtype=int)
    curve = aalen_johansen(t, e)
    cis = _intervals(t, e, horizons) if confidence and t.size else dict.fromkeys(horizons)
    out = {}
    for h in horizons:
        estimate = value_at(curve, "cif_event", h)
        ci = cis[h] if estimate is not None else None
        out[h] = {
            "estimate": estimate,
            "lower": None if ci is None else ci[0],
            "upper": None if ci is None else ci[1],
            "events": int(((e == EVENT) & (t <= h)).sum()),
            "n": int(t.size),
        }
    return out
