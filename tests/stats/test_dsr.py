"""Directly standardised rates with Dobson's interval: hand-worked and PHE reference values."""

from __future__ import annotations

import numpy as np
import pytest

from caremodels.stats import DSR_MIN_TOTAL_COUNT, crude_rate, dsr, dsr_ci_arrays

# Weights for the PHE worked examples below: the 19 bands (0-4, 5-9, ..., 85-89, 90+) of the
# 2013 European Standard Population, copied from those examples. They are inputs here; the
# package's own ESP2013 table lives (and is tested) elsewhere.
ESP2013 = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500,
           5000, 4000, 2500, 1500, 1000]  # fmt: skip
POPULATION = [636, 558, 609, 543, 384, 594, 669, 843, 660, 576, 606, 522, 426, 273, 300, 288,
              153, 123, 207]  # fmt: skip
SMALL = [12, 4, 3, 2, 3, 4, 8, 2, 2, 3, 4, 5, 6, 8, 5, 6, 5, 5, 4]  # 91 events
BIG = [127, 25, 18, 21, 12, 27, 48, 27, 29, 32, 32, 34, 45, 65, 38, 68, 74, 82, 91]  # 895
TINY = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 2, 3]  # 9 events


def test_dobson_by_hand_three_bands() -> None:
    # counts O = (10, 20, 30), populations n = (1000, 2000, 1500), weights w = (0.5, 0.3, 0.2).
    # Band rates O/n = (0.01, 0.01, 0.02).
    # DSR = (0.5*0.01 + 0.3*0.01 + 0.2*0.02) / (0.5+0.3+0.2) = 0.012 -> 1,200 per 100,000.
    # var(DSR) = sum(w^2 O / n^2) / (sum w)^2
    #          = 0.25*10/1000^2 + 0.09*20/2000^2 + 0.04*30/1500^2
    #          = 2.5e-6 + 0.45e-6 + 0.533333e-6 = 3.483333e-6
    # Total O = 60 (>= 10, so Byar's limits): O_lower = 45.783760, O_upper = 77.233224.
    # sqrt(var(DSR) / O) = sqrt(3.483333e-6 / 60) = 2.409472e-4
    # lower = 0.012 + 2.409472e-4 * (45.783760 - 60) = 0.012 - 0.0034254 = 0.0085746 -> 857.46
    # upper = 0.012 + 2.409472e-4 * (77.233224 - 60) = 0.012 + 0.0041523 = 0.0161523 -> 1615.23
    result = dsr([10, 20, 30], [1000, 2000, 1500], [0.5, 0.3, 0.2])
    assert result.value == pytest.approx(1200.0)
    assert result.lower == pytest.approx(857.4637, abs=5e-4)
    assert result.upper == pytest.approx(1615.2297, abs=5e-4)
    assert result.method == "dobson"
    assert (result.numerator, result.denominator) == (60, 4500)


def test_matches_phe_spreadsheet_worked_example() -> None:
    # PHE "Tool for common public health statistics and their confidence intervals", Direct
    # Standardisation sheet: 91 events, ESP2013, 95%: DSR 1103.212025 per 100,000 with
    # Byar limits of O O_lower = 73.265529, O_upper = 111.729014, var(DSR) = 1.474635e-6,
    # DSR_lower = 877.455768, DSR_upper = 1367.088223.
    result = dsr(SMALL, POPULATION, ESP2013)
    assert result.value == pytest.approx(1103.212025300104, rel=1e-12)
    assert result.lower == pytest.approx(877.45576753670912, rel=1e-10)
    assert result.upper == pytest.approx(1367.0882227251795, rel=1e-10)


# PHEindicatormethods tests/testthat/testdata_DSR_ISR.xlsx, sheet testresults_DSR (Dobson).
@pytest.mark.parametrize(
    ("counts", "confidence", "multiplier", "value", "lower", "upper"),
    [
        (BIG, 0.95, 100_000, 10430.247991469423, 9717.709067985681, 11178.94091547925),
        (BIG, 0.998, 100_000, 10430.247991469423, 9323.2878802199029, 11620.595999522058),
        (BIG, 0.95, 10_000, 1043.0247991469423, 971.77090679856803, 1117.894091547925),
        (SMALL, 0.998, 100_000, 1103.212025300104, 763.64203579398793, 1530.0328948244762),
    ],
)
def test_matches_phe_reference_dsrs(
    counts: list[int],
    confidence: float,
    multiplier: float,
    value: float,
    lower: float,
    upper: float,
) -> None:
    result = dsr(counts, POPULATION, ESP2013, multiplier=multiplier, confidence=confidence)
    assert result.value == pytest.approx(value, rel=1e-12)
    assert result.lower == pytest.approx(lower, rel=1e-10)
    assert result.upper == pytest.approx(upper, rel=1e-10)


def test_matches_phe_reference_with_1976_standard() -> None:
    # Same source, sheet testdata_1976: 18 bands to 85+, the 1976 European Standard Population,
    # 804 events, per 10,000 at 95%.
    esp1976 = [8000, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 7000, 6000, 5000,
               4000, 3000, 2000, 1000, 1000]  # fmt: skip
    counts = [*BIG[:17], 82]
    population = [*POPULATION[:17], 123]
    result = dsr(counts, population, esp1976, multiplier=10_000)
    assert result.value == pytest.approx(859.20975850223658, rel=1e-12)
    assert result.lower == pytest.approx(799.11609314421025, rel=1e-10)
    assert result.upper == pytest.approx(922.52538803183177, rel=1e-10)


def test_fewer_than_ten_events_is_not_calculated() -> None:
    # PHE reference: "dsr NA for total count < 10" for this 9-event area.
    result = dsr(TINY, POPULATION, ESP2013)
    assert (result.value, result.lower, result.upper) == (None, None, None)
    assert not result.computed
    assert result.reason is not None
    assert "below 10" in result.reason
    assert result.numerator == 9
    assert sum(TINY) < DSR_MIN_TOTAL_COUNT


def test_exactly_ten_events_is_calculated() -> None:
    counts = [0] * 18 + [10]
    result = dsr(counts, POPULATION, ESP2013)
    assert result.computed
    assert result.reason is None


def test_equals_crude_rate_when_standard_is_the_population() -> None:
    # With w_i = n_i: DSR = sum(n_i O_i / n_i) / sum(n_i) = O / N, the crude rate; and
    # var(DSR) = sum(n_i^2 O_i / n_i^2) / N^2 = O / N^2, so Dobson's limits reduce to
    # O_lower / N and O_upper / N: the crude rate's interval.
    standardised = dsr(BIG, POPULATION, POPULATION, multiplier=1000)
    crude = crude_rate(sum(BIG), sum(POPULATION), multiplier=1000)
    assert standardised.value == pytest.approx(crude.value, rel=1e-12)
    assert standardised.lower == pytest.approx(crude.lower, rel=1e-12)
    assert standardised.upper == pytest.approx(crude.upper, rel=1e-12)


def test_weights_on_any_scale_give_the_same_answer() -> None:
    as_counts = dsr(BIG, POPULATION, ESP2013)
    as_proportions = dsr(BIG, POPULATION, [w / 100_000 for w in ESP2013])
    assert as_proportions.value == pytest.approx(as_counts.value, rel=1e-12)
    assert as_proportions.lower == pytest.approx(as_counts.lower, rel=1e-12)
    assert as_proportions.upper == pytest.approx(as_counts.upper, rel=1e-12)


def test_zero_population_band_with_zero_count_is_allowed() -> None:
    counts = [5, 0, 7]
    result = dsr(counts, [100, 0, 200], [1, 1, 1])
    # The empty band adds 0 to the weighted sum but keeps its weight in the denominator.
    assert result.value == pytest.approx((5 / 100 + 7 / 200) / 3 * 100_000)


def test_arrays_over_many_areas() -> None:
    counts = np.array([BIG, SMALL, TINY])
    populations = np.array([POPULATION] * 3)
    result = dsr_ci_arrays(counts, populations, ESP2013)
    assert result.value.shape == (3,)
    for i, row in enumerate([BIG, SMALL]):
        single = dsr(row, POPULATION, ESP2013)
        assert (result.value[i], result.lower[i], result.upper[i]) == (
            single.value,
            single.lower,
            single.upper,
        )
    assert np.isnan([result.value[2], result.lower[2], result.upper[2]]).all()


def test_arrays_with_per_area_weights_and_missing_values() -> None:
    counts = np.array([BIG, BIG], dtype=float)
    counts[1, 3] = np.nan
    weights = np.array([ESP2013, POPULATION])
    result = dsr_ci_arrays(counts, np.array([POPULATION] * 2), weights, 1000, 0.998)
    assert result.value[0] == pytest.approx(dsr(BIG, POPULATION, ESP2013, multiplier=1000).value)
    assert np.isnan(result.value[1])


def test_dobson_lower_limit_is_floored_at_zero() -> None:
    # One person carrying nearly all the weight: sd(DSR) is about the DSR itself, and Dobson's
    # lower limit would be negative without the floor.
    result = dsr([1, 9], [1, 1_000_000], [1000, 1])
    assert result.lower == 0.0
    assert result.value is not None
    assert result.upper is not None
    assert result.value < result.upper


@pytest.mark.parametrize(
    ("counts", "populations", "weights", "message"),
    [
        ([1, 2], [10, 10, 10], [1, 1], "counts has 2 entries, populations 3"),
        ([1, 2], [10, 10], [1, 1, 1], r"one entry per band \(2\)"),
        ([1, -2], [10, 10], [1, 1], r"counts must be >= 0; counts\[1\] is -2"),
        ([1, 2], [10, -10], [1, 1], r"populations\[1\] is -10"),
        ([1, 2], [10, 10], [1, -1], r"standard_weights\[1\] is -1"),
        ([1, 2], [10, 0], [1, 1], r"counts must be 0 where population is 0; counts\[1\] is 2"),
        ([1, 2], [10, 10], [0, 0], "positive in at least one band"),
        ([], [], [], "at least one standardisation band"),
        ([1, float("nan")], [10, 10], [1, 1], "must not contain NaN"),
        ([[1, 2]], [[10, 10]], [1, 1], "one-dimensional"),
    ],
)
def test_validation(
    counts: list[float], populations: list[float], weights: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        dsr(counts, populations, weights)


def test_array_validation_reports_row_and_band() -> None:
    counts = np.array([[1, 2], [3, 4]])
    populations = np.array([[10, 10], [10, 0]])
    with pytest.raises(ValueError, match=r"counts\[1, 1\] is 4"):
        dsr_ci_arrays(counts, populations, [1, 1])
    with pytest.raises(ValueError, match="same shape"):
        dsr_ci_arrays(counts, populations[:, :1], [1, 1])
