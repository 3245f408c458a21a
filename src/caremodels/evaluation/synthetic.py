"""Synthetic control at site level (Abadie, Diamond and Hainmueller 2010), with placebo-in-space
inference.

Units are the target (its practices together) and the comparison pseudo-sites (comparison practices
grouped by CCG). Each unit's quarterly rate is divided by its own rate before the start, so units of
different levels become comparable trajectories and a site is never outside the donors' range just
because its level differs. Non-negative donor weights that sum to one are chosen to reproduce the
target's trajectory before the start; after the start the weighted donors, scaled back to the
target's level, are what the target's rate would have been. The rate ratio is observed events over
the events that counterfactual rate implies.

Fit before the start is the root mean squared prediction error (RMSPE) of the rate. Placebo in
space: every pseudo-site is treated as if it were the target, with the other pseudo-sites as
donors. Their estimates calibrate the interval (``caremodels.evaluation.inference``), and the rank
of the target's post/pre RMSPE ratio among theirs is Abadie's permutation p-value.

Boundaries: takes practice-by-month counts and an ``EvaluationTarget``; returns an
``EvaluationResult`` whose diagnostics carry the weights, the fit and the quarterly series.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy.optimize import nnls

from caremodels.evaluation.inference import few_placebos_caveat, placebo_calibrated
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult, PlaceboInference
from caremodels.evaluation.targets import EvaluationTarget

__all__ = ["MIN_PRE_QUARTERS", "SyntheticDiagnostics", "synthetic_control", "synthetic_weights"]

MIN_PRE_QUARTERS = 4
FloatArray = NDArray[np.float64]
# Weight of the sum-to-one row in the least-squares problem: large enough to hold the sum at one.
_SUM_TO_ONE_WEIGHT = 1e4


class SyntheticFit(BaseModel):
    model_config = ConfigDict(frozen=True)

    pre_rmspe: float
    post_rmspe: float
    post_pre_ratio: float
    rank_p_value: float
    unit: str


class SyntheticPoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    quarter_start: str
    observed_rate: float
    synthetic_rate: float


class SyntheticPlacebo(BaseModel):
    model_config = ConfigDict(frozen=True)

    unit: str
    rate_ratio: float
    pre_rmspe: float
    post_rmspe: float


class SyntheticDiagnostics(Diagnostics):
    model: str
    weights: dict[str, float]
    fit: SyntheticFit
    inference: PlaceboInference
    series: list[SyntheticPoint]
    placebos: list[SyntheticPlacebo]


@dataclass(frozen=True)
class _UnitSeries:
    events: FloatArray  # by quarter
    person_years: FloatArray  # by quarter


@dataclass(frozen=True)
class _Fit:
    weights: FloatArray
    rate_ratio: float
    log_standard_error: float
    observed_rate: FloatArray
    synthetic_rate: FloatArray
    pre_rmspe: float
    post_rmspe: float


def synthetic_weights(target: FloatArray, donors: FloatArray) -> FloatArray:
    """Non-negative weights summing to one that make ``donors`` (periods x donors) closest to
    ``target`` (periods) in least squares."""
    if donors.ndim != 2 or donors.shape[0] != target.shape[0]:
        raise ValueError("donors must be periods x donors, with the target's periods")
    system = np.vstack([donors, np.full((1, donors.shape[1]), _SUM_TO_ONE_WEIGHT)])
    right = np.concatenate([target, [_SUM_TO_ONE_WEIGHT]])
    weights, _ = nnls(system, right, maxiter=50 * donors.shape[1] + 100)
    total = weights.sum()
    if total <= 0:
        raise ArithmeticError("no donor weights could be found")
    return np.asarray(weights / total)


def _quarterly(
    counts: pd.DataFrame, units: Mapping[str, Collection[str]], start: dt.date, end: dt.date | None
) -> tuple[list[int], dict[str, _UnitSeries]]:
    """Quarters relative to the start (0 is the first quarter after it), complete quarters only."""
    frame = counts.copy()
    months = pd.to_datetime(frame["month"]).dt.date
    if end is not None:
        frame = frame[months <= end]
        months = months[months <= end]
    offsets = np.array([(m.year - start.year) * 12 + m.month - start.month for m in months])
    frame["quarter"] = np.floor_divide(offsets, 3)
    quarter_ids, months_in_quarter = np.unique(np.floor_divide(np.unique(offsets), 3), return_counts=True)
    quarters = [
        int(quarter) for quarter, count in zip(quarter_ids, months_in_quarter, strict=True) if count == 3
    ]
    series = {}
    for name, practices in units.items():
        rows = frame[frame["practice_code"].isin(set(practices))]
        grouped = rows.groupby("quarter")[["numerator", "denominator"]].sum().reindex(quarters).fillna(0)
        series[name] = _UnitSeries(
            events=grouped["numerator"].to_numpy(dtype=np.float64),
            # A month's mid-month list size is a twelfth of a person-year.
            person_years=grouped["denominator"].to_numpy(dtype=np.float64) / 12,
        )
    return quarters, series


def _fit_unit(
    treated: _UnitSeries, donors: list[_UnitSeries], before: NDArray[np.bool_], multiplier: float
) -> _Fit | None:
    after = ~before
    if treated.events[before].sum() <= 0 or treated.events[after].sum() <= 0:
        return None
    if np.any(treated.person_years <= 0) or any(np.any(d.person_years <= 0) for d in donors):
        return None
    usable = [d for d in donors if d.events[before].sum() > 0]
    if len(usable) < 2:
        return None
    level = treated.events[before].sum() / treated.person_years[before].sum()
    donor_levels = np.array([d.events[before].sum() / d.person_years[before].sum() for d in usable])
    # Each unit's rate relative to its own rate before the start.
    target_index = treated.events / treated.person_years / level
    donor_index = np.column_stack([d.events / d.person_years for d in usable]) / donor_levels[None, :]
    weights = synthetic_weights(target_index[before], donor_index[before])
    synthetic_index = donor_index @ weights
    expected = treated.person_years[after] * level * synthetic_index[after]
    observed = treated.events[after].sum()
    rate_ratio = observed / expected.sum()
    # Poisson variance of log(observed / expected) by the delta method. expected = level * sum_j w_j Q_j,
    # where Q_j is donor j's events after the start, reweighted to the target's person-time and divided
    # by the donor's level; the target's events before and after, and each donor's, are independent.
    donor_q = np.zeros(len(usable))
    donor_relative_variance = np.zeros(len(usable))
    for index, donor in enumerate(usable):
        share = treated.person_years[after] / donor.person_years[after]
        reweighted = float((share * donor.events[after]).sum())
        donor_q[index] = reweighted / donor_levels[index]
        donor_relative_variance[index] = (
            (share**2 * donor.events[after]).sum() / reweighted**2 if reweighted > 0 else 0.0
        ) + 1 / donor.events[before].sum()
    combined = float(weights @ donor_q)
    variance = (
        1 / observed
        + 1 / treated.events[before].sum()
        + float(((weights * donor_q) ** 2 * donor_relative_variance).sum()) / combined**2
    )
    observed_rate = treated.events / treated.person_years * multiplier
    synthetic_rate = synthetic_index * level * multiplier
    gap = observed_rate - synthetic_rate
    return _Fit(
        weights=weights,
        rate_ratio=float(rate_ratio),
        log_standard_error=math.sqrt(variance),
        observed_rate=observed_rate,
        synthetic_rate=synthetic_rate,
        pre_rmspe=float(np.sqrt(np.mean(gap[before] ** 2))),
        post_rmspe=float(np.sqrt(np.mean(gap[after] ** 2))),
    )


def synthetic_control(
    counts: pd.DataFrame,
    target: EvaluationTarget,
    *,
    indicator: str,
    end: dt.date | None = None,
    multiplier: float = 1000,
    confidence: float = 0.95,
) -> EvaluationResult:
    """Rate ratio after the start for the target against its synthetic control."""
    units: dict[str, Collection[str]] = {"target": target.treated_practices}
    units.update({f"ccg:{group}": codes for group, codes in target.controls.items()})
    quarters, series = _quarterly(counts, units, target.start, end)
    before = np.array([quarter < 0 for quarter in quarters])
    if int(before.sum()) < MIN_PRE_QUARTERS:
        raise ValueError(f"synthetic control needs at least {MIN_PRE_QUARTERS} quarters before the start")
    if before.all():
        raise ValueError(f"the data end before the start {target.start:%Y-%m}")
    donor_names = sorted(name for name in series if name != "target")
    if len(donor_names) < 2:
        raise ValueError("synthetic control needs at least two comparison pseudo-sites")
    fit = _fit_unit(series["target"], [series[name] for name in donor_names], before, multiplier)
    if fit is None:
        raise ValueError("the target has no events before or after the start, or no registered population")

    placebo_statistics: list[float] = []
    placebo_rows: list[SyntheticPlacebo] = []
    placebo_fits: list[_Fit] = []
    for name in donor_names:
        others = [series[other] for other in donor_names if other != name]
        placebo = _fit_unit(series[name], others, before, multiplier)
        if placebo is None:
            continue
        placebo_statistics.append(math.log(placebo.rate_ratio) / placebo.log_standard_error)
        placebo_fits.append(placebo)
        placebo_rows.append(
            SyntheticPlacebo(
                unit=name,
                rate_ratio=placebo.rate_ratio,
                pre_rmspe=placebo.pre_rmspe,
                post_rmspe=placebo.post_rmspe,
            )
        )
    interval = placebo_calibrated(
        math.log(fit.rate_ratio), fit.log_standard_error, placebo_statistics, confidence=confidence
    )
    own_ratio = _rmspe_ratio(fit.pre_rmspe, fit.post_rmspe)
    placebo_ratios = [_rmspe_ratio(placebo.pre_rmspe, placebo.post_rmspe) for placebo in placebo_fits]
    rank_p = (1 + sum(1 for value in placebo_ratios if value >= own_ratio)) / (len(placebo_ratios) + 1)
    first_month = _quarter_start(target.start, quarters[0])
    last_month = _quarter_start(target.start, quarters[-1] + 1) - dt.timedelta(days=1)
    caveats = [
        "Assumes a weighted mix of comparison areas that tracked the target before the start would have "
        "kept tracking it; check the fit before the start (RMSPE) and the chart.",
        "Placebo-in-space inference treats each comparison CCG as if it had been the target.",
    ]
    if math.isnan(interval.ci_low):
        caveats.append(f"Only {interval.placebos} placebos: too few for an interval.")
    few = few_placebos_caveat(interval.placebos)
    if few:
        caveats.append(few)
    placebo_pre = [placebo.pre_rmspe for placebo in placebo_fits]
    if placebo_pre and fit.pre_rmspe > float(np.median(placebo_pre)) * 2:
        caveats.append(
            "The fit before the start is poor compared with the placebos': treat the estimate with care."
        )
    ratio = fit.rate_ratio
    return EvaluationResult(
        method="synthetic",
        indicator=indicator,
        target=target.describe(),
        periods={
            "before": f"{first_month:%Y-%m} to {target.start - dt.timedelta(days=1):%Y-%m}",
            "after": f"{target.start:%Y-%m} to {last_month:%Y-%m}",
        },
        estimate=Estimate(
            rate_ratio=ratio,
            ci_low=interval.ci_low,
            ci_high=interval.ci_high,
            percent_change=(ratio - 1) * 100,
            p_value=None if math.isnan(interval.p_value) else interval.p_value,
        ),
        diagnostics=SyntheticDiagnostics(
            model="synthetic control on quarterly rates relative to each unit's rate before the start",
            weights={
                name.removeprefix("ccg:"): float(weight)
                for name, weight in zip(_usable_names(series, donor_names, before), fit.weights, strict=True)
                if weight > 1e-6
            },
            fit=SyntheticFit(
                pre_rmspe=fit.pre_rmspe,
                post_rmspe=fit.post_rmspe,
                post_pre_ratio=own_ratio,
                rank_p_value=rank_p,
                unit=f"rate {_per(multiplier)}",
            ),
            inference=PlaceboInference(
                method="placebo in space (comparison CCGs), studentised, Student t",
                placebos=interval.placebos,
                dispersion_over_poisson=interval.dispersion,
                poisson_standard_error=interval.poisson_standard_error,
                rank_p_value=interval.rank_p_value,
            ),
            series=[
                SyntheticPoint(
                    quarter_start=_quarter_start(target.start, quarter).isoformat(),
                    observed_rate=float(observed),
                    synthetic_rate=float(synthetic),
                )
                for quarter, observed, synthetic in zip(
                    quarters, fit.observed_rate, fit.synthetic_rate, strict=True
                )
            ],
            placebos=placebo_rows,
        ),
        caveats=caveats,
        comparison_pool=target.pool,
    )


def _usable_names(series: dict[str, _UnitSeries], names: list[str], before: NDArray[np.bool_]) -> list[str]:
    return [name for name in names if series[name].events[before].sum() > 0]


def _rmspe_ratio(pre: float, post: float) -> float:
    return post / pre if pre > 0 else math.inf


def _quarter_start(start: dt.date, quarter: int) -> dt.date:
    months = start.year * 12 + start.month - 1 + 3 * quarter
    return dt.date(months // 12, months % 12 + 1, 1)


def _per(multiplier: float) -> str:
    return f"per {multiplier:,.0f} person-years"
