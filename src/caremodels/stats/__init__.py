"""Public health statistics with confidence intervals, following PHE / OHID published methods.

The methods are those of the PHE "Technical Guide: Confidence intervals", the Fingertips public
health technical guidance and the PHEindicatormethods R package; ``docs/statistics.md`` gives the
formulas and worked examples.

What goes in
    Counts of events and numerators: real numbers >= 0 (whole numbers in practice, but fractional
    counts, e.g. apportioned ones, are evaluated as given). Denominators: populations or
    person-years, > 0 (a DSR band may have population 0 only if its count is 0). Proportions need
    ``numerator <= denominator``; rates do not. ``confidence`` is a two-sided level strictly
    between 0 and 1 (0.95, 0.998, ...); 95 is refused, not rescaled. Standard population weights
    are taken as given, on any positive scale, aligned band by band with counts and populations.

What comes out
    Scalar functions return an :class:`Estimate` (value, lower, upper, method, ...) on the scale
    set by ``multiplier``: a rate per 1,000 by default for :func:`crude_rate`, per 100,000 for
    :func:`dsr`, a 0-1 proportion for :func:`proportion` (``multiplier=100`` for a percentage).
    The ``*_ci_arrays`` functions take numpy arrays (or anything array-like, e.g. pandas columns)
    and return :class:`IntervalArrays` of float64 arrays, giving the same numbers as the scalar
    functions element by element; NaN in an input row means "missing" and gives NaN in that row.

Small counts
    Crude rates use Byar's approximation for counts of 10 or more and the exact Poisson
    (chi-square) method below 10; a count of 0 has lower limit 0. A directly standardised rate is
    not calculated when the total count is below 10: the scalar :func:`dsr` returns ``None`` for
    value and limits with a ``reason``, :func:`dsr_ci_arrays` returns NaN. Dobson's interval uses
    the Poisson limits of the total count. Wilson intervals are valid for any numerator,
    including 0 and the full denominator.

Errors
    Invalid values raise ``ValueError`` naming the argument (and, for arrays, the first bad
    position); non-numeric input raises ``TypeError``. Nothing is silently clipped except where
    documented (Byar's and Dobson's lower limits are floored at 0; proportion limits at [0, 1]).
"""

from caremodels.stats._checks import z_value
from caremodels.stats.dsr import DSR_MIN_TOTAL_COUNT, dsr, dsr_ci_arrays, dsr_log_variance_arrays
from caremodels.stats.estimate import Estimate, IntervalArrays, Limits, Method
from caremodels.stats.funnels import funnel_limits_proportion, funnel_limits_rate
from caremodels.stats.poisson import (
    BYAR_MIN_COUNT,
    byar_count_limits,
    exact_poisson_count_limits,
    poisson_count_limits,
)
from caremodels.stats.proportions import proportion, proportion_ci_arrays
from caremodels.stats.rates import crude_rate, crude_rate_ci_arrays

__all__ = [
    "BYAR_MIN_COUNT",
    "DSR_MIN_TOTAL_COUNT",
    "Estimate",
    "IntervalArrays",
    "Limits",
    "Method",
    "byar_count_limits",
    "crude_rate",
    "crude_rate_ci_arrays",
    "dsr",
    "dsr_ci_arrays",
    "dsr_log_variance_arrays",
    "exact_poisson_count_limits",
    "funnel_limits_proportion",
    "funnel_limits_rate",
    "poisson_count_limits",
    "proportion",
    "proportion_ci_arrays",
    "z_value",
]
