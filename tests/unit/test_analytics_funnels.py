"""Funnel limits on hand-made units: exact binomial limits, φ after Winsorisation, τ², targets."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from sicdoc.analytics.funnels import (
    MIN_UNITS,
    Dispersion,
    estimate_dispersion,
    estimate_phi,
    estimate_tau2,
    exact_limit,
    exact_limits,
    funnel,
    funnel_limits,
    winsorise,
    z_scores,
)

# Eleven units of 100 around 0.2 (s = sqrt(0.2 * 0.8 / 100) = 0.04) with z = -4, -2, ..., 2, 4:
# numerator = 20 + 4z. The z-scores sum to 0, so the pooled proportion is exactly 0.2.
Z11 = [-4, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 4]
ELEVEN = pd.DataFrame({"numerator": [int(20 + 4 * z) for z in Z11], "denominator": [100] * 11})
# Twenty units of 400 around 0.25 (s² = 0.25 * 0.75 / 400, 8.66 cases) spread well beyond binomial.
D20 = [-30, -22, -18, -15, -12, -10, -7, -5, -3, -1, 1, 3, 5, 7, 10, 12, 15, 18, 22, 30]
TWENTY = pd.DataFrame({"numerator": [100 + d for d in D20], "denominator": [400] * 20})


def scipy_limit(n: int, p: float, q: float) -> float:
    """The same interpolated quantile from scipy's binomial (the product does not use scipy)."""
    r = binom.ppf(q, n, p)
    alpha = (binom.cdf(r, n, p) - q) / binom.pmf(r, n, p)
    return min(max((r - alpha) / n, 0.0), 1.0)


# --- exact limits -----------------------------------------------------------------------------


def test_exact_limits_for_four_cases_at_one_half_by_hand():
    # Binomial(4, 0.5): F = 1/16, 5/16, 11/16, 15/16, 1.
    # Upper 97.5%: r = 4 (15/16 < 0.975), α = (1 - 0.975) / (1/16) = 0.4, limit (4 - 0.4) / 4 = 0.9.
    assert exact_limit(4, 0.5, 0.975) == pytest.approx(0.9)
    # Upper 99.9%: α = 0.001 * 16 = 0.016, limit (4 - 0.016) / 4 = 0.996.
    assert exact_limit(4, 0.5, 0.999) == pytest.approx(0.996)
    # Lower 2.5%: r = 0, α = (1/16 - 0.025) * 16 = 0.6, (0 - 0.6) / 4 < 0: clipped to 0.
    assert exact_limit(4, 0.5, 0.025) == 0.0
    limits = exact_limits([4], 0.5)
    assert limits.loc[0, "upper_95"] == pytest.approx(0.9) and limits.loc[0, "upper_99.8"] == pytest.approx(
        0.996
    )


def test_exact_upper_limit_for_ten_cases_at_one_fifth_by_hand():
    # Binomial(10, 0.2): F(4) = 0.967207, F(5) = 0.993631, P(5) = 0.026424.
    # r = 5, α = (0.993631 - 0.975) / 0.026424 = 0.70508, limit (5 - 0.70508) / 10 = 0.429492.
    assert exact_limit(10, 0.2, 0.975) == pytest.approx(0.429492, abs=2e-6)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 100, 1000, 20000])
@pytest.mark.parametrize("p", [0.03, 0.2, 0.5, 0.9])
def test_exact_limits_agree_with_scipy(n, p):
    limits = exact_limits([n], p)
    for level, name in ((0.95, "95"), (0.998, "99.8")):
        tail = (1 - level) / 2
        assert limits.loc[0, f"lower_{name}"] == pytest.approx(scipy_limit(n, p, tail), abs=1e-9)
        assert limits.loc[0, f"upper_{name}"] == pytest.approx(scipy_limit(n, p, 1 - tail), abs=1e-9)


def test_exact_limits_are_smooth_in_n_where_the_plain_quantile_steps():
    sizes = np.arange(20, 201)
    upper = exact_limits(sizes, 0.2)["upper_95"].to_numpy()
    steps = binom.ppf(0.975, sizes, 0.2) / sizes
    assert np.abs(np.diff(upper)).max() < 0.25 * np.abs(np.diff(steps)).max()
    assert np.all(np.diff(upper) < 0.001)  # narrowing as n grows (no saw-tooth up-jumps)


def test_degenerate_centres_and_empty_units():
    assert exact_limits([50], 0.0).iloc[0, 1:].tolist() == [0.0] * 4
    assert exact_limits([50], 1.0).iloc[0, 1:].tolist() == [1.0] * 4
    assert math.isnan(exact_limit(0, 0.3, 0.975))


# --- overdispersion ---------------------------------------------------------------------------


def test_z_scores_and_winsorisation_by_hand():
    z = z_scores(ELEVEN["numerator"], ELEVEN["denominator"], 0.2)
    assert z == pytest.approx(Z11)
    # Eleven values: the 10th percentile is the 2nd smallest (-2), the 90th the 10th (2).
    assert winsorise(z) == pytest.approx([-2, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2])


def test_phi_by_hand():
    # Σ z_w² = 4 + 4 + 2.25 + 1 + 0.25 + 0 + 0.25 + 1 + 2.25 + 4 + 4 = 23; φ = 23 / 11.
    assert estimate_phi(Z11) == pytest.approx(23 / 11)
    # Twenty units: percentiles at position 1 + 0.1 * 19 = 2.9, between -22 and -18: -18.4 (cases).
    # Σ d_w² = 2 * (2 * 18.4² + 18² + 15² + 12² + 10² + 7² + 5² + 3² + 1²) = 3108.24; φ = 3108.24 / 75 / 20.
    z = z_scores(TWENTY["numerator"], TWENTY["denominator"], 0.25)
    assert estimate_phi(z) == pytest.approx(3108.24 / 75 / 20)


def test_tau2_by_hand():
    # w = 1 / 0.0016 = 625 each; Σw - Σw²/Σw = 6875 - 625 = 6250; k·φ - (k - 1) = 23 - 10 = 13.
    assert estimate_tau2(23 / 11, [100] * 11, 0.2) == pytest.approx(13 / 6250)
    # Twenty of 400 at 0.25: w = 6400 / 3; Σw - w = 19w = 40533.33; 20·φ - 19 = 22.4432.
    assert estimate_tau2(3108.24 / 1500, [400] * 20, 0.25) == pytest.approx(22.4432 / 40533.3333, rel=1e-6)
    # Unequal sizes: w = 625, 2500 (n = 100, 400 at 0.2); Σw = 3125, Σw² / Σw = 2125, so 1000.
    # φ = 3: (2·3 - 1) / 1000 = 0.005.
    assert estimate_tau2(3.0, [100, 400], 0.2) == pytest.approx(0.005)
    assert estimate_tau2(0.5, [100, 400], 0.2) == 0.0  # k·φ < k - 1: no between-unit variance


def test_multiplicative_limits_widen_the_exact_distance_by_root_phi():
    exact = exact_limits([100], 0.2)
    widened = funnel_limits([100], 0.2, dispersion=Dispersion("multiplicative", 11, 23 / 11))
    for column in ("lower_95", "upper_95", "lower_99.8", "upper_99.8"):
        expected = 0.2 + math.sqrt(23 / 11) * (exact.loc[0, column] - 0.2)
        assert widened.loc[0, column] == pytest.approx(max(expected, 0.0))
    # By hand at n = 100: the exact upper 95% limit 0.276476 sits 0.076476 above 0.2; times 1.44600.
    assert widened.loc[0, "upper_95"] == pytest.approx(0.2 + 0.076476 * 1.446003, abs=1e-5)


def test_additive_limits_widen_by_root_one_plus_tau2_over_s2():
    tau2 = 13 / 6250
    exact = exact_limits([100, 400], 0.2)
    widened = funnel_limits([100, 400], 0.2, dispersion=Dispersion("additive", 11, 23 / 11, tau2))
    for i, n in enumerate((100, 400)):
        factor = math.sqrt(1 + tau2 / (0.2 * 0.8 / n))  # sqrt(2.3) at 100, sqrt(6.2) at 400
        expected = 0.2 + factor * (exact.loc[i, "upper_95"] - 0.2)
        assert widened.loc[i, "upper_95"] == pytest.approx(expected)
    assert math.sqrt(1 + tau2 / 0.0016) == pytest.approx(math.sqrt(2.3))


def test_overdispersed_units_flagged_by_plain_limits_are_few_after_adjustment():
    plain = funnel(TWENTY, overdispersion="none")
    assert plain["overall"].iloc[0] == pytest.approx(0.25)
    # |z| of 3.46, 2.54 and 2.08 on each side are beyond 95%; 3.46 beyond 99.8%.
    assert plain["outside_95"].sum() == 6 and plain["outside_99.8"].sum() == 2
    # The normal approximation flags the same six: the "17 of 28" pattern.
    z = np.abs(z_scores(TWENTY["numerator"], TWENTY["denominator"], 0.25))
    assert (z > 1.96).sum() == 6
    for method in ("multiplicative", "additive"):
        adjusted = funnel(TWENTY, overdispersion=method)
        assert adjusted["limits_widened"].all() and adjusted["phi"].iloc[0] == pytest.approx(2.07216)
        # Only the two extreme units stay outside 95%; none outside 99.8%.
        assert adjusted["outside_95"].sum() == 2 and adjusted["outside_99.8"].sum() == 0
        assert list(adjusted.index[adjusted["outside_95"]]) == [0, 19]
    assert funnel(TWENTY, overdispersion="additive")["tau2"].iloc[0] == pytest.approx(0.000553697, rel=1e-5)


def test_limits_are_not_widened_with_too_few_units_phi_at_most_one_or_none():
    few = estimate_dispersion(TWENTY["numerator"][: MIN_UNITS - 1], [400] * (MIN_UNITS - 1), 0.25)
    assert few.phi > 1 and not few.widened
    assert "too few units to estimate overdispersion (9, fewer than 10)" in few.note()
    # Every unit exactly on the centre: φ = 0.
    calm = estimate_dispersion([100] * 12, [400] * 12, 0.25)
    assert calm.phi == 0.0 and not calm.widened and "no overdispersion found" in calm.note()
    off = estimate_dispersion(TWENTY["numerator"], TWENTY["denominator"], 0.25, "none")
    assert not off.widened and "no allowance for overdispersion (φ = 2.07)" in off.note()
    assert funnel_limits([400], 0.25, dispersion=off).equals(exact_limits([400], 0.25))
    with pytest.raises(ValueError, match="overdispersion must be one of"):
        estimate_dispersion([1], [10], 0.2, "random")


def test_the_note_names_the_method_and_phi():
    note = Dispersion("multiplicative", 28, 2.4).note()
    assert note == (
        "99.8% and 95% exact binomial limits, widened for overdispersion "
        "(φ = 2.40, multiplicative, Spiegelhalter 2005)"
    )
    additive = Dispersion("additive", 28, 2.4, 0.0021).note()
    assert "τ² = 0.0021, additive random effects" in additive


# --- centre line and target -------------------------------------------------------------------


def test_a_funnel_without_a_target_has_the_overall_proportion_and_no_target_column():
    out = funnel(ELEVEN)
    assert "target" not in out.columns
    assert out["overall"].iloc[0] == pytest.approx(0.2)


def test_a_configured_target_is_a_reference_line_that_moves_no_limit():
    without, with_target = funnel(ELEVEN), funnel(ELEVEN, target=0.3)
    assert (with_target["target"] == 0.3).all() and (with_target["overall"] == without["overall"]).all()
    limits = ["lower_95", "upper_95", "lower_99.8", "upper_99.8", "outside_95", "outside_99.8"]
    pd.testing.assert_frame_equal(with_target[limits], without[limits])


# --- the panel tables -------------------------------------------------------------------------


def clinician_panel(**options) -> pd.DataFrame:
    from datetime import date

    from sicdoc.analytics.clinicians import ClinicianLabels
    from sicdoc.analytics.panels import PanelContext, panel_table
    from sicdoc.analytics.scope import parse_qi_scope
    from tests.unit.clinician_decedents import KEY, decedents

    scope = parse_qi_scope({"as_of": "2026-06-30", "from": "2024-01-01"}, today=date(2026, 7, 1))
    ctx = PanelContext(decedents(45), scope, "test", clinicians=ClinicianLabels("pseudonym", KEY))
    return panel_table(ctx, {"id": "c", "kind": "clinician_funnel", "title": "C", **options})


def test_a_funnel_panel_has_a_target_column_only_when_its_definition_sets_one():
    from sicdoc.dashboards.download import table_csv

    plain = clinician_panel()
    assert "target" not in plain.columns and "overall" in plain.columns
    assert plain["overall"].iloc[0] == pytest.approx(1.0)  # every conversation 60 days before death
    assert (plain["overdispersion"] == "multiplicative").all() and not plain["limits_widened"].any()
    aimed = clinician_panel(target=0.5, overdispersion="additive")
    assert (aimed["target"] == 0.5).all() and (aimed["overdispersion"] == "additive").all()
    header = table_csv(aimed).splitlines()[0].split(",")
    assert header[:6] == ["group", "numerator", "denominator", "rate", "overall", "target"]
    assert "target" not in table_csv(plain).splitlines()[0].split(",")
    assert {"phi", "tau2", "limits_widened", "lower_99.8", "outside_95"} <= set(header)
