"""Properties that must hold for any valid input (Hypothesis)."""

from __future__ import annotations

from random import Random

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from caremodels.stats import (
    BYAR_MIN_COUNT,
    Estimate,
    byar_count_limits,
    crude_rate,
    crude_rate_ci_arrays,
    dsr,
    exact_poisson_count_limits,
    funnel_limits_proportion,
    funnel_limits_rate,
    proportion,
    proportion_ci_arrays,
)

counts = st.one_of(
    st.integers(min_value=0, max_value=10_000_000).map(float),
    st.floats(min_value=0, max_value=1e6, allow_subnormal=False),
)
denominators = st.floats(min_value=1e-3, max_value=1e9)
multipliers = st.sampled_from([1.0, 100.0, 1000.0, 100_000.0])
confidences = st.floats(min_value=0.5, max_value=0.9999)
confidence_pairs = st.tuples(confidences, confidences).filter(lambda pair: pair[0] < pair[1])


def interval(result: Estimate) -> tuple[float, float, float]:
    """(lower, value, upper), failing the test if any was withheld."""
    assert result.lower is not None
    assert result.value is not None
    assert result.upper is not None
    return result.lower, result.value, result.upper


@given(counts, denominators, multipliers, confidences)
def test_crude_rate_interval_contains_value(
    count: float, denominator: float, multiplier: float, confidence: float
) -> None:
    result = crude_rate(count, denominator, multiplier=multiplier, confidence=confidence)
    lower, value, upper = interval(result)
    assert 0 <= lower <= value <= upper
    assert result.method == ("exact" if count < BYAR_MIN_COUNT else "byar")


@given(counts, denominators, confidence_pairs)
def test_crude_rate_interval_widens_with_confidence(
    count: float, denominator: float, levels: tuple[float, float]
) -> None:
    narrow_lower, _, narrow_upper = interval(crude_rate(count, denominator, confidence=levels[0]))
    wide_lower, _, wide_upper = interval(crude_rate(count, denominator, confidence=levels[1]))
    assert wide_lower <= narrow_lower * (1 + 1e-12)
    assert wide_upper >= narrow_upper * (1 - 1e-12)


@given(st.floats(min_value=1000, max_value=1e9), st.floats(min_value=0.9, max_value=0.9999))
def test_byar_and_exact_agree_closely_for_large_counts(count: float, confidence: float) -> None:
    # The approximation error shrinks fast with the count: under 2e-5 (relative) from 1,000
    # events even at 99.99%, against 0.2% at 10 events and 95%.
    byar = byar_count_limits(count, confidence)
    exact = exact_poisson_count_limits(count, confidence)
    assert float(byar.lower) == pytest.approx(float(exact.lower), rel=2e-5)
    assert float(byar.upper) == pytest.approx(float(exact.upper), rel=2e-5)


@given(st.floats(min_value=44, max_value=1e6), st.sampled_from([0.95, 0.998]))
def test_byar_within_point_one_percent_from_44(count: float, confidence: float) -> None:
    # PHE's published accuracy statement (see test_rates), here for non-integer counts too.
    byar = byar_count_limits(count, confidence)
    exact = exact_poisson_count_limits(count, confidence)
    assert float(byar.lower) == pytest.approx(float(exact.lower), rel=1e-3)
    assert float(byar.upper) == pytest.approx(float(exact.upper), rel=1e-3)


@given(
    hnp.arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1e6, allow_subnormal=False)),
    st.floats(1, 1e7),
    confidences,
)
def test_crude_rate_arrays_match_scalar(values: np.ndarray, denominator: float, confidence: float) -> None:
    result = crude_rate_ci_arrays(values, denominator, 1000, confidence)
    for i, count in enumerate(values):
        single = crude_rate(float(count), denominator, confidence=confidence)
        assert result.value[i] == single.value
        # numpy's vectorised cube root and power may differ from the scalar path in the last bit.
        assert result.lower[i] == pytest.approx(single.lower, rel=1e-12)
        assert result.upper[i] == pytest.approx(single.upper, rel=1e-12)


@st.composite
def standardisation_inputs(draw: st.DrawFn) -> tuple[list[int], list[float], list[float]]:
    bands = draw(st.integers(min_value=1, max_value=20))
    populations = draw(st.lists(st.floats(1, 1e6), min_size=bands, max_size=bands))
    band_counts = [draw(st.integers(0, max(0, int(p)))) for p in populations]
    weights = draw(st.lists(st.floats(0, 1e5), min_size=bands, max_size=bands))
    assume(sum(weights) > 0)
    return band_counts, populations, weights


@given(standardisation_inputs(), confidences)
def test_dsr_interval_contains_value_or_is_withheld(
    inputs: tuple[list[int], list[float], list[float]], confidence: float
) -> None:
    band_counts, populations, weights = inputs
    result = dsr(band_counts, populations, weights, confidence=confidence)
    if sum(band_counts) < 10:
        assert (result.value, result.lower, result.upper) == (None, None, None)
        assert result.reason
        return
    lower, value, upper = interval(result)
    assert 0 <= lower <= value <= upper


@given(standardisation_inputs(), confidence_pairs)
def test_dsr_interval_widens_with_confidence(
    inputs: tuple[list[int], list[float], list[float]], levels: tuple[float, float]
) -> None:
    band_counts, populations, weights = inputs
    assume(sum(band_counts) >= 10)
    narrow_lower, _, narrow_upper = interval(dsr(band_counts, populations, weights, confidence=levels[0]))
    wide_lower, _, wide_upper = interval(dsr(band_counts, populations, weights, confidence=levels[1]))
    assert wide_lower <= narrow_lower * (1 + 1e-9)
    assert wide_upper >= narrow_upper * (1 - 1e-12)


@given(
    st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 10_000)), min_size=1, max_size=20),
    confidences,
)
def test_dsr_equals_crude_rate_when_standard_is_the_population(
    bands: list[tuple[int, int]], confidence: float
) -> None:
    band_counts = [min(count, population) for count, population in bands]
    populations = [float(population) for _, population in bands]
    assume(sum(band_counts) >= 10)
    standardised = dsr(band_counts, populations, populations, confidence=confidence)
    crude = crude_rate(sum(band_counts), sum(populations), multiplier=100_000, confidence=confidence)
    assert standardised.value == pytest.approx(crude.value, rel=1e-9)
    assert standardised.lower == pytest.approx(crude.lower, rel=1e-9)
    assert standardised.upper == pytest.approx(crude.upper, rel=1e-9)


@given(standardisation_inputs(), st.randoms(use_true_random=False), st.floats(1e-3, 1e3))
def test_dsr_ignores_band_order_and_weight_scale(
    inputs: tuple[list[int], list[float], list[float]], random: Random, factor: float
) -> None:
    band_counts, populations, weights = inputs
    assume(sum(band_counts) >= 10)
    # Rescaling must not underflow a positive weight to zero (that would change the standard).
    assume(all(weight * factor > 1e-300 for weight in weights if weight > 0))
    order = list(range(len(band_counts)))
    random.shuffle(order)
    original = dsr(band_counts, populations, weights)
    shuffled = dsr(
        [band_counts[i] for i in order],
        [populations[i] for i in order],
        [weights[i] * factor for i in order],
    )
    assert shuffled.value == pytest.approx(original.value, rel=1e-9)
    assert shuffled.lower == pytest.approx(original.lower, rel=1e-9, abs=1e-9)
    assert shuffled.upper == pytest.approx(original.upper, rel=1e-9)


proportion_inputs = st.integers(1, 1_000_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(proportion_inputs, confidences)
def test_wilson_interval_contains_value_within_zero_one(inputs: tuple[int, int], confidence: float) -> None:
    x, n = inputs
    lower, value, upper = interval(proportion(x, n, confidence=confidence))
    assert 0 <= lower <= value <= upper <= 1


@given(proportion_inputs, confidence_pairs)
def test_wilson_interval_widens_with_confidence(inputs: tuple[int, int], levels: tuple[float, float]) -> None:
    x, n = inputs
    narrow = proportion_ci_arrays(x, n, confidence=levels[0])
    wide = proportion_ci_arrays(x, n, confidence=levels[1])
    assert wide.lower <= narrow.lower + 1e-15
    assert wide.upper >= narrow.upper - 1e-15


@given(proportion_inputs, confidences)
def test_wilson_is_symmetric(inputs: tuple[int, int], confidence: float) -> None:
    x, n = inputs
    successes = proportion_ci_arrays(x, n, confidence=confidence)
    failures = proportion_ci_arrays(n - x, n, confidence=confidence)
    assert float(successes.lower) == pytest.approx(1 - float(failures.upper), abs=1e-12)


@given(
    hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(1, 1e8)),
    st.floats(0.01, 1e5),
    confidence_pairs,
)
def test_rate_funnel_brackets_target_and_widens(
    population: np.ndarray, target: float, levels: tuple[float, float]
) -> None:
    narrow = funnel_limits_rate(population, target, multiplier=100_000, confidence=levels[0])
    wide = funnel_limits_rate(population, target, multiplier=100_000, confidence=levels[1])
    assert (narrow.lower <= target).all()
    assert (narrow.upper >= target).all()
    assert (wide.lower <= narrow.lower * (1 + 1e-9)).all()
    assert (wide.upper >= narrow.upper * (1 - 1e-9)).all()


@given(
    hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(1, 1e7)),
    st.floats(0.001, 0.999),
    confidence_pairs,
    st.sampled_from(["wilson", "exact"]),
)
def test_proportion_funnel_brackets_target_and_widens(
    population: np.ndarray, target: float, levels: tuple[float, float], method: str
) -> None:
    narrow = funnel_limits_proportion(
        population,
        target,
        confidence=levels[0],
        method=method,  # type: ignore[arg-type]
    )
    wide = funnel_limits_proportion(
        population,
        target,
        confidence=levels[1],
        method=method,  # type: ignore[arg-type]
    )
    assert ((narrow.lower >= 0) & (narrow.lower <= target + 1e-12)).all()
    assert ((narrow.upper <= 1) & (narrow.upper >= target - 1e-12)).all()
    assert (wide.lower <= narrow.lower + 1e-9).all()
    assert (wide.upper >= narrow.upper - 1e-9).all()
