"""Fingertips-style comparison of each area's value with a benchmark: England, or the rest of
England (England without the area).

The method is OHID Fingertips' "compared with benchmark": an area is significantly higher than
the benchmark when the lower limit of its confidence interval is above the benchmark's value, lower
when the upper limit is below it, and similar otherwise; it is done at 95% and at 99.8%. Where the
indicator says which direction is an improvement, higher and lower read as better and worse;
where it does not ("neither"), they stay higher and lower. An area with no interval (a rate of bed
days or of a summed field) or no value is "not compared".

The rest of England is the benchmark's counts minus the area's, finished by the same function
(``finish_arrays``), so that an area is not compared with a benchmark that contains it.

Boundaries: pure functions over arrays of summed counts; values and intervals only ever come from
``caremodels.indicators.compute.finish_arrays``.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from caremodels.indicators.compute import RateBasis, finish_arrays
from caremodels.indicators.definition import IndicatorDefinition

__all__ = [
    "COMPARISON_LEVELS",
    "Comparison",
    "compare_with_benchmark",
    "comparisons",
    "level_key",
]

Comparison = Literal["better", "similar", "worse", "higher", "lower", "not compared"]
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
COMPARISON_LEVELS = (0.95, 0.998)
"""The two confidence levels Fingertips compares at."""
FloatArray = NDArray[np.float64]


def level_key(confidence: float) -> str:
    """``95`` or ``99_8``: a column-friendly name of a confidence level."""
    return f"{confidence * 100:g}".replace(".", "_")


def compare_with_benchmark(
    definition: IndicatorDefinition, lower: FloatArray, upper: FloatArray, benchmark: FloatArray
) -> NDArray[np.str_]:
    """Each area's comparison (``Comparison``) of its interval ``lower``-``upper`` with the
    benchmark's value (element by element; NaN anywhere gives "not compared")."""
    lower, upper, benchmark = (np.asarray(a, dtype=np.float64) for a in (lower, upper, benchmark))
    known = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(benchmark)
    with np.errstate(invalid="ignore"):
        high = known & (lower > benchmark)
        low = known & (upper < benchmark)
    direction = definition.direction_of_improvement
    above = {"higher": "better", "lower": "worse"}.get(direction, "higher")
    below = {"higher": "worse", "lower": "better"}.get(direction, "lower")
    out = np.full(lower.shape, "not compared", dtype=object)
    out[known] = "similar"
    out[high] = above
    out[low] = below
    return out.astype(str)


def comparisons(
    definition: IndicatorDefinition,
    numerator: FloatArray,
    denominator: FloatArray,
    events: FloatArray,
    months: FloatArray,
    benchmark_numerator: FloatArray,
    benchmark_denominator: FloatArray,
    benchmark_events: FloatArray,
    *,
    rate_basis: RateBasis = "per_year",
) -> dict[str, NDArray[np.str_]]:
    """Each area-period's comparison with the benchmark (England) and with the rest of England
    (the benchmark less the area) at 95% and 99.8%: keys ``england_95``, ``england_99_8``,
    ``rest_95``, ``rest_99_8``. Inputs are the raw sums ``finish_arrays`` takes, one row per
    area-period, the benchmark's sums aligned row by row (the same period's England sums)."""
    england = finish_arrays(
        definition,
        benchmark_numerator,
        benchmark_denominator,
        benchmark_events,
        months,
        rate_basis=rate_basis,
    )
    rest = finish_arrays(
        definition,
        _less(benchmark_numerator, numerator),
        _less(benchmark_denominator, denominator),
        _less(benchmark_events, events),
        months,
        rate_basis=rate_basis,
    )
    out: dict[str, NDArray[np.str_]] = {}
    for confidence in COMPARISON_LEVELS:
        area = finish_arrays(
            definition, numerator, denominator, events, months, rate_basis=rate_basis, confidence=confidence
        )
        key = level_key(confidence)
        out[f"england_{key}"] = compare_with_benchmark(definition, area.ci_low, area.ci_high, england.value)
        out[f"rest_{key}"] = compare_with_benchmark(definition, area.ci_low, area.ci_high, rest.value)
    return out


def _less(total: FloatArray, part: FloatArray) -> FloatArray:
    # Sums of floats: a part equal to its total may leave -1e-12, which no count can be.
    difference: FloatArray = np.maximum(
        np.asarray(total, dtype=np.float64) - np.asarray(part, dtype=np.float64), 0.0
    )
    return difference
