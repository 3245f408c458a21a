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
from scipy import stats as scipy_stats

from caremodels.evaluation.inference import (
    MIN_PLACEBOS,
    CalibratedInterval,
    few_placebos_caveat,
    placebo_calibrated,
)
from caremodels.evaluation.panel import CountPanel, PoissonFit, fit_poisson_two_way
from caremodels.evaluation.result import Estimate, EvaluationResult
from caremodels.evaluation.targets import EvaluationTarget

__all__ = ["MIN_PRE_MONTHS", "difference_in_differences"]

MIN_PRE_MONTHS = 12


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
    panel = CountPanel.from_counts(counts, treated | controls)
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
        event_study: list[dict[str, Any]] = []
        pre_trend: dict[str, Any] = {
            "tested": False,
            "reason": "the year-by-year model could not be fitted (too few events at the target in some year)",
            "p_value": None,
        }
    else:
        event_study = _event_study(event_fit, placebo_event, years, confidence)
        pre_trend = _pre_trend(event_fit, placebo_event, years, pre_years)

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
    if pre_trend.get("p_value") is not None and pre_trend["p_value"] < 0.05:
        caveats.append("The event study shows a difference before the start: the estimate may be biased.")
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
        diagnostics={
            "model": "Poisson, practice and month fixed effects, log registered population offset",
            "treated_practices": len(treated),
            "comparison_practices": len(controls),
            "inference": _inference_document(interval),
            "event_study": event_study,
            "pre_trend": pre_trend,
        },
        caveats=caveats,
    )


def _inference_document(interval: CalibratedInterval) -> dict[str, Any]:
    return {
        "method": "placebo pseudo-sites (comparison CCGs), studentised, Student t",
        "placebos": interval.placebos,
        "dispersion_over_poisson": interval.dispersion,
        "poisson_standard_error": interval.poisson_standard_error,
        "rank_p_value": interval.rank_p_value,
    }


def _event_study(
    fit: PoissonFit, placebos: list[tuple[str, PoissonFit]], years: list[int], confidence: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"event_year": -1, "rate_ratio": 1.0, "ci_low": 1.0, "ci_high": 1.0, "reference": True}
    ]
    for index, year in enumerate(years):
        statistics = [float(p.coefficients[index] / p.standard_errors[index]) for _, p in placebos]
        interval = placebo_calibrated(
            float(fit.coefficients[index]),
            float(fit.standard_errors[index]),
            statistics,
            confidence=confidence,
        )
        rows.append(
            {
                "event_year": year,
                "rate_ratio": math.exp(interval.log_estimate),
                "ci_low": interval.ci_low,
                "ci_high": interval.ci_high,
                "reference": False,
            }
        )
    return sorted(rows, key=lambda row: int(row["event_year"]))


def _wald(fit: PoissonFit, indexes: list[int]) -> float:
    coefficients = fit.coefficients[indexes]
    covariance = fit.covariance[np.ix_(indexes, indexes)]
    return float(coefficients @ np.linalg.solve(covariance, coefficients))


def _pre_trend(
    fit: PoissonFit, placebos: list[tuple[str, PoissonFit]], years: list[int], pre_years: list[int]
) -> dict[str, Any]:
    """A joint test that the years before the reference year match it. The Poisson Wald statistic
    is divided by the placebos' mean Wald statistic per coefficient (their spread relative to
    Poisson noise) and referred to an F distribution with as many denominator degrees of freedom as
    placebos; the rank among the placebos' own Wald statistics is reported beside it."""
    if not pre_years:
        return {"tested": False, "reason": "only one year before the start", "p_value": None}
    indexes = [years.index(year) for year in pre_years]
    own = _wald(fit, indexes)
    placebo_values = [_wald(placebo, indexes) for _, placebo in placebos]
    if len(placebo_values) < MIN_PLACEBOS:
        return {"tested": False, "reason": "too few placebo pseudo-sites", "p_value": None}
    dispersion = float(np.mean(placebo_values)) / len(indexes)
    statistic = own / len(indexes) / dispersion
    exceed = sum(1 for value in placebo_values if value >= own)
    return {
        "tested": True,
        "years": pre_years,
        "wald_statistic": own,
        "f_statistic": statistic,
        "p_value": float(scipy_stats.f.sf(statistic, len(indexes), len(placebo_values))),
        "rank_p_value": (1 + exceed) / (len(placebo_values) + 1),
    }
