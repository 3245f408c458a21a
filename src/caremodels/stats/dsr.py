"""Directly standardised rates with Dobson's confidence interval (PHE method)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from caremodels.stats._checks import (
    FloatArray,
    as_float_array,
    check_confidence,
    check_multiplier,
    require,
)
from caremodels.stats.estimate import Estimate, IntervalArrays
from caremodels.stats.poisson import poisson_count_limits

DSR_MIN_TOTAL_COUNT = 10
"""PHE withholds a DSR (value and interval) when the total count is below this."""


def dsr_ci_arrays(
    counts: ArrayLike,
    populations: ArrayLike,
    standard_weights: ArrayLike,
    multiplier: float = 100000,
    confidence: float = 0.95,
) -> IntervalArrays:
    """Vectorised :func:`dsr` over many areas at once.

    ``counts`` and ``populations`` have the same shape: ``(bands,)`` for one area or
    ``(areas, bands)`` for many, bands in the same order as ``standard_weights`` (shape
    ``(bands,)``, or ``(areas, bands)`` for a different standard per area). Outputs have one value
    per area; an area is NaN when its total count is below 10 or any of its inputs is NaN.
    """
    observed = as_float_array(counts, "counts")
    population = as_float_array(populations, "populations")
    weights = as_float_array(standard_weights, "standard_weights")
    scale = check_multiplier(multiplier)
    check_confidence(confidence)
    _check_shapes(observed, population, weights)
    require(observed >= 0, observed, "counts", ">= 0")
    require(population >= 0, population, "populations", ">= 0")
    require(weights >= 0, weights, "standard_weights", ">= 0")
    # A band with no population but some events has no defined rate; dividing would give inf.
    require(~((population == 0) & (observed > 0)), observed, "counts", "0 where population is 0")
    weights = np.broadcast_to(weights, observed.shape)
    weight_total = weights.sum(axis=-1)
    require(weight_total > 0, weight_total, "standard_weights", "positive in at least one band")

    # Bands with zero population (and so zero events) contribute nothing to the weighted sum.
    safe_population = np.where(population > 0, population, 1.0)
    band_rate = np.where(population > 0, observed / safe_population, 0.0)
    band_rate = np.where(np.isnan(population), np.nan, band_rate)
    # Normalising the weights first keeps their squares from underflowing for weights on
    # extreme scales; the result is the same for any positive scale.
    share = weights / weight_total[..., np.newaxis]
    value = (share * band_rate).sum(axis=-1)
    # var(DSR) = sum(w_i^2 O_i / n_i^2) / (sum w_i)^2, Poisson variance O_i in each band.
    variance = (share**2 * band_rate / safe_population).sum(axis=-1)

    total = observed.sum(axis=-1)
    shown = total >= DSR_MIN_TOTAL_COUNT
    limits = poisson_count_limits(total, confidence)
    # Dobson: shift the DSR by the total count's limits, rescaled by sd(DSR)/sd(O), sd(O) = sqrt(O).
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(variance / total)
    lower = value + spread * (limits.lower - total)
    upper = value + spread * (limits.upper - total)
    # Dobson's lower limit can fall below zero when one sparsely populated band carries most of
    # the weight; a negative rate is impossible, so floor it (PHE leaves it unfloored).
    lower = np.maximum(lower, 0.0)

    def withheld(array: FloatArray) -> FloatArray:
        return np.where(shown, array * scale, np.nan)

    return IntervalArrays(withheld(value), withheld(lower), withheld(upper))


def dsr_log_variance_arrays(
    counts: ArrayLike, populations: ArrayLike, standard_weights: ArrayLike
) -> FloatArray:
    """The variance of log(DSR) by the delta method, var(DSR) / DSR^2, one value per area (same
    shapes as :func:`dsr_ci_arrays`; NaN where the DSR is 0 or an input is NaN). For one band it is
    1 / count, the Poisson variance of a crude rate's log; comparisons of DSRs on the log scale
    (ratios of growth) use it as they use 1 / count for crude rates."""
    observed = as_float_array(counts, "counts")
    population = as_float_array(populations, "populations")
    weights = np.broadcast_to(as_float_array(standard_weights, "standard_weights"), observed.shape)
    _check_shapes(observed, population, weights)
    safe_population = np.where(population > 0, population, 1.0)
    band_rate = np.where(population > 0, observed / safe_population, 0.0)
    band_rate = np.where(np.isnan(population), np.nan, band_rate)
    share = weights / weights.sum(axis=-1)[..., np.newaxis]
    value = (share * band_rate).sum(axis=-1)
    variance = (share**2 * band_rate / safe_population).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = np.where(value > 0, variance / value**2, np.nan)
    return result


def dsr(
    counts: ArrayLike,
    populations: ArrayLike,
    standard_weights: ArrayLike,
    *,
    multiplier: float = 100000,
    confidence: float = 0.95,
) -> Estimate:
    """Directly standardised rate per ``multiplier`` with Dobson's confidence interval.

    ``counts``, ``populations`` and ``standard_weights`` are aligned sequences, one entry per
    standardisation band (e.g. age-sex band). Weights are used as given: any positive scale works
    (the 2013 European Standard Population summing to 100,000, or proportions summing to 1).

    ``DSR = sum(w_i O_i / n_i) / sum(w_i) * multiplier``; the interval uses Dobson's method with
    Byar's (or, below 10, exact) limits for the total count. When the total count is below 10 the
    value and interval are ``None`` and ``reason`` explains why (PHE publishes no DSR then).

    A band may have population 0 only if its count is also 0; it then contributes nothing.
    """
    observed = as_float_array(counts, "counts")
    population = as_float_array(populations, "populations")
    weights = as_float_array(standard_weights, "standard_weights")
    named = (("counts", observed), ("populations", population), ("standard_weights", weights))
    for name, array in named:
        if array.ndim != 1:
            raise ValueError(f"{name} must be a one-dimensional sequence, got shape {array.shape}")
        if np.isnan(array).any():
            raise ValueError(f"{name} must not contain NaN (missing values)")
    result = dsr_ci_arrays(observed, population, weights, multiplier, confidence)
    total = float(observed.sum())
    reason = None
    if total < DSR_MIN_TOTAL_COUNT:
        reason = (
            f"total count {total:g} is below {DSR_MIN_TOTAL_COUNT}: a directly standardised "
            "rate from so few events is unreliable, so (as PHE does) it is not calculated"
        )
    return Estimate(
        value=None if reason else float(result.value),
        lower=None if reason else float(result.lower),
        upper=None if reason else float(result.upper),
        confidence=float(confidence),
        method="dobson",
        multiplier=float(multiplier),
        numerator=total,
        denominator=float(population.sum()),
        reason=reason,
    )


def _check_shapes(observed: FloatArray, population: FloatArray, weights: FloatArray) -> None:
    if observed.ndim not in (1, 2):
        raise ValueError(f"counts must have shape (bands,) or (areas, bands), got {observed.shape}")
    if observed.shape[-1] == 0:
        raise ValueError("at least one standardisation band is needed")
    if observed.ndim == 1 and population.ndim == 1 and population.shape != observed.shape:
        raise ValueError(
            f"counts and populations must be aligned, one entry per band: counts has "
            f"{observed.shape[0]} entries, populations {population.shape[0]}"
        )
    if population.shape != observed.shape:
        raise ValueError(
            f"counts and populations must have the same shape (one entry per band), "
            f"got {observed.shape} and {population.shape}"
        )
    if weights.shape not in ((observed.shape[-1],), observed.shape):
        raise ValueError(
            f"standard_weights must have one entry per band ({observed.shape[-1]}), "
            + f"got shape {weights.shape}"
        )
