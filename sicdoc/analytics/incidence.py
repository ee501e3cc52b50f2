"""Cumulative incidence with death as a competing risk (Aalen-Johansen), exact on tied whole-day data.

The point estimate is the textbook Aalen-Johansen estimator written out here, so that degenerate
cohorts (nobody died, nobody referred, everybody censored) still give an answer; tests prove it equals
scikit-survival's ``cumulative_incidence_competing_risks`` on tied data. Confidence intervals use Aalen's
variance with the log-log transform, as scikit-survival does (a test keeps them equal); with no
competing deaths the cause-1 incidence is 1 - Kaplan-Meier and its log-log interval is used.

Events are coded 0 censored, 1 the event of interest (referral, conversation), 2 death.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

CENSORED, EVENT, DEATH = 0, 1, 2


def competing_risk_data(
    index_date: pd.Series, event_date: pd.Series, death_date: pd.Series, as_of: date
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


_Z95 = NormalDist().inv_cdf(0.975)
_EPS = float(np.finfo(float).eps)


def _loglog(value: float, sigma: float) -> tuple[float, float]:
    """95% interval of a probability from the log(-log) transform, given sd(log value) = ``sigma``."""
    if value <= _EPS:
        return 0.0, 0.0
    log_v = float(np.log(value))
    theta = sigma / log_v if log_v < -_EPS else 0.0
    a, b = (float(np.exp(np.exp(k * _Z95 * theta) * log_v)) for k in (-1.0, 1.0))
    return min(a, b), max(a, b)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where the denominator is 0 (a term with nobody left to vary contributes nothing)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den != 0)


def aalen_variance(curve: pd.DataFrame, at: int) -> float:
    """Aalen's (1978) variance of the cause-1 incidence at row ``at`` of an ``aalen_johansen`` curve.

    In the form of Pintilie (2006, eq. 4.5), over the distinct times t_j up to t, with n_j at risk,
    d_j events of any cause, e_j of cause 1, S the overall survival just before t_j and F cause 1's
    incidence:
        sum (F(t) - F(t_j))^2 d_j / ((n_j - 1)(n_j - d_j))
      + sum S(t_j-)^2 e_j (n_j - e_j) / (n_j^2 (n_j - 1))
      - 2 sum (F(t) - F(t_j)) S(t_j-) e_j (n_j - e_j) / (n_j (n_j - d_j)(n_j - 1))
    """
    part = curve.iloc[: at + 1]
    n = part["at_risk"].to_numpy(dtype=float)
    e = part["events"].to_numpy(dtype=float)
    d = e + part["deaths"].to_numpy(dtype=float)
    survival = part["survival"].to_numpy(dtype=float)
    before = np.r_[1.0, survival[:-1]]
    cif = part["cif_event"].to_numpy(dtype=float)
    gap = cif[-1] - cif
    spread = e * (n - e)
    first = np.sum(gap**2 * _ratio(d, (n - 1) * (n - d)))
    second = np.sum(before**2 * _ratio(spread, (n - 1) * n**2))
    third = -2.0 * np.sum(gap * before * _ratio(spread, n * (n - d) * (n - 1)))
    return float(first + second + third)


def _intervals(curve: pd.DataFrame, horizons: list[int]) -> dict[int, tuple[float, float] | None]:
    """95% log-log intervals for the cause-1 incidence at each horizon, where they can be had.

    With deaths observed: Aalen's variance of the incidence. With none, the incidence is 1 - the
    Kaplan-Meier survival, whose interval (Greenwood's variance, log-log) is turned over.
    """
    if curve.empty or not curve["events"].any():
        return dict.fromkeys(horizons)
    times = curve["time"].to_numpy()
    greenwood: np.ndarray | None = None  # the variance without competing deaths
    if not curve["deaths"].any():
        n = curve["at_risk"].to_numpy(dtype=float)
        d = curve["events"].to_numpy(dtype=float)
        greenwood = np.cumsum(_ratio(d, n * (n - d)))
    out: dict[int, tuple[float, float] | None] = {}
    for h in horizons:
        upto = np.flatnonzero(times <= h)
        if upto.size == 0:
            out[h] = None
            continue
        at = int(upto[-1])
        if greenwood is None:
            cif = float(curve["cif_event"].iloc[at])
            var = aalen_variance(curve, at)
            out[h] = _loglog(cif, float(np.sqrt(var)) / cif if var > _EPS else 0.0)
        else:
            low, high = _loglog(float(curve["survival"].iloc[at]), float(np.sqrt(greenwood[at])))
            out[h] = (1.0 - high, 1.0 - low)
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
    cis = _intervals(curve, horizons) if confidence else dict.fromkeys(horizons)
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
