"""Funnel-plot control limits around a target rate or proportion.

Both functions follow the construction in PHE's funnel-plot tools and PHEindicatormethods: the
control limit at denominator ``n`` is the observed value whose own confidence interval just
touches the target. An area plotted outside the funnel is therefore exactly an area whose
confidence interval excludes the target, so the chart and the interval tell the same story.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from caremodels.stats._checks import (
    FloatArray,
    as_float_array,
    check_confidence,
    check_multiplier,
    check_real,
    require,
    z_value,
)
from caremodels.stats.estimate import Limits


def funnel_limits_rate(
    denominators: ArrayLike,
    target_rate: float,
    *,
    multiplier: float,
    confidence: float,
) -> Limits:
    """Exact Poisson control limits for a crude rate, one pair per denominator.

    ``target_rate`` is on the ``multiplier`` scale (e.g. 250 per 100,000 with
    ``multiplier=100000``), and so are the limits returned. With ``E = target_rate * n /
    multiplier`` expected events, the lower limit is ``O_L / n * multiplier`` where ``O_L`` is
    the count whose exact upper confidence limit equals ``E``; the upper limit uses the count
    whose exact lower confidence limit equals ``E``. Counts are treated as continuous (through
    the incomplete gamma function), so the limits are smooth curves; at whole-number counts
    they coincide with PHE's funnel tables. Pass 0.95 and 0.998 for the usual two funnels.
    """
    population = _denominators(denominators)
    target = check_real(target_rate, "target_rate")
    if target <= 0:
        raise ValueError(f"target_rate must be greater than 0, got {target:g}")
    scale = check_multiplier(multiplier)
    tail = (1.0 - check_confidence(confidence)) / 2.0
    expected = target * population / scale
    # P(X <= O_L | E) = tail, with the Poisson CDF extended to real O_L via Q(O_L + 1, E):
    # precisely "the exact upper limit of O_L equals E". Solutions below 0 come back as 0.
    low_count = special.pdtrik(tail, expected)
    # P(X >= O_U | E) = tail, i.e. "the exact lower limit of O_U equals E".
    high_count = special.pdtrik(1.0 - tail, expected) + 1.0
    # pdtrik cannot return O_U - 1 < 0, which is needed when E is tiny (below about 0.025 at
    # 95%); solve P(Gamma(O_U) <= E) = tail for O_U in (0, 1) directly there.
    tiny = -np.expm1(-expected) < tail
    if tiny.any():
        high_count = np.array(high_count, dtype=np.float64)
        small = expected[tiny]
        high_count[tiny] = _solve_decreasing(lambda a: special.gammainc(a, small), tail, small.size)
    return Limits(
        np.asarray(low_count / population * scale, dtype=np.float64),
        np.asarray(high_count / population * scale, dtype=np.float64),
    )


def funnel_limits_proportion(
    denominators: ArrayLike,
    target_proportion: float,
    *,
    confidence: float,
    method: Literal["wilson", "exact"] = "wilson",
    multiplier: float = 1,
) -> Limits:
    """Binomial control limits for a proportion, one pair per denominator.

    ``target_proportion`` is on the 0-1 scale; limits are returned times ``multiplier`` (use 100
    for percentages) and kept within [0, multiplier].

    ``method="wilson"`` (PHE's choice) inverts the Wilson score interval, which gives
    ``p0 -/+ z sqrt(p0 (1 - p0) / n)``. ``method="exact"`` inverts the Clopper-Pearson
    interval instead (binomial counts treated as continuous through the incomplete beta
    function), which is wider for small denominators and targets near 0 or 1.
    """
    population = _denominators(denominators)
    target = check_real(target_proportion, "target_proportion")
    if not 0.0 < target < 1.0:
        raise ValueError(
            f"target_proportion must be strictly between 0 and 1 (a proportion, not a "
            f"percentage), got {target:g}"
        )
    scale = check_multiplier(multiplier)
    if method == "wilson":
        spread = z_value(confidence) * np.sqrt(target * (1.0 - target) / population)
        lower, upper = target - spread, target + spread
    elif method == "exact":
        tail = (1.0 - check_confidence(confidence)) / 2.0
        # P(X <= x_L | n, p0) = tail: the Clopper-Pearson upper limit of x_L is p0.
        low_count = special.bdtrik(tail, population, target)
        # P(X >= x_U | n, p0) = tail: the Clopper-Pearson lower limit of x_U is p0.
        high_count = special.bdtrik(1.0 - tail, population, target) + 1.0
        # As for rates, bdtrik cannot give x_U - 1 < 0; solve I_p0(x_U, n - x_U + 1) = tail there.
        tiny = -np.expm1(population * np.log1p(-target)) < tail
        if tiny.any():
            high_count = np.array(high_count, dtype=np.float64)
            small = population[tiny]
            high_count[tiny] = _solve_decreasing(
                lambda a: special.betainc(a, small - a + 1.0, target), tail, small.size
            )
        lower, upper = low_count / population, high_count / population
    else:
        raise ValueError(f"method must be 'wilson' or 'exact', got {method!r}")
    return Limits(
        np.asarray(np.clip(lower, 0.0, 1.0) * scale, dtype=np.float64),
        np.asarray(np.clip(upper, 0.0, 1.0) * scale, dtype=np.float64),
    )


def _denominators(denominators: ArrayLike) -> FloatArray:
    population = as_float_array(denominators, "denominators")
    require(population > 0, population, "denominators", "> 0")
    return population


def _solve_decreasing(function: Callable[[FloatArray], FloatArray], target: float, size: int) -> FloatArray:
    """Elementwise root in (0, 1) of a function decreasing from 1 (at 0) to below ``target`` (at 1).

    ``function`` maps ``size`` trial points to ``size`` values, one per equation being solved.
    Bisection: 60 halvings pin each root to within 1e-18, and this only runs for the few
    denominators with a tiny expected count, so there is no case for anything cleverer.
    """
    low = np.zeros(size)
    high = np.ones(size)
    for _ in range(60):
        middle = (low + high) / 2.0
        above = function(middle) > target
        low = np.where(above, middle, low)
        high = np.where(above, high, middle)
    return (low + high) / 2.0
