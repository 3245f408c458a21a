"""Result types returned by :mod:`caremodels.stats`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

Method = Literal["byar", "exact", "wilson", "dobson"]
"""How the interval was computed: Byar's approximation, exact Poisson (chi-square), Wilson score
or Dobson's method (for directly standardised rates)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """One statistic with its confidence interval, on the scale set by ``multiplier``.

    ``value``, ``lower`` and ``upper`` are ``None`` only when the statistic is deliberately not
    computed (a directly standardised rate from fewer than 10 events); ``reason`` then says why.
    ``numerator`` and ``denominator`` are the totals the statistic was built from (for a DSR, the
    total count and total population across all bands).
    """

    value: float | None
    lower: float | None
    upper: float | None
    confidence: float
    method: Method
    multiplier: float
    numerator: float
    denominator: float
    reason: str | None = None

    @property
    def computed(self) -> bool:
        """False when the value was withheld (see ``reason``)."""
        return self.value is not None


class IntervalArrays(NamedTuple):
    """Vectorised results: float64 arrays of equal shape; NaN marks a missing or withheld row."""

    value: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


class Limits(NamedTuple):
    """Lower and upper limits as float64 arrays (count limits, or funnel-plot control limits)."""

    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
