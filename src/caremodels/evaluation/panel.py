"""A unit-by-period panel of counts and exposures, and a Poisson model with unit and period fixed
effects fitted on it.

Boundaries: pure numerics on NumPy arrays; no warehouse, no reference data. The fit is the maximum
likelihood estimate of ``log E[count] = unit + period + regressors @ coefficients + log(exposure)``,
computed by profiling the two sets of fixed effects out (iterative proportional fitting) and taking
Newton steps for the coefficients, so that thousands of practices cost no more than a few matrix
passes. ``tests/evaluation`` checks it against statsmodels' GLM with dummy variables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["CountPanel", "PoissonFit", "fit_poisson_two_way", "weighted_two_way_demean"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CountPanel:
    """Counts and exposures as units x periods matrices; exposure 0 marks a cell with no data."""

    units: tuple[str, ...]
    periods: tuple[dt.date, ...]
    events: FloatArray
    exposure: FloatArray

    @classmethod
    def from_counts(cls, counts: pd.DataFrame, units: Collection[str]) -> CountPanel:
        """A practice x month panel from ``practice_month_counts`` rows (numerator, denominator)."""
        wanted = sorted(set(units))
        rows = counts[counts["practice_code"].isin(wanted)]
        months = sorted(pd.to_datetime(counts["month"]).dt.date.unique())
        events = (
            rows.pivot_table(index="practice_code", columns="month", values="numerator", aggfunc="sum")
            .reindex(index=wanted, columns=months)
            .fillna(0.0)
        )
        exposure = (
            rows.pivot_table(index="practice_code", columns="month", values="denominator", aggfunc="sum")
            .reindex(index=wanted, columns=months)
            .fillna(0.0)
        )
        return cls(
            units=tuple(wanted),
            periods=tuple(months),
            events=events.to_numpy(dtype=np.float64),
            exposure=exposure.to_numpy(dtype=np.float64),
        )

    def without_unexposed_events(self) -> tuple[CountPanel, int, float]:
        """The panel with every cell that has events but no exposure left out (its events set to 0,
        so it counts as a cell with no data), and how many cells and events were left out.

        Why such cells arise on valid data: the exposure of a practice-month is the list size on the
        15th, so a practice whose list falls to zero before the 15th (its last patient died or moved,
        or the practice closed) can still have events earlier in the month. The Poisson likelihood
        of events against zero exposure is zero, so the cell cannot be modelled; dropping it loses
        those events but no month with a population, and the count is reported."""
        unexposed = (self.exposure == 0) & (self.events > 0)
        if not unexposed.any():
            return self, 0, 0.0
        events = np.where(unexposed, 0.0, self.events)
        panel = CountPanel(units=self.units, periods=self.periods, events=events, exposure=self.exposure)
        return panel, int(unexposed.sum()), float(self.events[unexposed].sum())

    def subset(self, units: Collection[str]) -> CountPanel:
        keep = [index for index, unit in enumerate(self.units) if unit in set(units)]
        return CountPanel(
            units=tuple(self.units[index] for index in keep),
            periods=self.periods,
            events=self.events[keep],
            exposure=self.exposure[keep],
        )

    def indicator(self, units: Collection[str], periods: Sequence[bool] | NDArray[np.bool_]) -> FloatArray:
        """1 in the cells of ``units`` and the selected periods, 0 elsewhere."""
        rows = np.array([unit in set(units) for unit in self.units], dtype=np.float64)
        return rows[:, None] * np.asarray(periods, dtype=np.float64)[None, :]


@dataclass(frozen=True)
class PoissonFit:
    coefficients: FloatArray
    # Model-based (Poisson) covariance of the coefficients: the inverse of the profiled information.
    covariance: FloatArray
    fitted: FloatArray
    iterations: int

    @property
    def standard_errors(self) -> FloatArray:
        return np.sqrt(np.diag(self.covariance))


def weighted_two_way_demean(
    values: FloatArray, weights: FloatArray, *, tolerance: float = 1e-12, max_sweeps: int = 10_000
) -> FloatArray:
    """Residual of ``values`` after a weighted least-squares fit of unit and period effects
    (alternating projections); cells with weight 0 are ignored."""
    result = values.copy()
    row_weight = weights.sum(axis=1)
    column_weight = weights.sum(axis=0)
    row_weight[row_weight == 0] = 1.0
    column_weight[column_weight == 0] = 1.0
    scale = max(1.0, float(np.abs(values).max(initial=0.0)))
    for _ in range(max_sweeps):
        row_means = (weights * result).sum(axis=1) / row_weight
        result -= row_means[:, None]
        column_means = (weights * result).sum(axis=0) / column_weight
        result -= column_means[None, :]
        if max(np.abs(row_means).max(initial=0.0), np.abs(column_means).max(initial=0.0)) < tolerance * scale:
            return result
    raise ArithmeticError("the fixed-effect projection did not converge")


def fit_poisson_two_way(
    events: FloatArray,
    exposure: FloatArray,
    regressors: Sequence[FloatArray],
    *,
    tolerance: float = 1e-9,
    max_iterations: int = 100,
) -> PoissonFit:
    """Poisson maximum likelihood with unit and period fixed effects and a log-exposure offset.

    ``events`` and ``exposure`` are units x periods; each regressor is a units x periods array.
    Units or periods without any event carry no information about the coefficients and are left out.
    """
    if events.shape != exposure.shape or any(x.shape != events.shape for x in regressors):
        raise ValueError("events, exposure and every regressor must have the same shape")
    if np.any(events < 0) or np.any(exposure < 0):
        raise ValueError("counts and exposures cannot be negative")
    if np.any((exposure == 0) & (events > 0)):
        raise ValueError("a cell has events but no exposure")
    if not regressors:
        raise ValueError("give at least one regressor")
    keep_units = events.sum(axis=1) > 0
    keep_periods = events.sum(axis=0) > 0
    y = events[np.ix_(keep_units, keep_periods)]
    present = exposure[np.ix_(keep_units, keep_periods)] > 0
    log_exposure = np.where(
        present, np.log(np.where(present, exposure[np.ix_(keep_units, keep_periods)], 1)), 0
    )
    x = np.stack([regressor[np.ix_(keep_units, keep_periods)] for regressor in regressors])
    if y.size == 0:
        raise ValueError("no events to fit")
    for column in x:
        demeaned = weighted_two_way_demean(column, present.astype(np.float64))
        if np.abs(demeaned[present]).max(initial=0.0) < 1e-12:
            raise ValueError("a regressor is collinear with the unit and period effects")

    coefficients = np.zeros(len(x))
    row_totals, column_totals = y.sum(axis=1), y.sum(axis=0)
    unit_effect = np.log(row_totals / np.where(present, np.exp(log_exposure), 0).sum(axis=1))
    period_effect = np.zeros(y.shape[1])
    information = np.eye(len(x))
    iterations = 0
    for _ in range(max_iterations):
        iterations += 1
        linear = log_exposure + np.tensordot(coefficients, x, axes=1)
        unit_effect, period_effect = _profile_fixed_effects(
            linear, present, row_totals, column_totals, unit_effect, period_effect
        )
        mean = np.where(present, np.exp(unit_effect[:, None] + period_effect[None, :] + linear), 0.0)
        residual = y - mean
        demeaned = np.stack([weighted_two_way_demean(column, mean) for column in x])
        score = np.array([(column * residual).sum() for column in demeaned])
        information = np.einsum("ipt,jpt,pt->ij", demeaned, demeaned, mean)
        step = np.linalg.solve(information, score)
        # Halve a step that overshoots, which keeps the fit safe when a coefficient is large.
        step = step / max(1.0, float(np.abs(step).max()) / 2.0)
        coefficients = coefficients + step
        if float(np.abs(step).max()) < tolerance:
            break
    else:
        raise ArithmeticError("the Poisson fit did not converge")
    linear = log_exposure + np.tensordot(coefficients, x, axes=1)
    unit_effect, period_effect = _profile_fixed_effects(
        linear, present, row_totals, column_totals, unit_effect, period_effect
    )
    fitted = np.zeros_like(events)
    fitted[np.ix_(keep_units, keep_periods)] = np.where(
        present, np.exp(unit_effect[:, None] + period_effect[None, :] + linear), 0.0
    )
    return PoissonFit(
        coefficients=coefficients,
        covariance=np.linalg.inv(information),
        fitted=fitted,
        iterations=iterations,
    )


def _profile_fixed_effects(
    linear: FloatArray,
    present: NDArray[np.bool_],
    row_totals: FloatArray,
    column_totals: FloatArray,
    unit_effect: FloatArray,
    period_effect: FloatArray,
    *,
    tolerance: float = 1e-12,
    max_sweeps: int = 10_000,
) -> tuple[FloatArray, FloatArray]:
    """Unit and period effects that solve the Poisson score equations for fixed coefficients:
    fitted totals equal observed totals in every row and column (iterative proportional fitting)."""
    base = np.where(present, np.exp(linear), 0.0)
    log_rows, log_columns = np.log(row_totals), np.log(column_totals)
    for _ in range(max_sweeps):
        period_effect = log_columns - np.log((base * np.exp(unit_effect)[:, None]).sum(axis=0))
        new_unit = log_rows - np.log((base * np.exp(period_effect)[None, :]).sum(axis=1))
        change = float(np.abs(new_unit - unit_effect).max())
        unit_effect = new_unit
        if change < tolerance:
            return unit_effect, period_effect
    raise ArithmeticError("the fixed effects did not converge")
