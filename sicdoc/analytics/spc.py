"""Statistical process control: p-chart, XmR, NHS "Making Data Count" rules, Anhøj run rules.

Pure functions over plain sequences and tidy frames. Formulas: reference/qi_metrics.md §4.2-4.3
(p-chart and XmR limits as in qicharts2 / NHSRplotthedots; the rules re-implemented, not copied).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

XMR_FACTOR = 2.66  # 3 / d2, with d2 = 1.128 for moving ranges of two points
RUN_LENGTH = 7  # NHS MDC: shift and trend length


def p_chart(
    df: pd.DataFrame,
    numerator: str = "numerator",
    denominator: str = "denominator",
    *,
    phase: ArrayLike | None = None,
) -> pd.DataFrame:
    """p-chart: centre = pooled proportion, limits p ± 3·sqrt(p(1-p)/n_i) clipped to [0, 1].

    Rows with a zero denominator are dropped (a 0/0 month is no point, not 0%). Adds p, cl, sigma,
    lcl, ucl, lwl, uwl (2-sigma warning lines) and the MDC rule flags (see ``mdc_rules``).
    With ``phase`` (one label per row), each phase has its own centre line and limits from its own
    rows, and the rules run within a phase only (a run never continues across a phase start).
    """
    if phase is not None:
        return _by_phase(df, phase, lambda part: p_chart(part, numerator, denominator))
    out = df[df[denominator] > 0].copy()
    n = out[denominator].astype(float)
    out["p"] = out[numerator] / n
    cl = float(out[numerator].sum() / n.sum()) if len(out) else float("nan")
    out["cl"] = cl
    out["sigma"] = np.sqrt(cl * (1 - cl) / n)
    out["ucl"] = (cl + 3 * out["sigma"]).clip(upper=1.0)
    out["lcl"] = (cl - 3 * out["sigma"]).clip(lower=0.0)
    out["uwl"] = (cl + 2 * out["sigma"]).clip(upper=1.0)
    out["lwl"] = (cl - 2 * out["sigma"]).clip(lower=0.0)
    flags = mdc_rules(out["p"], out["cl"], out["lcl"], out["ucl"], out["lwl"], out["uwl"])
    return pd.concat([out, flags.set_index(out.index)], axis=1)


def xmr(values: ArrayLike, *, phase: ArrayLike | None = None) -> pd.DataFrame:
    """XmR (individuals) chart: centre = mean, limits mean ± 2.66 * mean moving range.

    Warning lines sit at two thirds of the way to the limits (≈2 sigma, NHS "close to limits").
    With ``phase``, each phase has its own mean and moving ranges (the first point of a phase has
    no moving range: the step across a phase start is not common-cause variation).
    """
    if phase is not None:
        frame = pd.DataFrame({"value": np.asarray(values, dtype=float)})
        out = _by_phase(frame, phase, lambda part: xmr(part["value"].to_numpy()).set_axis(part.index))
        return out.reset_index(drop=True)
    x = pd.Series(np.asarray(values, dtype=float))
    mr = x.diff().abs()
    mr_bar = float(mr.mean()) if len(x) > 1 else float("nan")
    mean = float(x.mean())
    out = pd.DataFrame({"value": x, "mr": mr, "cl": mean})
    out["ucl"] = mean + XMR_FACTOR * mr_bar
    out["lcl"] = mean - XMR_FACTOR * mr_bar
    out["uwl"] = mean + 2 / 3 * XMR_FACTOR * mr_bar
    out["lwl"] = mean - 2 / 3 * XMR_FACTOR * mr_bar
    flags = mdc_rules(out["value"], out["cl"], out["lcl"], out["ucl"], out["lwl"], out["uwl"])
    return pd.concat([out, flags], axis=1)


def _by_phase(
    df: pd.DataFrame, phase: ArrayLike, chart: Callable[[pd.DataFrame], pd.DataFrame]
) -> pd.DataFrame:
    """``chart`` run on each phase's consecutive rows; the result in the original row order, with
    a ``phase`` column. Phases must be contiguous (a phase label does not come back later)."""
    labels = pd.Series(np.asarray(phase, dtype=object), index=df.index)
    if len(labels) != len(df):
        raise ValueError("one phase label per row is needed")
    starts = labels.ne(labels.shift()).cumsum()
    if starts.groupby(labels).nunique().gt(1).any():
        raise ValueError("each phase must be one run of consecutive rows")
    parts = []
    for _, rows in df.groupby(starts.to_numpy(), sort=True):
        part = chart(rows)
        part.insert(0, "phase", labels.loc[part.index].to_numpy())
        parts.append(part)
    if not parts:
        return chart(df).assign(phase=pd.Series(dtype=object))
    return pd.concat(parts)


def _runs(flags: np.ndarray, length: int) -> np.ndarray:
    """Mark every point in a run of ``length`` or more consecutive True flags."""
    marked = np.zeros(flags.size, dtype=bool)
    start = None
    for i, flag in enumerate([*flags.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= length:
                marked[start:i] = True
            start = None
    return marked


def _as_array(v: ArrayLike, n: int) -> np.ndarray:
    arr = np.asarray(v, dtype=float)
    return np.full(n, float(arr)) if arr.ndim == 0 else arr


def mdc_rules(
    values: ArrayLike,
    cl: ArrayLike,
    lcl: ArrayLike,
    ucl: ArrayLike,
    lwl: ArrayLike,
    uwl: ArrayLike,
    *,
    run_length: int = RUN_LENGTH,
) -> pd.DataFrame:
    """NHS "Making Data Count" special-cause flags per point.

    ``outside``: beyond a process limit. ``shift``: in a run of 7+ on one side of the centre line
    (a point on the line breaks it). ``trend``: in a run of 7+ points each higher (or each lower)
    than the one before (a repeat breaks it). ``two_of_three``: beyond the 2-sigma line, with at least
    one other of three consecutive points beyond it on the same side (only those points flagged).
    ``special_cause``: any of them.
    """
    x = np.asarray(values, dtype=float)
    n = x.size
    cl_, lcl_, ucl_ = _as_array(cl, n), _as_array(lcl, n), _as_array(ucl, n)
    lwl_, uwl_ = _as_array(lwl, n), _as_array(uwl, n)
    outside = (x > ucl_) | (x < lcl_)
    shift = _runs(x > cl_, run_length) | _runs(x < cl_, run_length)
    diffs = np.diff(x)
    up, down = np.r_[False, diffs > 0], np.r_[False, diffs < 0]
    # A trend of k points is k-1 consecutive steps; the first point of the run is included too.
    trend = np.zeros(n, dtype=bool)
    for steps in (_runs(up, run_length - 1), _runs(down, run_length - 1)):
        trend |= steps | np.r_[steps[1:] & ~steps[:-1], False]
    two_of_three = np.zeros(n, dtype=bool)
    for beyond in (x > uwl_, x < lwl_):
        for i in range(max(n - 2, 0)):
            window = beyond[i : i + 3]
            if window.sum() >= 2:
                two_of_three[i : i + 3] |= window
    flags = pd.DataFrame({"outside": outside, "shift": shift, "trend": trend, "two_of_three": two_of_three})
    flags["special_cause"] = flags.any(axis=1)
    return flags


def binom_quantile(q: float, n: int, p: float = 0.5) -> int:
    """Smallest k with P(X <= k) >= q for X ~ Binomial(n, p), like R's qbinom / scipy's binom.ppf.

    Exact, from the probability mass function, so SPC does not need scipy.
    """
    if n < 0:
        raise ValueError("n must be non-negative")
    cumulative = 0.0
    for k in range(n + 1):
        cumulative += math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if cumulative >= q - 1e-12:
            return k
    return n


def anhoej(values: ArrayLike, centre: float | None = None) -> dict[str, float | int | bool]:
    """Anhøj run-chart rules around the median (or a given centre).

    Points on the centre line are not useful and are skipped. Unusually long run: the longest run
    on one side > round(log2(n_useful) + 3). Too few crossings: crossings < the 5th percentile of
    Binomial(n_useful - 1, 0.5). ``signal`` if either fires.
    """
    x = np.asarray(values, dtype=float)
    centre = float(np.median(x)) if centre is None else float(centre)
    side = np.sign(x - centre)
    useful = side[side != 0]
    n = int(useful.size)
    if n == 0:
        return {
            "centre": centre,
            "n_useful": 0,
            "longest_run": 0,
            "longest_run_max": 0,
            "crossings": 0,
            "crossings_min": 0,
            "long_run": False,
            "few_crossings": False,
            "signal": False,
        }
    changes = np.flatnonzero(np.diff(useful) != 0)
    crossings = int(changes.size)
    bounds = np.r_[0, changes + 1, n]
    longest = int(np.diff(bounds).max())
    longest_max = round(math.log2(n) + 3)
    crossings_min = binom_quantile(0.05, n - 1, 0.5)
    long_run, few = longest > longest_max, crossings < crossings_min
    return {
        "centre": centre,
        "n_useful": n,
        "longest_run": longest,
        "longest_run_max": longest_max,
        "crossings": crossings,
        "crossings_min": crossings_min,
        "long_run": long_run,
        "few_crossings": few,
        "signal": long_run or few,
    }
