"""Crude rates and Poisson count limits: hand-worked examples and PHE reference values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from caremodels.stats import (
    BYAR_MIN_COUNT,
    Estimate,
    byar_count_limits,
    crude_rate,
    crude_rate_ci_arrays,
    exact_poisson_count_limits,
    poisson_count_limits,
    z_value,
)


def test_z_values_for_the_two_standard_levels() -> None:
    assert z_value(0.95) == pytest.approx(1.959963985, abs=1e-9)
    assert z_value(0.998) == pytest.approx(3.090232306, abs=1e-9)


def test_byar_by_hand_count_50_population_10000_per_1000() -> None:
    # rate = 50 / 10,000 * 1,000 = 5.0 per 1,000; z = 1.959964 (95%).
    # Lower: O (1 - 1/(9 O) - z/(3 sqrt O))^3 with O = 50
    #   1/(9*50) = 0.0022222;  3*sqrt(50) = 21.213203;  z/21.213203 = 0.0923936
    #   base = 1 - 0.0022222 - 0.0923936 = 0.9053842;  base^3 = 0.7421620
    #   O_lower = 50 * 0.7421620 = 37.108100  ->  37.108100 / 10,000 * 1,000 = 3.7108100
    # Upper: (O+1) (1 - 1/(9 (O+1)) + z/(3 sqrt(O+1)))^3 with O+1 = 51
    #   1/(9*51) = 0.0021786;  3*sqrt(51) = 21.424285;  z/21.424285 = 0.0914833
    #   base = 1 - 0.0021786 + 0.0914833 = 1.0893046;  base^3 = 1.2925521
    #   O_upper = 51 * 1.2925521 = 65.920157  ->  65.920157 / 10,000 * 1,000 = 6.5920157
    result = crude_rate(50, 10_000, multiplier=1000, confidence=0.95)
    assert result.value == pytest.approx(5.0)
    assert result.lower == pytest.approx(3.7108100, abs=5e-7)
    assert result.upper == pytest.approx(6.5920157, abs=5e-7)
    assert result.method == "byar"
    assert (result.numerator, result.denominator, result.multiplier) == (50, 10_000, 1000)


def test_exact_by_hand_count_5_population_100_per_100() -> None:
    # Below 10 the chi-square exact method applies (alpha = 0.05):
    #   O_lower = chi2_{0.025}(2*5 = 10 df) / 2 = 3.2469728 / 2 = 1.6234864
    #   O_upper = chi2_{0.975}(2*5+2 = 12 df) / 2 = 23.3366642 / 2 = 11.6683321
    # per 100 of a population of 100 the rate limits equal the count limits.
    result = crude_rate(5, 100, multiplier=100)
    assert result.method == "exact"
    assert result.value == pytest.approx(5.0)
    assert result.lower == pytest.approx(1.6234864, abs=5e-7)
    assert result.upper == pytest.approx(11.6683321, abs=5e-7)


def test_zero_count_has_lower_limit_zero() -> None:
    # Exact upper limit for O = 0: chi2_{0.975}(2 df) / 2 = -ln(0.025) = 3.6888795.
    result = crude_rate(0, 100)
    assert result.value == 0.0
    assert result.lower == 0.0
    assert result.upper == pytest.approx(-math.log(0.025) / 100 * 1000, rel=1e-12)


# PHEindicatormethods test data (tests/testthat/testdata_Rate.xlsx, sheet testdata_Rate), the
# values PHE checks phe_rate against: (count, denominator, lower95, upper95, lower998, upper998)
# per 100. Counts below 10 are "Exact", the rest "Byars".
PHE_RATES_PER_100 = [
    (1, 100, 0.025317807984289897, 5.571643390938898, 0.0010005003335835344, 9.2334134764515845),
    (5, 100, 1.62348639011842, 11.668332079322669, 0.739371731917839, 16.454745203680105),
    (20, 100, 12.211428834875937, 30.889880369197066, 8.922802365144193, 38.085035625041911),
    (65, 100, 50.163187710459454, 82.849138545939837, 42.880261471480203, 94.000290844318016),
    (9856, 12345, 78.269490589767571, 81.430016542721404, 77.375905432710525, 82.354472770954303),
    (222, 3215, 6.0265748776526751, 7.8757293708718503, 5.5607376952598537, 8.4610466817334107),
    (999, 3456, 27.141304936090521, 30.755833237378415, 26.162147596445767, 31.845604819822654),
    (250, 220, 99.984947385328764, 128.63114487455782, 92.710005544389525, 137.65123772147458),
]


@pytest.mark.parametrize(("count", "denominator", "lo95", "hi95", "lo998", "hi998"), PHE_RATES_PER_100)
def test_matches_phe_reference_rates(
    count: int, denominator: int, lo95: float, hi95: float, lo998: float, hi998: float
) -> None:
    at95 = crude_rate(count, denominator, multiplier=100, confidence=0.95)
    at998 = crude_rate(count, denominator, multiplier=100, confidence=0.998)
    assert (at95.lower, at95.upper) == (pytest.approx(lo95, rel=1e-9), pytest.approx(hi95, rel=1e-9))
    assert (at998.lower, at998.upper) == (
        pytest.approx(lo998, rel=1e-9),
        pytest.approx(hi998, rel=1e-9),
    )
    assert at95.method == ("exact" if count < 10 else "byar")


def test_phe_reference_rate_per_100000() -> None:
    # Same sheet, multiplier 100,000: 7,776,456 events in 7,564,336,677 person-years.
    result = crude_rate(7_776_456, 7_564_336_677, multiplier=100_000)
    assert result.value == pytest.approx(102.80420256339154, rel=1e-12)
    assert result.lower == pytest.approx(102.73196005302074, rel=1e-9)
    assert result.upper == pytest.approx(102.87648334092832, rel=1e-9)


def test_exact_limits_match_the_phe_spreadsheet_tool() -> None:
    # PHE "Tool for common public health statistics and their confidence intervals", Rates sheet:
    # O = 65, 95%, chi-square exact method gives O_lower = 50.165627729, O_upper = 82.847835816.
    limits = exact_poisson_count_limits(65, 0.95)
    assert float(limits.lower) == pytest.approx(50.165627729234266, rel=1e-10)
    assert float(limits.upper) == pytest.approx(82.847835815871576, rel=1e-10)


@pytest.mark.parametrize(("confidence", "from_count"), [(0.95, 13), (0.998, 44)])
def test_byar_within_point_one_percent_of_exact_as_phe_states(confidence: float, from_count: int) -> None:
    # The PHE tool's Rates sheet: "For 95% confidence intervals, Byar's method is within 0.1% of
    # the exact value for numerators of 13 or more, but for 99.8% confidence intervals it is
    # within 0.1% of the exact value for numerators of at least 44." Checked at every count up to
    # 100,000, and the statement is sharp: the count just below is outside 0.1%.
    counts = np.arange(from_count - 1, 100_001, dtype=float)
    byar = byar_count_limits(counts, confidence)
    exact = exact_poisson_count_limits(counts, confidence)
    relative = np.maximum(np.abs(byar.lower / exact.lower - 1), np.abs(byar.upper / exact.upper - 1))
    assert relative[0] > 0.001
    assert relative[1:].max() < 0.001


def test_byar_within_point_two_percent_from_ten_at_95() -> None:
    # PHE Technical Guide, Confidence Intervals: "Byar's method is within 0.2% of the exact value
    # for numerators of 10 or more" (95% intervals), which is why 10 is the switch-over point.
    counts = np.arange(BYAR_MIN_COUNT, 5_001, dtype=float)
    byar = byar_count_limits(counts)
    exact = exact_poisson_count_limits(counts)
    assert np.abs(byar.lower / exact.lower - 1).max() < 0.002
    assert np.abs(byar.upper / exact.upper - 1).max() < 0.002


def test_poisson_count_limits_switch_at_ten() -> None:
    limits = poisson_count_limits([9, 10])
    exact = exact_poisson_count_limits(9)
    byar = byar_count_limits(10)
    assert limits.lower[0] == float(exact.lower)
    assert limits.upper[0] == float(exact.upper)
    assert limits.lower[1] == float(byar.lower)
    assert limits.upper[1] == float(byar.upper)


def test_byar_lower_floored_at_zero_for_tiny_counts() -> None:
    # For O = 0.01 the bracket 1 - 1/0.09 - ... is negative; a negative count limit is impossible.
    limits = byar_count_limits([0.0, 0.01])
    assert list(limits.lower) == [0.0, 0.0]


def test_arrays_broadcast_and_agree_with_scalar() -> None:
    counts = np.array([0, 3, 9, 10, 50, 12_345])
    result = crude_rate_ci_arrays(counts, 10_000, 1000, 0.998)
    for i, count in enumerate(counts):
        single = crude_rate(float(count), 10_000, multiplier=1000, confidence=0.998)
        assert (result.value[i], result.lower[i], result.upper[i]) == (
            single.value,
            single.lower,
            single.upper,
        )
    assert result.value.shape == counts.shape
    assert result.value.dtype == np.float64


def test_arrays_accept_two_dimensional_input() -> None:
    counts = np.array([[1, 20], [300, 4000]])
    result = crude_rate_ci_arrays(counts, np.array([[100], [1000]]), multiplier=100)
    assert result.value.shape == (2, 2)
    assert result.value[1, 0] == pytest.approx(30.0)


def test_arrays_propagate_nan_as_missing() -> None:
    result = crude_rate_ci_arrays([10, np.nan, 5], [100, 100, np.nan])
    assert not np.isnan(result.value[0])
    assert np.isnan(result.value[1:]).all()
    assert np.isnan(result.lower[1:]).all()
    assert np.isnan(result.upper[1:]).all()


def test_rate_can_exceed_one() -> None:
    # Rates are not proportions: 250 admissions among 220 people is allowed.
    assert crude_rate(250, 220, multiplier=1).value == pytest.approx(250 / 220)


def test_estimate_is_frozen() -> None:
    result = crude_rate(10, 100)
    assert isinstance(result, Estimate)
    assert result.computed
    with pytest.raises(AttributeError):
        result.value = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1, "denominator": 100}, "count must be >= 0"),
        ({"count": 1, "denominator": 0}, "denominator must be > 0"),
        ({"count": 1, "denominator": -5}, "denominator must be > 0"),
        ({"count": float("nan"), "denominator": 100}, "count must be finite"),
        ({"count": 1, "denominator": float("inf")}, "denominator must be finite"),
        ({"count": 1, "denominator": 100, "confidence": 95}, "did you mean 0.95"),
        ({"count": 1, "denominator": 100, "confidence": 1.0}, "strictly between 0 and 1"),
        ({"count": 1, "denominator": 100, "confidence": 0.0}, "strictly between 0 and 1"),
        ({"count": 1, "denominator": 100, "multiplier": 0}, "multiplier must be greater than 0"),
    ],
)
def test_scalar_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crude_rate(**kwargs)


def test_scalar_type_errors() -> None:
    with pytest.raises(TypeError, match="count must be a real number"):
        crude_rate("5", 100)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="count must be a real number"):
        crude_rate(True, 100)


def test_array_validation_names_the_first_bad_position() -> None:
    with pytest.raises(ValueError, match=r"counts must be >= 0; counts\[2\] is -1 \(1 more\)"):
        crude_rate_ci_arrays([1, 2, -1, -3], 100)
    with pytest.raises(ValueError, match=r"denominators must be > 0; denominators\[1\] is 0"):
        crude_rate_ci_arrays([1, 2], [100, 0])
    with pytest.raises(ValueError, match="denominators must be finite"):
        crude_rate_ci_arrays([1, 2], [100, np.inf])
    with pytest.raises(TypeError, match="counts must be numeric"):
        crude_rate_ci_arrays(["1", "2"], 100)
    with pytest.raises(
        ValueError, match=r"counts and denominators must have the same shape.*\(3,\) and \(2,\)"
    ):
        crude_rate_ci_arrays([1, 2, 3], [100, 200])


def test_arrays_accept_pandas_columns_with_missing_values() -> None:
    pd = pytest.importorskip("pandas")
    counts = pd.Series([12, None, 3], dtype="Int64")
    denominators = pd.Series([1000, 1000, 1000])
    result = crude_rate_ci_arrays(counts, denominators, multiplier=1000)
    assert result.value[0] == pytest.approx(12.0)
    assert np.isnan(result.value[1])
    assert result.lower[2] == float(crude_rate(3, 1000).lower or 0)
