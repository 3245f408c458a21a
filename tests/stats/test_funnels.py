"""Funnel-plot control limits: PHE reference values and the defining round trips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from caremodels.stats import (
    exact_poisson_count_limits,
    funnel_limits_proportion,
    funnel_limits_rate,
    proportion_ci_arrays,
)

# PHEindicatormethods tests/testthat/testdata_funnel_rate_outputs_2.csv (crude rate per 100,000,
# baseline 114.8591735). Each row is a whole number of events and the rates at which that many
# events would sit on the 95% (2s) and 99.8% (3s) limits; the matching denominator is
# events / limit * 100,000. PHE finds them by bisection on a transformed scale with step 1e-7,
# which is good to about 1e-6 relative except for a single event at 99.8%, where the expected
# count is only 0.001 and PHE's value is about 5e-5 too low (the exact answer there is
# 114.8591735 / -ln(0.999) = 114801.7, checked separately below).
PHE_TARGET = 114.8591735
PHE_RATE_FUNNEL = [
    # events, lower95, upper95, lower998, upper998
    (1, 20.61494982, 4536.678859, 12.4395182, 114796.3768),
    (10, 62.45619233, 239.5201023, 47.59232002, 387.9696015),
    (20, 74.37047197, 188.0391226, 60.38563467, 256.433278),
    (94, 93.85860074, 142.1345429, 84.35748846, 161.4787024),
    (1344, 108.8787415, 121.2559352, 105.6474286, 125.143079),
]


@pytest.mark.parametrize(("events", "lo95", "hi95", "lo998", "hi998"), PHE_RATE_FUNNEL)
def test_rate_funnel_matches_phe_reference(
    events: int, lo95: float, hi95: float, lo998: float, hi998: float
) -> None:
    for confidence, lower, upper in ((0.95, lo95, hi95), (0.998, lo998, hi998)):
        at_lower = events / lower * 100_000
        at_upper = events / upper * 100_000
        limits = funnel_limits_rate(
            [at_lower, at_upper], PHE_TARGET, multiplier=100_000, confidence=confidence
        )
        tolerance = 1e-4 if (events, confidence) == (1, 0.998) else 2e-6
        assert limits.lower[0] == pytest.approx(lower, rel=tolerance)
        assert limits.upper[1] == pytest.approx(upper, rel=tolerance)


def test_rate_funnel_upper_limit_for_one_event_by_hand() -> None:
    # One event sits on the upper 99.8% limit where its exact lower limit, chi2_0.001(2)/2 =
    # -ln(1 - 0.001) = 0.0010005003, equals the expected count target * n / multiplier:
    #   n = 0.0010005003 * 100,000 / 114.8591735 = 0.8710708
    #   limit = 1 / n * 100,000 = 114.8591735 / 0.0010005003 = 114,801.74
    n = -np.log1p(-0.001) * 100_000 / PHE_TARGET
    limits = funnel_limits_rate([n], PHE_TARGET, multiplier=100_000, confidence=0.998)
    assert limits.upper[0] == pytest.approx(PHE_TARGET / -np.log1p(-0.001), rel=1e-12)
    assert limits.upper[0] == pytest.approx(114_801.74, abs=0.01)


def test_rate_funnel_round_trip_with_exact_interval() -> None:
    # The defining property: at the lower limit the observed count's exact upper confidence
    # limit is the expected count, and at the upper limit its exact lower limit is.
    denominators = np.geomspace(50, 5e6, 200)
    target, multiplier = 250.0, 100_000
    limits = funnel_limits_rate(denominators, target, multiplier=multiplier, confidence=0.998)
    expected = target * denominators / multiplier
    low_count = limits.lower * denominators / multiplier
    high_count = limits.upper * denominators / multiplier
    positive = low_count > 0
    assert positive.sum() > 100
    exact_low = exact_poisson_count_limits(low_count[positive], 0.998)
    exact_high = exact_poisson_count_limits(high_count, 0.998)
    np.testing.assert_allclose(exact_low.upper, expected[positive], rtol=1e-9)
    np.testing.assert_allclose(exact_high.lower, expected, rtol=1e-9)


def test_rate_funnel_shape() -> None:
    denominators = np.geomspace(10, 1e7, 300)
    for confidence in (0.95, 0.998):
        limits = funnel_limits_rate(denominators, 80, multiplier=1000, confidence=confidence)
        assert (limits.lower < 80).all()
        assert (limits.upper > 80).all()
        # The funnel narrows as the denominator grows.
        assert (np.diff(limits.lower) >= 0).all()
        assert (np.diff(limits.upper) < 0).all()
        assert limits.lower[-1] == pytest.approx(80, rel=0.01)
    wide = funnel_limits_rate(denominators, 80, multiplier=1000, confidence=0.998)
    narrow = funnel_limits_rate(denominators, 80, multiplier=1000, confidence=0.95)
    assert (wide.lower <= narrow.lower).all()
    assert (wide.upper > narrow.upper).all()


def test_rate_funnel_with_tiny_expected_counts() -> None:
    # E below -ln(0.975) = 0.0253 expected events: the upper-limit count is below 1 and needs
    # the direct solve (scipy's Poisson inverse stops at 0). Check it against the exact lower
    # limit again.
    denominators = np.array([1.0, 5.0, 20.0])
    limits = funnel_limits_rate(denominators, 1, multiplier=1000, confidence=0.95)
    high_count = limits.upper * denominators / 1000
    assert (high_count < 1).all()
    np.testing.assert_allclose(exact_poisson_count_limits(high_count).lower, denominators / 1000, rtol=1e-9)
    assert (limits.lower == 0).all()
    # And continuously across the switch from the direct solve to scipy's inverse.
    around = np.linspace(2.0, 3.0, 101)
    upper = funnel_limits_rate(around, 10, multiplier=1000, confidence=0.95).upper
    assert (np.diff(upper) < 0).all()


# PHEindicatormethods tests/testthat/testdata_funnel_prop_outputs.csv: proportion funnels around
# a baseline of 80.642448%, limits in per cent (PHE clips them to [0, 100]).
PHE_PROPORTION_FUNNEL = [
    # denominator, lower95, upper95, lower998, upper998
    (1, 3.204264, 100, 0, 100),
    (10, 56.154344, 100, 42.03259, 100),
    (75, 71.700657, 89.584239, 66.544121, 94.740774),
    (1699, 78.763743, 82.521152, 77.680336, 83.60456),
    (110000, 80.408963, 80.875933, 80.274317, 81.010578),
]


@pytest.mark.parametrize(("n", "lo95", "hi95", "lo998", "hi998"), PHE_PROPORTION_FUNNEL)
def test_proportion_funnel_matches_phe_reference(
    n: int, lo95: float, hi95: float, lo998: float, hi998: float
) -> None:
    for confidence, lower, upper in ((0.95, lo95, hi95), (0.998, lo998, hi998)):
        limits = funnel_limits_proportion([n], 0.80642448, confidence=confidence, multiplier=100)
        assert limits.lower[0] == pytest.approx(lower, abs=5e-6)  # the CSV has 6 decimals
        assert limits.upper[0] == pytest.approx(upper, abs=5e-6)


def test_proportion_funnel_by_hand() -> None:
    # Inverting Wilson gives p0 -/+ z sqrt(p0 (1 - p0) / n). With p0 = 0.2, n = 400, 95%:
    #   sqrt(0.2 * 0.8 / 400) = 0.02;  1.959964 * 0.02 = 0.0391993
    #   limits = 0.2 - 0.0391993 = 0.1608007 and 0.2 + 0.0391993 = 0.2391993
    limits = funnel_limits_proportion([400], 0.2, confidence=0.95)
    assert limits.lower[0] == pytest.approx(0.1608007, abs=5e-8)
    assert limits.upper[0] == pytest.approx(0.2391993, abs=5e-8)


def test_wilson_funnel_round_trip() -> None:
    # At the Wilson funnel's limits the observed proportion's Wilson interval touches the target
    # (for denominators large enough that the limits are not clipped to 0 or 1).
    denominators = np.array([75.0, 400.0, 10_000.0])
    target = 0.3
    limits = funnel_limits_proportion(denominators, target, confidence=0.998)
    at_lower = proportion_ci_arrays(limits.lower * denominators, denominators, confidence=0.998)
    at_upper = proportion_ci_arrays(limits.upper * denominators, denominators, confidence=0.998)
    np.testing.assert_allclose(at_lower.upper, target, rtol=1e-12)
    np.testing.assert_allclose(at_upper.lower, target, rtol=1e-12)


def test_exact_funnel_round_trip_with_clopper_pearson() -> None:
    denominators = np.array([30.0, 100.0, 1000.0, 50_000.0])
    target, confidence = 0.3, 0.95
    tail = (1 - confidence) / 2
    limits = funnel_limits_proportion(denominators, target, confidence=confidence, method="exact")
    x_low = limits.lower * denominators
    x_high = limits.upper * denominators
    # Clopper-Pearson upper limit of x_L and lower limit of x_U, from beta quantiles.
    cp_upper = scipy_stats.beta.ppf(1 - tail, x_low + 1, denominators - x_low)
    cp_lower = scipy_stats.beta.ppf(tail, x_high, denominators - x_high + 1)
    np.testing.assert_allclose(cp_upper, target, rtol=1e-8)
    np.testing.assert_allclose(cp_lower, target, rtol=1e-8)
    # Exact limits are at least as wide as Wilson's, and close for large denominators.
    wilson = funnel_limits_proportion(denominators, target, confidence=confidence)
    assert (limits.lower <= wilson.lower + 1e-12).all()
    assert (limits.upper >= wilson.upper - 1e-12).all()
    assert limits.lower[-1] == pytest.approx(wilson.lower[-1], rel=1e-3)


def test_exact_funnel_with_rare_outcome_and_small_denominators() -> None:
    # (1 - 0.001)^n > 0.975 for n below about 25: the upper-limit count is below 1 there.
    denominators = np.array([1.0, 5.0, 20.0, 100.0])
    limits = funnel_limits_proportion(denominators, 0.001, confidence=0.95, method="exact")
    x_high = limits.upper * denominators
    cp_lower = scipy_stats.beta.ppf(0.025, x_high, denominators - x_high + 1)
    np.testing.assert_allclose(cp_lower, 0.001, rtol=1e-8)
    assert (limits.lower == 0).all()


def test_funnel_nan_denominator_is_missing() -> None:
    rate = funnel_limits_rate([np.nan, 100.0], 5, multiplier=100, confidence=0.95)
    prop = funnel_limits_proportion([np.nan, 100.0], 0.5, confidence=0.95, method="exact")
    for limits in (rate, prop):
        assert np.isnan([limits.lower[0], limits.upper[0]]).all()
        assert not np.isnan([limits.lower[1], limits.upper[1]]).any()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: funnel_limits_rate([0, 10], 5, multiplier=100, confidence=0.95), "> 0"),
        (lambda: funnel_limits_rate([10], 0, multiplier=100, confidence=0.95), "target_rate"),
        (lambda: funnel_limits_rate([10], 5, multiplier=100, confidence=95), "did you mean"),
        (lambda: funnel_limits_proportion([10], 80, confidence=0.95), "not a percentage"),
        (lambda: funnel_limits_proportion([10], 0.0, confidence=0.95), "strictly between"),
        (
            lambda: funnel_limits_proportion([10], 0.5, confidence=0.95, method="normal"),  # type: ignore[arg-type]
            "method must be",
        ),
    ],
)
def test_funnel_validation(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
