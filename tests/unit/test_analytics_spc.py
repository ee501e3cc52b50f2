"""SPC charts and rules on hand-made series that do and do not signal."""

import math

import pandas as pd
import pytest

from sicdoc.analytics.spc import anhoej, binom_quantile, mdc_rules, p_chart, xmr

WIDE = {"cl": 0.0, "lcl": -10.0, "ucl": 10.0, "lwl": -9.0, "uwl": 9.0}


def flags(values, **limits):
    return mdc_rules(values, **{**WIDE, **limits})


def test_p_chart_limits_by_hand():
    df = pd.DataFrame(
        {
            "month": ["2025-01", "2025-02", "2025-03", "2025-04"],
            "numerator": [10, 20, 30, 0],
            "denominator": [100, 100, 100, 0],
        }
    )
    chart = p_chart(df)
    # The 0/0 month is no point. p = 60/300 = 0.2; sigma = sqrt(0.2 * 0.8 / 100) = 0.04;
    # limits 0.2 ± 0.12 = 0.08 .. 0.32; 2-sigma lines 0.12 .. 0.28.
    assert chart["month"].tolist() == ["2025-01", "2025-02", "2025-03"]
    assert chart["cl"].iloc[0] == pytest.approx(0.2)
    assert chart["lcl"].iloc[0] == pytest.approx(0.08)
    assert chart["ucl"].iloc[0] == pytest.approx(0.32)
    assert chart["uwl"].iloc[0] == pytest.approx(0.28)
    assert not chart["outside"].any()


def test_p_chart_point_outside_and_clipping():
    df = pd.DataFrame({"numerator": [20, 25, 30, 50, 1], "denominator": [100, 100, 100, 100, 2]})
    chart = p_chart(df)
    # p = 126/402 = 0.3134; sigma(n=100) = sqrt(0.3134 * 0.6866 / 100) = 0.0464;
    # limits 0.174 .. 0.453: 0.20, 0.25, 0.30 inside, 0.50 above.
    p = 126 / 402
    assert chart["ucl"].iloc[3] == pytest.approx(p + 3 * math.sqrt(p * (1 - p) / 100))
    assert chart["outside"].tolist() == [False, False, False, True, False]
    # n = 2: p ± 3 * 0.328 runs past 0 and 1 and is clipped.
    assert chart["lcl"].iloc[4] == 0.0 and chart["ucl"].iloc[4] == 1.0


def test_xmr_limits_and_signal():
    chart = xmr([10, 12, 11, 13, 12, 30])
    # mean 88/6 = 14.667; moving ranges 2, 1, 2, 1, 18 -> mean 4.8; UCL = 14.667 + 2.66 * 4.8 = 27.435.
    assert chart["cl"].iloc[0] == pytest.approx(88 / 6)
    assert chart["ucl"].iloc[0] == pytest.approx(88 / 6 + 2.66 * 4.8)
    assert chart["lcl"].iloc[0] == pytest.approx(88 / 6 - 2.66 * 4.8)
    assert chart["outside"].tolist() == [False] * 5 + [True]


def test_xmr_stable_series_does_not_signal():
    chart = xmr([10, 12, 11, 13, 12, 11])
    # mean 11.5, moving ranges 2, 1, 2, 1, 1 -> 1.4; limits 11.5 ± 3.724.
    assert chart["ucl"].iloc[0] == pytest.approx(11.5 + 2.66 * 1.4)
    assert not chart["special_cause"].any()


def test_shift_of_seven_on_one_side():
    assert flags([1, 1, 1, 1, 1, 1, 1, -1])["shift"].tolist() == [True] * 7 + [False]
    assert flags([-2, -1, -3, -1, -1, -2, -1])["shift"].all()
    # Six is not enough, and a point on the centre line breaks the run.
    assert not flags([1, 1, 1, 1, 1, 1, -1, 1])["shift"].any()
    assert not flags([1, 1, 1, 0, 1, 1, 1, 1])["shift"].any()


def test_trend_of_seven():
    assert flags([-3, -2, -1, 0, 1, 2, 3])["trend"].all()
    assert flags([9, 8, 7, 6, 5, 4, 3, 10])["trend"].tolist() == [True] * 7 + [False]
    # Six rising points, or a repeated value, is no trend.
    assert not flags([1, 2, 3, 4, 5, 6, 1])["trend"].any()
    assert not flags([1, 2, 3, 4, 4, 5, 6, 7])["trend"].any()


def test_two_of_three_beyond_two_sigma():
    limits = {"lwl": -2.0, "uwl": 2.0, "lcl": -3.0, "ucl": 3.0}
    # Points 1 and 3 are beyond +2 sigma within three consecutive points: only those are flagged.
    assert flags([0, 2.5, 0.5, 2.6, 0], **limits)["two_of_three"].tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]
    # Too far apart, or on opposite sides: no signal.
    assert not flags([2.5, 0, 0, 2.5], **limits)["two_of_three"].any()
    assert not flags([2.5, 0, -2.5], **limits)["two_of_three"].any()


def test_varying_limits_per_point():
    out = mdc_rules([0.5, 0.5], cl=[0.2, 0.2], lcl=[0.0, 0.0], ucl=[0.4, 0.6], lwl=[0.1, 0.1], uwl=[0.3, 0.5])
    assert out["outside"].tolist() == [True, False]


@pytest.mark.parametrize("n", [1, 2, 5, 9, 10, 11, 19, 20, 30, 50, 100])
def test_binom_quantile_matches_scipy(n):
    stats = pytest.importorskip("scipy.stats")
    assert binom_quantile(0.05, n, 0.5) == int(stats.binom.ppf(0.05, n, 0.5))


def test_binom_quantile_by_hand():
    # Binomial(11, 0.5): P(X <= 2) = (1 + 11 + 55)/2048 = 0.033; P(X <= 3) = 232/2048 = 0.113 -> 3.
    assert binom_quantile(0.05, 11) == 3
    # Binomial(9, 0.5): P(X <= 1) = 10/512 = 0.020; P(X <= 2) = 46/512 = 0.090 -> 2.
    assert binom_quantile(0.05, 9) == 2


def test_anhoej_too_few_crossings():
    # Six below then six above the median: 1 crossing; n = 12 needs at least qbinom(0.05, 11) = 3.
    res = anhoej([1, 2, 1, 2, 1, 2, 8, 9, 8, 9, 8, 9])
    assert res["crossings"] == 1 and res["crossings_min"] == 3
    # Longest run 6 is within round(log2(12) + 3) = round(6.58) = 7.
    assert res["longest_run"] == 6 and res["longest_run_max"] == 7
    assert res["few_crossings"] and not res["long_run"] and res["signal"]


def test_anhoej_unusually_long_run():
    # 20 points around 0: a run of 8 above, the rest alternating. Limit round(log2(20) + 3) = 7.
    values = [1, -1] * 6 + [1] * 8
    res = anhoej(values, centre=0)
    assert res["n_useful"] == 20 and res["longest_run"] == 8
    assert res["longest_run_max"] == 7 and res["long_run"] and res["signal"]


def test_anhoej_random_looking_series_does_not_signal():
    res = anhoej([5, 7, 4, 8, 6, 3, 7, 5, 8, 4, 6, 7, 3, 5])
    assert not res["signal"]


def test_anhoej_skips_points_on_the_centre():
    res = anhoej([1, 0, 0, -1, 1, 0, -1], centre=0)
    assert res["n_useful"] == 4 and res["crossings"] == 3
