"""Confidence limits for an observed number of events, treated as a Poisson count.

These are the building blocks for crude rates and for Dobson's interval around a directly
standardised rate. They return limits for the *count*; divide by the denominator and scale by the
multiplier to get limits for a rate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from caremodels.stats._checks import (
    FloatArray,
    as_float_array,
    check_confidence,
    require,
    z_value,
)
from caremodels.stats.estimate import Limits

BYAR_MIN_COUNT = 10
"""Counts at or above this use Byar's approximation, below it the exact method (PHE practice)."""


def byar_count_limits(counts: ArrayLike, confidence: float = 0.95) -> Limits:
    """Byar's approximation to the exact Poisson limits (Breslow and Day, 1987).

    ``O_lower = O (1 - 1/(9 O) - z / (3 sqrt(O)))^3`` and
    ``O_upper = (O + 1) (1 - 1/(9 (O + 1)) + z / (3 sqrt(O + 1)))^3``.

    Accurate for counts of 10 or more. For very small counts the lower formula can dip below
    zero; it is floored at 0 (and is exactly 0 for a count of 0), which is why
    :func:`poisson_count_limits` switches to the exact method below 10.
    """
    observed = _counts(counts)
    z = z_value(confidence)
    # Tiny counts send the bracket towards -inf; that only feeds the floor at 0 below.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        base = 1.0 - 1.0 / (9.0 * observed) - z / (3.0 * np.sqrt(observed))
        lower = np.where(observed > 0, observed * base**3, 0.0)
    lower = np.where(np.isnan(observed), np.nan, np.maximum(lower, 0.0))
    shifted = observed + 1.0
    upper = shifted * (1.0 - 1.0 / (9.0 * shifted) + z / (3.0 * np.sqrt(shifted))) ** 3
    return Limits(np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))


def exact_poisson_count_limits(counts: ArrayLike, confidence: float = 0.95) -> Limits:
    """Exact Poisson limits through the chi-square link (Armitage and Berry, 2002).

    ``O_lower = chi2_{alpha/2}(2 O) / 2`` (0 when O is 0) and
    ``O_upper = chi2_{1 - alpha/2}(2 O + 2) / 2``.

    Counts need not be whole numbers; the formula is evaluated as given.
    """
    observed = _counts(counts)
    alpha = 1.0 - check_confidence(confidence)
    # chi2_p(2k) / 2 is the p-quantile of a Gamma(k, 1) variable. The regularised incomplete
    # gamma inverses give it directly, and the upper one works from the small tail alpha/2 so
    # that 99.8% limits keep full precision.
    with np.errstate(invalid="ignore"):
        lower = np.where(observed > 0, special.gammaincinv(observed, alpha / 2.0), 0.0)
    # For subnormal counts (~1e-320) gammaincinv gives NaN rather than its true, underflowing 0.
    lower = np.where(np.isnan(observed), np.nan, np.nan_to_num(lower, nan=0.0))
    upper = special.gammainccinv(observed + 1.0, alpha / 2.0)
    return Limits(np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))


def poisson_count_limits(counts: ArrayLike, confidence: float = 0.95) -> Limits:
    """PHE's choice: exact limits for counts below 10, Byar's approximation from 10 upwards."""
    observed = _counts(counts)
    # Fresh, writable copies: the small counts are overwritten in place below.
    lower, upper = (np.array(limit) for limit in byar_count_limits(observed, confidence))
    small = observed < BYAR_MIN_COUNT
    if small.any():
        # The incomplete gamma inverses cost far more than Byar's closed form, so only the
        # small counts (usually a minority of rows) go through them.
        exact = exact_poisson_count_limits(observed[small], confidence)
        lower[small] = exact.lower
        upper[small] = exact.upper
    return Limits(lower, upper)


def _counts(counts: ArrayLike) -> FloatArray:
    observed = as_float_array(counts, "counts")
    require(observed >= 0, observed, "counts", ">= 0")
    return observed
