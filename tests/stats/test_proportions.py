"""Proportions with Wilson score intervals: hand-worked and published values."""

from __future__ import annotations

import numpy as np
import pytest

from caremodels.stats import proportion, proportion_ci_arrays


def test_wilson_by_hand_8_of_10() -> None:
    # x = 8, n = 10, z = 1.959964, z^2 = 3.841459.
    #   root   = z * sqrt(z^2 + 4 x (1 - x/n)) = 1.959964 * sqrt(3.841459 + 6.4) = 6.272331
    #   centre = 2 x + z^2 = 19.841459;   scale = 2 (n + z^2) = 27.682918
    #   lower  = (19.841459 - 6.272331) / 27.682918 = 0.490162
    #   upper  = (19.841459 + 6.272331) / 27.682918 = 0.943318
    result = proportion(8, 10)
    assert result.value == pytest.approx(0.8)
    assert result.lower == pytest.approx(0.490162, abs=5e-7)
    assert result.upper == pytest.approx(0.943318, abs=5e-7)
    assert result.method == "wilson"


@pytest.mark.parametrize(
    ("x", "n", "lower", "upper"),
    [
        # Newcombe RG (1998) Stat Med 17:857-872, Table I, method 3 (score, no continuity
        # correction), 95%, to 4 decimal places.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_matches_newcombe_1998(x: int, n: int, lower: float, upper: float) -> None:
    result = proportion(x, n)
    assert result.lower == pytest.approx(lower, abs=5e-5)
    assert result.upper == pytest.approx(upper, abs=5e-5)


# PHEindicatormethods test data (tests/testthat/testdata_Byars_Wilson.xlsx): x, n, confidence,
# lower, upper. The 0.445-of-1 rows check a non-integer numerator and a denominator of 1.
PHE_WILSON = [
    (65, 100, 0.95, 0.55254443296887967, 0.73635751756902468),
    (1045, 5000, 0.95, 0.19795549880013297, 0.22049130373189027),
    (0.445, 1, 0.95, 4.3817447720588223e-2, 0.93346212769791559),
    (65, 100, 0.998, 0.49549465740704313, 0.77835406140896968),
    (1045, 5000, 0.998, 0.19179381799015244, 0.22731562902525818),
    (0.445, 1, 0.998, 1.9347006132900975e-2, 0.97022599470195414),
]


@pytest.mark.parametrize(("x", "n", "confidence", "lower", "upper"), PHE_WILSON)
def test_matches_phe_reference_values(
    x: float, n: float, confidence: float, lower: float, upper: float
) -> None:
    result = proportion(x, n, confidence=confidence)
    assert result.lower == pytest.approx(lower, rel=1e-9)
    assert result.upper == pytest.approx(upper, rel=1e-9)


def test_percentage_multiplier() -> None:
    # The PHE tool's Proportions sheet shows 65/100 as 65% (55.254443% to 73.635752%).
    result = proportion(65, 100, multiplier=100)
    assert result.value == pytest.approx(65.0)
    assert result.lower == pytest.approx(55.25444329688797, rel=1e-12)
    assert result.upper == pytest.approx(73.635751756902465, rel=1e-12)


def test_extremes_stay_inside_zero_one() -> None:
    none = proportion(0, 10)
    every = proportion(10, 10)
    assert none.lower == 0.0
    assert every.upper == 1.0
    assert none.upper is not None
    # Wilson is symmetric: the interval for 10/10 mirrors the one for 0/10.
    assert every.lower == pytest.approx(1 - none.upper, abs=1e-15)


def test_arrays_agree_with_scalar_and_propagate_nan() -> None:
    result = proportion_ci_arrays([0, 3, 10, np.nan], [10, 10, 10, 10], confidence=0.998, multiplier=100)
    for i, x in enumerate([0, 3, 10]):
        single = proportion(x, 10, confidence=0.998, multiplier=100)
        assert (result.value[i], result.lower[i], result.upper[i]) == (
            single.value,
            single.lower,
            single.upper,
        )
    assert np.isnan([result.value[3], result.lower[3], result.upper[3]]).all()


@pytest.mark.parametrize(
    ("x", "n", "message"),
    [
        (11, 10, "use crude_rate if events can exceed"),
        (-1, 10, "numerator must be between 0 and the denominator"),
        (1, 0, "denominator must be > 0"),
    ],
)
def test_scalar_validation(x: float, n: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        proportion(x, n)


def test_array_validation() -> None:
    with pytest.raises(ValueError, match=r"numerators\[1\] is 11"):
        proportion_ci_arrays([1, 11], 10)
    with pytest.raises(ValueError, match=r"denominators\[0\] is -1"):
        proportion_ci_arrays([1, 1], [-1, 10])
    with pytest.raises(ValueError, match=r"did you mean 0\.998"):
        proportion_ci_arrays([1], [10], confidence=99.8)
