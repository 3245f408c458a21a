"""Difference in differences on the practice-by-month panel.

The model is Poisson: ``log E[events] = practice + month + effect * treated_after_start +
log(registered population)``. Practice effects absorb fixed differences between practices (age,
deprivation, coding), month effects absorb everything England shares (season, trend, national
policy), and ``exp(effect)`` is the rate ratio after the start against what the comparison practices
say would have happened. An event study replaces the single effect by one per year relative to the
start (the year before is the reference), so that differences before the start (pre-trends) show.

Inference is by placebo pseudo-sites (``caremodels.evaluation.inference``): the same model is fitted
to each comparison CCG as if it had been treated. Why not the wild cluster bootstrap: with one treated
site (the usual case here) it is known to misbehave (MacKinnon and Webb 2017), while placebo
calibration stays close to nominal; ``docs/evaluation.md`` gives the coverage measured.

Boundaries: takes practice-by-month counts (``caremodels.indicators.practice_month_counts``) and an
``EvaluationTarget``; returns an ``EvaluationResult``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

from caremodels.evaluation.inference import (
    MIN_PLACEBOS,
    CalibratedInterval,
    few_placebos_caveat,
    placebo_calibrated,
)
from caremodels.evaluation.panel import CountPanel, PoissonFit, fit_poisson_two_way
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult, PlaceboInference
from caremodels.evaluation.targets import EvaluationTarget

__all__ = [
    "MIN_PRE_MONTHS",
    "PRE_TREND_POWER_GOAL",
    "DidDiagnostics",
    "EventYear",
    "PreTrend",
    "difference_in_differences",
]

MIN_PRE_MONTHS = 12


class EventYear(BaseModel):
    """One year of the event study: the site against the comparison practices, relative to the
    year before the start (the reference)."""

    model_config = ConfigDict(frozen=True)

    event_year: int
    rate_ratio: float
    ci_low: float
    ci_high: float
    reference: bool


class PreTrend(BaseModel):
    """The joint test that the years before the reference year match it, and its power."""

    model_config = ConfigDict(frozen=True)

    tested: bool
    reason: str | None = None
    p_value: float | None = None
    years: list[int] = []
    wald_statistic: float | None = None
    f_statistic: float | None = None
    rank_p_value: float | None = None
    minimum_detectable_trend_percent_per_year: float | None = None
    explaining_trend_percent_per_year: float | None = None
    power_against_explaining_trend: float | None = None
    low_power: bool | None = None

    @property
    def verdict(self) -> str:
        """How to read the test in one phrase."""
        if not self.tested or self.p_value is None:
            return f"not tested ({self.reason})"
        if self.p_value < 0.05:
            return f"the site was already diverging before the start (p = {self.p_value:.3f})"
        if self.low_power:
            return (
                f"no evidence either way (p = {self.p_value:.3f}, but the pre-trend test has low power: "
                f"{self.power_against_explaining_trend:.0%} against a trend that would explain the estimate)"
            )
        return f"no sign of a difference before the start (p = {self.p_value:.3f})"


class DidDiagnostics(Diagnostics):
    model: str
    treated_practices: int
    comparison_practices: int
    unexposed_cells_left_out: int
    unexposed_events_left_out: float
    inference: PlaceboInference
    event_study: list[EventYear]
    pre_trend: PreTrend


def _month_index(months: tuple[dt.date, ...], start: dt.date) -> np.ndarray:
    return np.array([(month.year - start.year) * 12 + month.month - start.month for month in months])


def _event_years(offsets: np.ndarray) -> list[int]:
    years = sorted({int(value) for value in np.floor_divide(offsets, 12)})
    return [year for year in years if year != -1]


def _event_regressors(panel: CountPanel, units: set[str], offsets: np.ndarray, years: list[int]) -> list[Any]:
    return [panel.indicator(units, np.floor_divide(offsets, 12) == year) for year in years]


def _fit(panel: CountPanel, regressors: list[Any]) -> PoissonFit | None:
    try:
        return fit_poisson_two_way(panel.events, panel.exposure, regressors)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError):
        return None


def difference_in_differences(
    counts: pd.DataFrame,
    target: EvaluationTarget,
    *,
    indicator: str,
    end: dt.date | None = None,
    confidence: float = 0.95,
) -> EvaluationResult:
    """Rate ratio after the start for the target's practices against the comparison practices."""
    months = sorted(pd.to_datetime(counts["month"]).dt.date.unique())
    if end is not None:
        counts = counts[pd.to_datetime(counts["month"]).dt.date <= end]
        months = [month for month in months if month <= end]
    treated, controls = target.treated_practices, target.control_practices
    # Rule for cells with events but no exposure (a list that fell to zero before the 15th): they
    # are left out, and the result says how many (see CountPanel.without_unexposed_events).
    panel, unexposed_cells, unexposed_events = CountPanel.from_counts(
        counts, treated | controls
    ).without_unexposed_events()
    offsets = _month_index(panel.periods, target.start)
    after = offsets >= 0
    if int((~after).sum()) < MIN_PRE_MONTHS:
        raise ValueError(
            f"difference in differences needs at least {MIN_PRE_MONTHS} months before {target.start:%Y-%m}"
        )
    if not after.any():
        raise ValueError(f"the data end before the start {target.start:%Y-%m}")
    if len(target.controls) == 0:
        raise ValueError("there are no comparison practices")

    treated_rows = np.array([unit in treated for unit in panel.units])
    if panel.events[treated_rows][:, ~after].sum() == 0 or panel.events[treated_rows][:, after].sum() == 0:
        raise ValueError("the target has no events before or after the start")
    try:
        fit = fit_poisson_two_way(panel.events, panel.exposure, [panel.indicator(treated, after)])
    except (ArithmeticError, np.linalg.LinAlgError) as error:
        raise ValueError(f"the model could not be fitted ({error}): too few events at the target?") from error
    log_ratio, standard_error = float(fit.coefficients[0]), float(fit.standard_errors[0])

    control_panel = panel.subset(controls)
    placebo_statistics, placebo_event = [], []
    years = _event_years(offsets)
    pre_years = [year for year in years if year < -1]
    for group, codes in sorted(target.controls.items()):
        placebo = _fit(control_panel, [control_panel.indicator(set(codes), after)])
        if placebo is not None:
            placebo_statistics.append(float(placebo.coefficients[0] / placebo.standard_errors[0]))
        event = _fit(control_panel, _event_regressors(control_panel, set(codes), offsets, years))
        if event is not None:
            placebo_event.append((group, event))
    interval = placebo_calibrated(log_ratio, standard_error, placebo_statistics, confidence=confidence)

    event_fit = _fit(panel, _event_regressors(panel, treated, offsets, years))
    if event_fit is None:
        event_study: list[EventYear] = []
        pre_trend = PreTrend(
            tested=False,
            reason="the year-by-year model could not be fitted (too few events at the target in some year)",
        )
    else:
        event_study = _event_study(event_fit, placebo_event, years, confidence)
        # Years from the middle of the reference year (the year before the start) to the middle of
        # each month after the start, averaged: how far a pre-trend would carry into the estimate.
        reach = float(np.mean(offsets[after] / 12 + 1 / 24 + 0.5))
        pre_trend = _pre_trend(event_fit, placebo_event, years, pre_years, log_ratio=log_ratio, reach=reach)

    caveats = [
        "Assumes the target's practices would have followed the comparison practices' trend (parallel "
        "trends); the event study shows whether they did before the start.",
        "Comparison practices are those in no site of the same care model type; other programmes "
        "running there are not adjusted for.",
    ]
    if math.isnan(interval.ci_low):
        caveats.append(
            f"Only {interval.placebos} placebo pseudo-sites: too few for an interval (at least 3 needed)."
        )
    few = few_placebos_caveat(interval.placebos)
    if few:
        caveats.append(few)
    if unexposed_cells:
        caveats.append(
            f"{unexposed_cells} practice-month(s) had {unexposed_events:g} event(s) but no registered "
            "patients on the 15th (a list that fell to zero mid-month, as when a practice closes): "
            "they are left out of the model."
        )
    if pre_trend.p_value is not None and pre_trend.p_value < 0.05:
        caveats.append("The event study shows a difference before the start: the estimate may be biased.")
    elif pre_trend.low_power:
        caveats.append(
            "The pre-trend test has low power: a steady trend before the start of "
            f"{pre_trend.explaining_trend_percent_per_year:+.1f}% a year, enough to explain the whole "
            f"estimate, would be found only {pre_trend.power_against_explaining_trend:.0%} of the time, "
            "so passing it is no evidence of parallel trends."
        )
    ratio = math.exp(log_ratio)
    return EvaluationResult(
        method="did",
        indicator=indicator,
        target=target.describe(),
        periods={
            "before": f"{panel.periods[0]:%Y-%m} to {panel.periods[int((~after).sum()) - 1]:%Y-%m}",
            "after": f"{target.start:%Y-%m} to {panel.periods[-1]:%Y-%m}",
        },
        estimate=Estimate(
            rate_ratio=ratio,
            ci_low=interval.ci_low,
            ci_high=interval.ci_high,
            percent_change=(ratio - 1) * 100,
            p_value=None if math.isnan(interval.p_value) else interval.p_value,
        ),
        diagnostics=DidDiagnostics(
            model="Poisson, practice and month fixed effects, log registered population offset",
            treated_practices=len(treated),
            comparison_practices=len(controls),
            unexposed_cells_left_out=unexposed_cells,
            unexposed_events_left_out=unexposed_events,
            inference=_inference_document(interval),
            event_study=event_study,
            pre_trend=pre_trend,
        ),
        caveats=caveats,
        comparison_pool=target.pool,
    )


def _inference_document(interval: CalibratedInterval) -> PlaceboInference:
    return PlaceboInference(
        method="placebo pseudo-sites (comparison CCGs), studentised, Student t",
        placebos=interval.placebos,
        dispersion_over_poisson=interval.dispersion,
        poisson_standard_error=interval.poisson_standard_error,
        rank_p_value=interval.rank_p_value,
    )


def _event_study(
    fit: PoissonFit, placebos: list[tuple[str, PoissonFit]], years: list[int], confidence: float
) -> list[EventYear]:
    rows = [EventYear(event_year=-1, rate_ratio=1.0, ci_low=1.0, ci_high=1.0, reference=True)]
    for index, year in enumerate(years):
        statistics = [float(p.coefficients[index] / p.standard_errors[index]) for _, p in placebos]
        interval = placebo_calibrated(
            float(fit.coefficients[index]),
            float(fit.standard_errors[index]),
            statistics,
            confidence=confidence,
        )
        rows.append(
            EventYear(
                event_year=year,
                rate_ratio=math.exp(interval.log_estimate),
                ci_low=interval.ci_low,
                ci_high=interval.ci_high,
                reference=False,
            )
        )
    return sorted(rows, key=lambda row: row.event_year)


def _wald(fit: PoissonFit, indexes: list[int]) -> float:
    coefficients = fit.coefficients[indexes]
    covariance = fit.covariance[np.ix_(indexes, indexes)]
    return float(coefficients @ np.linalg.solve(covariance, coefficients))


PRE_TREND_POWER_GOAL = 0.8
"""Below this power against a pre-trend that would explain the estimate, the test is labelled low power."""


def _pre_trend(
    fit: PoissonFit,
    placebos: list[tuple[str, PoissonFit]],
    years: list[int],
    pre_years: list[int],
    *,
    log_ratio: float,
    reach: float,
) -> PreTrend:
    """A joint test that the years before the reference year match it. The Poisson Wald statistic
    is divided by the placebos' mean Wald statistic per coefficient (their spread relative to
    Poisson noise) and referred to an F distribution with as many denominator degrees of freedom as
    placebos; the rank among the placebos' own Wald statistics is reported beside it.

    Its power: against a steady trend of ``d`` (log rate ratio per year) before the start, the
    year-before coefficients are ``d * (year + 1)`` and the statistic is non-central F with
    non-centrality ``d^2 v' V^-1 v / dispersion``. Reported: the trend the test finds 80% of the
    time (``minimum_detectable_trend_percent_per_year``), and its power against the trend that,
    carried on for ``reach`` years (the mean distance from the reference year to the months
    after the start), would by itself explain the estimate. Below 80% the test is labelled low power."""
    if not pre_years:
        return PreTrend(tested=False, reason="only one year before the start")
    indexes = [years.index(year) for year in pre_years]
    own = _wald(fit, indexes)
    placebo_values = [_wald(placebo, indexes) for _, placebo in placebos]
    if len(placebo_values) < MIN_PLACEBOS:
        return PreTrend(tested=False, reason="too few placebo pseudo-sites")
    dispersion = float(np.mean(placebo_values)) / len(indexes)
    statistic = own / len(indexes) / dispersion
    exceed = sum(1 for value in placebo_values if value >= own)
    k, denominator_df = len(indexes), len(placebo_values)
    shape = np.array([year + 1 for year in pre_years], dtype=float)
    covariance = fit.covariance[np.ix_(indexes, indexes)]
    # Non-centrality per unit squared trend.
    unit = float(shape @ np.linalg.solve(covariance, shape)) / dispersion
    critical = float(scipy_stats.f.isf(0.05, k, denominator_df))

    def power(trend: float) -> float:
        return float(scipy_stats.ncf.sf(critical, k, denominator_df, trend * trend * unit))

    low, high = 0.0, 1.0
    while power(high) < PRE_TREND_POWER_GOAL and high < 50:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle) < PRE_TREND_POWER_GOAL else (low, middle)
    explaining = abs(log_ratio) / reach if reach > 0 else math.inf
    explaining_power = power(explaining)
    return PreTrend(
        tested=True,
        years=pre_years,
        wald_statistic=own,
        f_statistic=statistic,
        p_value=float(scipy_stats.f.sf(statistic, k, denominator_df)),
        rank_p_value=(1 + exceed) / (denominator_df + 1),
        minimum_detectable_trend_percent_per_year=math.expm1(high) * 100,
        explaining_trend_percent_per_year=math.expm1(math.copysign(explaining, log_ratio)) * 100,
        power_against_explaining_trend=explaining_power,
        low_power=explaining_power < PRE_TREND_POWER_GOAL,
    )
