"""Proportions with Wilson score confidence intervals (PHE method)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from caremodels.stats._checks import (
    FloatArray,
    as_float_array,
    broadcast,
    check_multiplier,
    check_real,
    require,
    z_value,
)
from caremodels.stats.estimate import Estimate, IntervalArrays


def _wilson_limits(
    numerators: FloatArray, denominators: FloatArray, z: float
) -> tuple[FloatArray, FloatArray]:
    """Wilson score limits on the 0-1 scale for already validated, broadcast inputs."""
    z2 = z * z
    # (2x + z^2 -/+ z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2)): written as in the PHE guide and
    # spreadsheet tool so the code can be checked against them line by line.
    root = z * np.sqrt(z2 + 4.0 * numerators * (1.0 - numerators / denominators))
    centre = 2.0 * numerators + z2
    scale = 2.0 * (denominators + z2)
    # At x = 0 and x = n the formula is exactly 0 and 1, but rounding can land a hair either
    # side (1 - 2e-16 would put the upper limit below the observed proportion), so pin them.
    lower = np.where(numerators == 0, 0.0, np.clip((centre - root) / scale, 0.0, 1.0))
    upper = np.where(numerators == denominators, 1.0, np.clip((centre + root) / scale, 0.0, 1.0))
    return lower, upper


def proportion_ci_arrays(
    numerators: ArrayLike,
    denominators: ArrayLike,
    *,
    confidence: float = 0.95,
    multiplier: float = 1,
) -> IntervalArrays:
    """Vectorised :func:`proportion`: inputs broadcast together; NaN marks a missing row.

    ``confidence`` and ``multiplier`` are keyword-only, as in :func:`proportion`, because the
    rate functions take them in the opposite order and a silent swap must not be possible.
    """
    numerator = as_float_array(numerators, "numerators")
    denominator = as_float_array(denominators, "denominators")
    scale = check_multiplier(multiplier)
    z = z_value(confidence)
    require(numerator >= 0, numerator, "numerators", ">= 0")
    require(denominator > 0, denominator, "denominators", "> 0")
    numerator, denominator = broadcast(numerator, denominator, "numerators and denominators")
    # Compared after broadcasting so the message can point at the offending position.
    require(
        ~(numerator > denominator),
        numerator,
        "numerators",
        "no greater than their denominators (use crude_rate if events can exceed the population)",
    )
    lower, upper = _wilson_limits(numerator, denominator, z)
    return IntervalArrays(numerator / denominator * scale, lower * scale, upper * scale)


def proportion(
    numerator: float,
    denominator: float,
    *,
    confidence: float = 0.95,
    multiplier: float = 1,
) -> Estimate:
    """Proportion ``numerator / denominator * multiplier`` with a Wilson score interval.

    Requires ``0 <= numerator <= denominator`` and ``denominator > 0``. Use ``multiplier=100``
    for a percentage. The Wilson interval behaves well for small denominators and for
    proportions near 0 or 1, where the simple normal approximation fails.
    """
    x = check_real(numerator, "numerator")
    n = check_real(denominator, "denominator")
    # Checked here as well as in the array function so messages use the singular names.
    if n <= 0:
        raise ValueError(f"denominator must be > 0, got {n:g}")
    if not 0 <= x <= n:
        raise ValueError(
            f"numerator must be between 0 and the denominator ({n:g}), got {x:g}"
            + ("; use crude_rate if events can exceed the population" if x > n else "")
        )
    result = proportion_ci_arrays(x, n, confidence=confidence, multiplier=multiplier)
    return Estimate(
        value=float(result.value),
        lower=float(result.lower),
        upper=float(result.upper),
        confidence=float(confidence),
        method="wilson",
        multiplier=float(multiplier),
        numerator=x,
        denominator=n,
    )
