"""Funnel plots of proportions: exact binomial limits and an allowance for overdispersion.

Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med 2005;24:1185-1202
(reference/qi_metrics.md §4.2). Pure numpy/pandas: no scipy in the product.

Exact limits (Spiegelhalter's appendix, binomial case). For a unit of size n around a centre θ, let
F be the Binomial(n, θ) distribution function and, for a tail probability q (0.001, 0.025, 0.975,
0.999 for the 99.8% and 95% limits), r_q the smallest r with F(r) >= q. Then

    α = (F(r_q) - q) / (F(r_q) - F(r_q - 1))        limit_q(n) = (r_q - α) / n

clipped to [0, 1]. The interpolation α turns the step function r_q / n into a curve that is smooth
in n (and continuous where r_q jumps).

Overdispersion. z_i = (y_i - θ) / sqrt(θ(1 - θ) / n_i) for each of the k shown units; the z-scores
are Winsorised at their 10th and 90th percentiles (linear interpolation between order statistics,
numpy's default and R's type 7) and φ = Σ z_w² / k. Limits are widened only when φ > 1 and
k >= ``MIN_UNITS`` (10): with fewer units φ is too noisy to act on. Widening keeps the exact shape:
the distance of each exact limit from θ is multiplied by

    multiplicative:  sqrt(φ)
    additive:        sqrt(1 + τ² / s_i²),  s_i² = θ(1 - θ) / n_i, with the DerSimonian-Laird style
                     τ² = (k·φ - (k - 1)) / (Σw_i - Σw_i² / Σw_i),  w_i = 1 / s_i²

so without overdispersion (φ ≤ 1, or too few units, or ``"none"``) the limits are the exact ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

FUNNEL_LEVELS = (0.95, 0.998)
OVERDISPERSION = ("multiplicative", "additive", "none")
DEFAULT_OVERDISPERSION = "multiplicative"
MIN_UNITS = 10  # fewest shown units from which φ is acted on (with fewer it is reported only)
WINSOR = (10.0, 90.0)  # percentiles the z-scores are Winsorised at (Spiegelhalter's default)


def level_name(level: float) -> str:
    """The column suffix of a limit level: 0.95 -> "95", 0.998 -> "99.8"."""
    return f"{level * 100:g}"


# --- exact binomial limits --------------------------------------------------------------------


def _binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(X <= k) for k = 0..n, X ~ Binomial(n, p), from log-space ratios (no overflow at large n)."""
    k = np.arange(n, dtype=float)
    # log pmf(k+1) - log pmf(k) = log((n - k) / (k + 1)) + log(p / (1 - p))
    steps = np.log(n - k) - np.log(k + 1) + math.log(p / (1 - p))
    log_pmf = np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(log_pmf - log_pmf.max())
    return np.cumsum(pmf / pmf.sum())


def _quantile(cdf: np.ndarray, n: int, q: float) -> float:
    r = min(int(np.searchsorted(cdf, q, side="left")), n)  # smallest r with F(r) >= q
    below = cdf[r - 1] if r > 0 else 0.0
    alpha = (cdf[r] - q) / (cdf[r] - below)
    return float(min(max((r - alpha) / n, 0.0), 1.0))


def _limits_at(n: int, centre: float, tails: Sequence[float]) -> list[float]:
    if n <= 0:
        return [float("nan")] * len(tails)
    if centre <= 0.0 or centre >= 1.0:  # a degenerate distribution: no spread at all
        return [min(max(centre, 0.0), 1.0)] * len(tails)
    cdf = _binomial_cdf(n, centre)
    return [_quantile(cdf, n, q) for q in tails]


def exact_limit(n: int, centre: float, q: float) -> float:
    """The interpolated binomial q-quantile of a proportion from ``n`` cases, (r_q - α) / n, in [0, 1]."""
    return _limits_at(int(n), centre, [q])[0]


def exact_limits(n: ArrayLike, centre: float, levels: Sequence[float] = FUNNEL_LEVELS) -> pd.DataFrame:
    """Exact binomial limits at each size in ``n``: one ``lower_<level>``/``upper_<level>`` pair per level."""
    sizes = np.atleast_1d(np.asarray(n, dtype=float)).round().astype(int)
    names, tails = [], []
    for level in levels:
        names += [f"lower_{level_name(level)}", f"upper_{level_name(level)}"]
        tails += [(1 - level) / 2, 1 - (1 - level) / 2]
    rows = [_limits_at(size, centre, tails) for size in sizes.tolist()]
    out = pd.DataFrame(rows, columns=names, dtype=float)
    out.insert(0, "n", sizes)
    return out


# --- overdispersion ---------------------------------------------------------------------------


def z_scores(numerator: ArrayLike, denominator: ArrayLike, centre: float) -> np.ndarray:
    """Standardised Pearson residuals (y_i - θ) / sqrt(θ(1 - θ) / n_i) of each unit's proportion."""
    y = np.asarray(numerator, dtype=float)
    n = np.asarray(denominator, dtype=float)
    return (y / n - centre) / np.sqrt(centre * (1 - centre) / n)


def winsorise(z: ArrayLike, percentiles: tuple[float, float] = WINSOR) -> np.ndarray:
    """``z`` with values below / above the given percentiles set to those percentiles."""
    values = np.asarray(z, dtype=float)
    if values.size == 0:
        return values
    low, high = np.percentile(values, percentiles)
    return np.clip(values, low, high)


def estimate_phi(z: ArrayLike) -> float:
    """φ = Σ z_w² / k over the Winsorised z-scores (NaN without units)."""
    w = winsorise(z)
    return float(np.sum(w**2) / w.size) if w.size else float("nan")


def estimate_tau2(phi: float, denominator: ArrayLike, centre: float) -> float:
    """Between-unit variance τ² = max(0, (k·φ - (k - 1)) / (Σw - Σw² / Σw)), w_i = n_i / (θ(1 - θ))."""
    n = np.asarray(denominator, dtype=float)
    k = n.size
    if k < 2 or not math.isfinite(phi):
        return 0.0
    w = n / (centre * (1 - centre))
    spread = float(w.sum() - (w**2).sum() / w.sum())
    if spread <= 0:  # all units the same size and one unit: no information on τ²
        return 0.0
    return max(0.0, (k * phi - (k - 1)) / spread)


@dataclass(frozen=True)
class Dispersion:
    """How a funnel's limits allow for overdispersion: the method set, what was estimated and
    whether the limits were widened (only when φ > 1 from at least ``MIN_UNITS`` units)."""

    method: str = "none"
    units: int = 0
    phi: float = float("nan")
    tau2: float = 0.0

    @property
    def widened(self) -> bool:
        return (
            self.method != "none" and self.units >= MIN_UNITS and math.isfinite(self.phi) and self.phi > 1.0
        )

    def factor(self, n: ArrayLike, centre: float) -> np.ndarray:
        """What the distance of each exact limit from the centre is multiplied by, at sizes ``n``."""
        sizes = np.atleast_1d(np.asarray(n, dtype=float))
        if not self.widened:
            return np.ones(sizes.size)
        if self.method == "multiplicative":
            return np.full(sizes.size, math.sqrt(self.phi))
        variance = centre * (1 - centre) / sizes
        return np.sqrt(1 + self.tau2 / variance)

    def note(self, levels: Sequence[float] = FUNNEL_LEVELS) -> str:
        """The limits in words, for a chart's subtitle."""
        names = " and ".join(f"{level_name(level)}%" for level in sorted(levels, reverse=True))
        limits = f"{names} exact binomial limits"
        phi = f"φ = {self.phi:.2f}" if math.isfinite(self.phi) else "φ not estimated"
        if self.widened and self.method == "multiplicative":
            return f"{limits}, widened for overdispersion ({phi}, multiplicative, Spiegelhalter 2005)"
        if self.widened:
            return (
                f"{limits}, widened for overdispersion ({phi}, τ² = {self.tau2:.4f}, additive random effects, "
                "Spiegelhalter 2005)"
            )
        if self.method == "none":
            return f"{limits}, no allowance for overdispersion ({phi})"
        if self.units < MIN_UNITS:
            return (
                f"{limits}; too few units to estimate overdispersion ({self.units}, fewer than {MIN_UNITS})"
            )
        return f"{limits}; no overdispersion found ({phi} ≤ 1)"


def estimate_dispersion(
    numerator: ArrayLike, denominator: ArrayLike, centre: float, method: str = DEFAULT_OVERDISPERSION
) -> Dispersion:
    """φ (and τ² for ``"additive"``) of the units around ``centre``."""
    if method not in OVERDISPERSION:
        raise ValueError(f"overdispersion must be one of {', '.join(OVERDISPERSION)}, not {method!r}")
    n = np.asarray(denominator, dtype=float)
    if n.size == 0 or not 0.0 < centre < 1.0:
        return Dispersion(method, int(n.size))
    phi = estimate_phi(z_scores(numerator, n, centre))
    tau2 = estimate_tau2(phi, n, centre) if method == "additive" else 0.0
    return Dispersion(method, int(n.size), phi, tau2)


# --- limits and the funnel frame --------------------------------------------------------------


def funnel_limits(
    n: ArrayLike,
    centre: float,
    levels: Sequence[float] = FUNNEL_LEVELS,
    dispersion: Dispersion | None = None,
) -> pd.DataFrame:
    """Limits at each size in ``n``: the exact binomial ones, widened as ``dispersion`` says, in [0, 1]."""
    out = exact_limits(n, centre, levels)
    factor = (dispersion or Dispersion()).factor(out["n"].to_numpy(), centre)
    for column in out.columns.drop("n"):
        out[column] = np.clip(centre + factor * (out[column] - centre), 0.0, 1.0)
    return out


def funnel(
    df: pd.DataFrame,
    numerator: str = "numerator",
    denominator: str = "denominator",
    *,
    overall: float | None = None,
    target: float | None = None,
    levels: Sequence[float] = FUNNEL_LEVELS,
    overdispersion: str = DEFAULT_OVERDISPERSION,
) -> pd.DataFrame:
    """Funnel frame: each unit's p, the limits at its n around the overall proportion, where it falls.

    ``overall`` (the centre line) defaults to the pooled proportion of the units. A ``target`` is a
    reference line only: it gets a ``target`` column when given and moves no limit. Adds
    ``outside_<level>`` flags and the dispersion columns ``overdispersion`` (the method set),
    ``phi``, ``tau2`` and ``limits_widened``.
    """
    out = df[df[denominator] > 0].copy()
    centre = float(out[numerator].sum() / out[denominator].sum()) if overall is None else overall
    out["p"] = out[numerator] / out[denominator]
    out["overall"] = centre
    if target is not None:
        out["target"] = float(target)
    dispersion = estimate_dispersion(out[numerator], out[denominator], centre, overdispersion)
    limits = funnel_limits(out[denominator].to_numpy(), centre, levels, dispersion).drop(columns="n")
    limits.index = out.index
    out = pd.concat([out, limits], axis=1)
    for level in levels:
        name = level_name(level)
        out[f"outside_{name}"] = (out["p"] < out[f"lower_{name}"]) | (out["p"] > out[f"upper_{name}"])
    out["overdispersion"] = dispersion.method
    out["phi"] = dispersion.phi
    out["tau2"] = dispersion.tau2 if dispersion.method == "additive" else float("nan")
    out["limits_widened"] = dispersion.widened
    return out
