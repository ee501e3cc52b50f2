"""The difference of two independent proportions: an interval and a test, in the standard library.

Interval: Newcombe's hybrid score interval (Newcombe RG, Stat Med 1998;17:873-890, method 10),
built from the Wilson score interval of each proportion. Test: the two-sided two-proportion z-test
with the pooled proportion (the Pearson chi-square test of the 2x2 table without continuity
correction); when an expected cell count is below 5, Fisher's exact test instead (two-sided: the
sum of the probabilities of the tables no more likely than the one observed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)
INTERVAL_METHOD = "Newcombe hybrid score (Wilson)"
Z_TEST = "two-proportion z-test"
FISHER = "Fisher exact"
MIN_EXPECTED = 5.0


def wilson(events: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of events/n."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = events / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (x1/n1 minus x2/n2)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lower, upper


def z_test(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when both are 0% or 100%)."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return 2 * (1 - NormalDist().cdf(abs(z)))


def _log_hypergeom(k: int, n1: int, n2: int, total_events: int) -> float:
    def log_comb(n: int, r: int) -> float:
        return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)

    return log_comb(n1, k) + log_comb(n2, total_events - k) - log_comb(n1 + n2, total_events)


def fisher_exact(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test of the 2x2 table [[x1, n1-x1], [x2, n2-x2]]."""
    events = x1 + x2
    low, high = max(0, events - n2), min(n1, events)
    observed = _log_hypergeom(x1, n1, n2, events)
    total = 0.0
    for k in range(low, high + 1):
        log_p = _log_hypergeom(k, n1, n2, events)
        if log_p <= observed + 1e-7:  # relative tolerance, as R and scipy use
            total += math.exp(log_p)
    return min(1.0, total)


@dataclass(frozen=True)
class Difference:
    difference: float
    lower: float
    upper: float
    interval: str
    p_value: float
    test: str


def compare(x1: int, n1: int, x2: int, n2: int) -> Difference:
    """p1 - p2 with its 95% Newcombe interval and a two-sided p-value (Fisher's exact test when an
    expected count of the 2x2 table is below 5, the z-test otherwise)."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both denominators must be positive")
    lower, upper = newcombe(x1, n1, x2, n2)
    events, total = x1 + x2, n1 + n2
    expected = [n * e / total for n in (n1, n2) for e in (events, total - events)]
    small = min(expected) < MIN_EXPECTED
    p = fisher_exact(x1, n1, x2, n2) if small else z_test(x1, n1, x2, n2)
    return Difference(x1 / n1 - x2 / n2, lower, upper, INTERVAL_METHOD, p, FISHER if small else Z_TEST)
