"""Crude rates with Byar's or exact Poisson confidence intervals (PHE method)."""

from __future__ import annotations

from numpy.typing import ArrayLike

from caremodels.stats._checks import (
    as_float_array,
    broadcast,
    check_confidence,
    check_multiplier,
    check_real,
    require,
)
from caremodels.stats.estimate import Estimate, IntervalArrays
from caremodels.stats.poisson import BYAR_MIN_COUNT, poisson_count_limits


def crude_rate_ci_arrays(
    counts: ArrayLike,
    denominators: ArrayLike,
    multiplier: float = 1000,
    confidence: float = 0.95,
) -> IntervalArrays:
    """Vectorised :func:`crude_rate`: ``counts`` and ``denominators`` broadcast together.

    NaN in either input gives NaN in that position of every output (a missing row), so a whole
    column can be passed with gaps. Negative counts and non-positive denominators raise
    ``ValueError`` naming the first offending position.
    """
    observed = as_float_array(counts, "counts")
    population = as_float_array(denominators, "denominators")
    scale = check_multiplier(multiplier)
    check_confidence(confidence)
    require(observed >= 0, observed, "counts", ">= 0")
    require(population > 0, population, "denominators", "> 0")
    observed, population = broadcast(observed, population, "counts and denominators")
    limits = poisson_count_limits(observed, confidence)
    per = scale / population
    return IntervalArrays(observed * per, limits.lower * per, limits.upper * per)


def crude_rate(
    count: float,
    denominator: float,
    *,
    multiplier: float = 1000,
    confidence: float = 0.95,
) -> Estimate:
    """Rate of events per ``multiplier`` population (or person-years) with a confidence interval.

    ``value = count / denominator * multiplier``. The interval comes from limits for the count:
    Byar's approximation when ``count >= 10``, the exact Poisson (chi-square) method below 10; a
    count of 0 has a lower limit of 0. ``count`` may exceed ``denominator`` (it is a rate, not a
    proportion).
    """
    observed = check_real(count, "count")
    population = check_real(denominator, "denominator")
    # Checked here as well as in the array function so messages use the singular names.
    if observed < 0:
        raise ValueError(f"count must be >= 0, got {observed:g}")
    if population <= 0:
        raise ValueError(f"denominator must be > 0, got {population:g}")
    result = crude_rate_ci_arrays(observed, population, multiplier, confidence)
    return Estimate(
        value=float(result.value),
        lower=float(result.lower),
        upper=float(result.upper),
        confidence=float(confidence),
        method="exact" if observed < BYAR_MIN_COUNT else "byar",
        multiplier=float(multiplier),
        numerator=observed,
        denominator=population,
    )
