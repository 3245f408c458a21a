"""Placebo-calibrated inference for a few treated units (Conley and Taber 2011; Ferman and Pinto 2019).

A treated site's estimate is compared with the same estimate made for each comparison pseudo-site as
if it had been treated. Each estimate is first divided by its own Poisson standard error, so that big
and small units become comparable; the placebo statistics then measure how much more variable the
estimates are than Poisson noise alone (over-dispersion, serial correlation, shocks shared by a
practice's patients). The interval is the treated estimate plus or minus a Student t quantile with as
many degrees of freedom as placebos, times the Poisson standard error inflated by that factor: exact if
the placebo statistics are normal with the treated unit's spread. A rank (permutation) p-value is
reported beside it.

Boundaries: pure numerics; no data access.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

__all__ = [
    "ADEQUATE_PLACEBOS",
    "MIN_PLACEBOS",
    "CalibratedInterval",
    "few_placebos_caveat",
    "placebo_calibrated",
]

# Fewer placebos than this leave the spread too uncertain for an interval worth printing.
MIN_PLACEBOS = 3
# Below this the interval rests on so few areas that it depends on their resembling the target
# (docs/evaluation.md: intervals from economies with few comparison areas covered less often).
ADEQUATE_PLACEBOS = 10


class CalibratedInterval(BaseModel):
    model_config = ConfigDict(frozen=True)

    log_estimate: float
    poisson_standard_error: float
    # Mean squared placebo statistic: the variance of an estimate relative to Poisson noise.
    dispersion: float
    placebos: int
    ci_low: float
    ci_high: float
    p_value: float
    rank_p_value: float


def placebo_calibrated(
    log_estimate: float,
    poisson_standard_error: float,
    placebo_statistics: Sequence[float],
    *,
    confidence: float = 0.95,
) -> CalibratedInterval:
    """Interval and p-value for a log rate ratio from placebo statistics (estimate / Poisson s.e.)."""
    statistics = np.asarray([value for value in placebo_statistics if math.isfinite(value)], dtype=float)
    count = len(statistics)
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if not (math.isfinite(log_estimate) and poisson_standard_error > 0):
        raise ValueError("the estimate and its standard error must be finite and positive")
    own = log_estimate / poisson_standard_error
    if count < MIN_PLACEBOS:
        return CalibratedInterval(
            log_estimate=log_estimate,
            poisson_standard_error=poisson_standard_error,
            dispersion=math.nan,
            placebos=count,
            ci_low=math.nan,
            ci_high=math.nan,
            p_value=math.nan,
            rank_p_value=math.nan,
        )
    dispersion = float(np.mean(statistics**2))
    scale = math.sqrt(dispersion) * poisson_standard_error
    quantile = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=count))
    t_statistic = log_estimate / scale
    return CalibratedInterval(
        log_estimate=log_estimate,
        poisson_standard_error=poisson_standard_error,
        dispersion=dispersion,
        placebos=count,
        ci_low=math.exp(log_estimate - quantile * scale),
        ci_high=math.exp(log_estimate + quantile * scale),
        p_value=float(2 * scipy_stats.t.sf(abs(t_statistic), df=count)),
        rank_p_value=float((1 + np.sum(np.abs(statistics) >= abs(own))) / (count + 1)),
    )


def few_placebos_caveat(placebos: int) -> str | None:
    """A caveat for an interval calibrated on fewer than ``ADEQUATE_PLACEBOS`` placebos."""
    if MIN_PLACEBOS <= placebos < ADEQUATE_PLACEBOS:
        return (
            f"Only {placebos} comparison areas served as placebos: the interval relies on them resembling "
            "the target and may be too narrow; more comparison areas make it more reliable."
        )
    return None
