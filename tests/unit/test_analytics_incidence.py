"""Aalen-Johansen cumulative incidence on tied whole-day data, checked by hand and against sksurv."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sksurv.nonparametric import cumulative_incidence_competing_risks

from sicdoc.analytics.incidence import (
    aalen_johansen,
    competing_risk_data,
    cumulative_incidence,
    value_at,
)

# Nine patients, codes 0 censored / 1 referral / 2 death, times in whole days (ties at 40):
#   A 0:ref  B 10:ref  C 20:death  D 40:ref  E 40:death  J 50:death  F 60:cens  G 100:ref  H 365:cens
TIMES = [0, 10, 20, 40, 40, 50, 60, 100, 365]
EVENTS = [1, 1, 2, 1, 2, 2, 0, 1, 0]


def test_aalen_johansen_by_hand_with_ties_and_time_zero():
    curve = aalen_johansen(TIMES, EVENTS).set_index("time")
    # t=0:   n=9, 1 referral       F1 = 1/9                      S = 8/9
    # t=10:  n=8, 1 referral       F1 = 1/9 + 8/9*1/8 = 2/9      S = 7/9
    # t=20:  n=7, 1 death          F2 = 7/9*1/7 = 1/9            S = 6/9
    # t=40:  n=6, 1 ref + 1 death  F1 = 2/9 + 6/9*1/6 = 3/9, F2 = 2/9, S = 6/9*4/6 = 4/9
    # t=50:  n=4, 1 death          F2 = 2/9 + 4/9*1/4 = 3/9      S = 3/9
    # t=60:  n=3, censored         unchanged
    # t=100: n=2, 1 referral       F1 = 3/9 + 3/9*1/2 = 1/2      S = 1/6
    assert curve.loc[0, "cif_event"] == pytest.approx(1 / 9)
    assert curve.loc[10, "cif_event"] == pytest.approx(2 / 9)
    assert curve.loc[40, "cif_event"] == pytest.approx(3 / 9)
    assert curve.loc[40, "cif_death"] == pytest.approx(2 / 9)
    assert curve.loc[50, "cif_death"] == pytest.approx(3 / 9)
    assert curve.loc[100, "cif_event"] == pytest.approx(1 / 2)
    assert curve.loc[100, "survival"] == pytest.approx(1 / 6)
    assert curve.loc[40, "at_risk"] == 6
    # The three curves always add up: F1 + F2 + S = 1.
    assert np.allclose(curve["cif_event"] + curve["cif_death"] + curve["survival"], 1.0)


def test_competing_risk_differs_from_one_minus_kaplan_meier():
    # 1 - KM treats deaths as censoring. KM of "no referral yet", by hand:
    #   t=0 n=9 d=1 -> 8/9;  t=10 n=8 d=1 -> 7/9;  (C censored at 20)
    #   t=40 n=6 d=1 (E's death at 40 leaves after the event) -> 7/9 * 5/6 = 35/54
    #   (J at 50, F at 60 censored)  t=100 n=2 d=1 -> 35/54 * 1/2 = 35/108
    km_90, km_180 = 35 / 54, 35 / 108
    curve = aalen_johansen(TIMES, EVENTS)
    # 1 - KM says 19/54 = 0.352 by day 90 and 73/108 = 0.676 by day 180; the competing-risk answer
    # is 1/3 and 1/2: 1 - KM overstates referral because the dead can no longer be referred.
    assert 1 - km_90 == pytest.approx(19 / 54)
    assert value_at(curve, "cif_event", 90) == pytest.approx(1 / 3)
    assert value_at(curve, "cif_event", 180) == pytest.approx(1 / 2)
    assert 1 - km_180 - value_at(curve, "cif_event", 180) == pytest.approx(73 / 108 - 1 / 2)
    # And our KM arithmetic matches the library's KM, so the comparison is fair.
    from sksurv.nonparametric import kaplan_meier_estimator

    t, s = kaplan_meier_estimator(np.array(EVENTS) == 1, np.array(TIMES, dtype=float))
    assert s[t <= 90][-1] == pytest.approx(km_90)
    assert s[t <= 180][-1] == pytest.approx(km_180)


@pytest.mark.parametrize(
    ("times", "events"),
    [
        (TIMES, EVENTS),
        # Heavy ties across causes and censoring on the same day, time-0 events of both kinds.
        ([0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 5, 5, 8], [1, 2, 0, 1, 1, 2, 0, 2, 0, 1, 2, 0, 1, 0, 2]),
        ([7] * 6 + [14] * 6 + [30] * 4, [1, 2, 0, 1, 2, 0, 1, 1, 2, 2, 0, 0, 1, 2, 0, 1]),
    ],
)
def test_equals_scikit_survival_on_tied_data(times, events):
    ours = aalen_johansen(times, events)
    uniq, cif = cumulative_incidence_competing_risks(np.array(events), np.array(times, dtype=float))
    assert np.array_equal(ours["time"].to_numpy(), uniq)
    assert np.allclose(ours["cif_event"].to_numpy(), cif[1])
    assert np.allclose(ours["cif_death"].to_numpy(), cif[2])


def test_value_at_beyond_follow_up_is_unknown_unless_everyone_had_an_event():
    curve = aalen_johansen([5, 10], [1, 0])
    assert value_at(curve, "cif_event", 9) == pytest.approx(0.5)
    assert value_at(curve, "cif_event", 30) is None  # last follow-up at 10, someone still at risk
    assert value_at(curve, "cif_event", 4) == 0.0
    done = aalen_johansen([5, 10], [1, 2])  # nobody left at risk: the curve is final
    assert value_at(done, "cif_event", 365) == pytest.approx(0.5)


def test_degenerate_cohorts_still_estimate():
    # Nobody died: sksurv's competing-risk function refuses this; incidence = 1 - KM = 2/4 at day 20.
    only_referrals = pd.DataFrame({"time": [3, 20, 25, 40], "event": [1, 1, 0, 0]})
    res = cumulative_incidence(only_referrals, [30])
    assert res[30]["estimate"] == pytest.approx(0.5)
    assert res[30]["lower"] < 0.5 < res[30]["upper"]
    # Nobody referred: incidence 0 and no interval.
    only_deaths = pd.DataFrame({"time": [3, 20, 40], "event": [2, 0, 0]})
    res = cumulative_incidence(only_deaths, [30])
    assert res[30]["estimate"] == 0.0
    assert res[30]["lower"] is None
    # Nobody at all.
    empty = pd.DataFrame({"time": pd.Series(dtype=int), "event": pd.Series(dtype=int)})
    assert cumulative_incidence(empty, [30])[30] == {
        "estimate": None,
        "lower": None,
        "upper": None,
        "events": 0,
        "n": 0,
    }


def test_intervals_come_from_scikit_survival_when_both_causes_occur():
    data = pd.DataFrame({"time": TIMES, "event": EVENTS})
    res = cumulative_incidence(data, [90])
    _, _, ci = cumulative_incidence_competing_risks(np.array(EVENTS), np.array(TIMES), conf_type="log-log")
    # Day 90 falls on the step at day 60, position 5 of the distinct times 0,10,20,40,50,60,100,365.
    assert res[90]["lower"] == pytest.approx(ci[1, 0, 5])
    assert res[90]["upper"] == pytest.approx(ci[1, 1, 5])
    assert res[90]["events"] == 3 and res[90]["n"] == 9


def test_follow_up_past_the_last_horizon_does_not_change_the_intervals():
    # A random cohort followed for years; the intervals at 30 and 90 days must be those sksurv
    # gives on the whole follow-up, although only the first 90 days are handed to it.
    rng = np.random.default_rng(7)
    times = rng.integers(0, 1500, size=400)
    events = rng.choice([0, 1, 2], size=400, p=[0.3, 0.4, 0.3])
    res = cumulative_incidence(pd.DataFrame({"time": times, "event": events}), [30, 90])
    uniq, _, ci = cumulative_incidence_competing_risks(events, times.astype(float), conf_type="log-log")
    for h in (30, 90):
        at = np.flatnonzero(uniq <= h)[-1]
        assert res[h]["lower"] == pytest.approx(ci[1, 0, at])
        assert res[h]["upper"] == pytest.approx(ci[1, 1, at])


def test_negative_times_are_refused():
    with pytest.raises(ValueError, match="negative"):
        aalen_johansen([-1, 3], [1, 0])


def test_competing_risk_data_rules():
    d = pd.to_datetime
    index = d(pd.Series(["2025-01-01"] * 5))
    event = d(pd.Series(["2025-01-11", "2025-01-20", None, "2025-03-01", "2026-02-01"]))
    death = d(pd.Series(["2025-01-11", "2025-01-10", "2025-02-01", None, None]))
    out = competing_risk_data(index, event, death, date(2025, 12, 31))
    # referral on the day of death is a referral (10 days); a referral after death is not (death at 9);
    # no referral, died at 31; referral at 59; a referral after the cut-off is unseen: censored at 364.
    assert out["event"].tolist() == [1, 2, 2, 1, 0]
    assert out["time"].tolist() == [10, 9, 31, 59, 364]


@settings(max_examples=150, deadline=None)
@given(
    cohort=st.lists(st.tuples(st.integers(0, 60), st.sampled_from([0, 1, 1, 2])), min_size=1, max_size=80),
    deaths=st.booleans(),
)
def test_intervals_equal_scikit_survival_on_random_tied_cohorts(cohort, deaths):
    """Aalen's variance and the log-log intervals are ours; scikit-survival (test extras only) checks them."""
    from sksurv.nonparametric import kaplan_meier_estimator

    times = np.array([t for t, _ in cohort], dtype=float)
    events = np.array([e if deaths or e != 2 else 0 for _, e in cohort])
    if not (events == 1).any() or (deaths and not (events == 2).any()):
        return  # no interval, or sksurv's competing-risk function refuses a cause nobody had
    horizons = [0, 7, 30, 61]
    res = cumulative_incidence(pd.DataFrame({"time": times, "event": events}), horizons)
    if deaths:
        uniq, _, ci = cumulative_incidence_competing_risks(events, times, conf_type="log-log")
        lower, upper = ci[1, 0], ci[1, 1]
    else:
        uniq, _, km = kaplan_meier_estimator(events == 1, times, conf_type="log-log")
        lower, upper = 1.0 - km[1], 1.0 - km[0]
    for h in horizons:
        upto = np.flatnonzero(uniq <= h)
        if upto.size == 0 or res[h]["estimate"] is None:
            assert res[h]["lower"] is None
            continue
        assert res[h]["lower"] == pytest.approx(lower[upto[-1]], rel=1e-9, abs=1e-12)
        assert res[h]["upper"] == pytest.approx(upper[upto[-1]], rel=1e-9, abs=1e-12)
