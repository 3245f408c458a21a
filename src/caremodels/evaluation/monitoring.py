"""Programme monitoring as NHS England did it: growth in a rate from the baseline year (2014/15)
against the rest of England, and the 2017 funding condition.

Growth of an area is rate(comparison period) / rate(baseline period) - 1. The comparison period is a
later financial year, or any run of later months; a run shorter than a year is compared with the same
calendar months of the baseline year (year-to-date monitoring), so that winter is not compared with
summer. The comparison with the rest of England is the ratio of the two growth ratios. Growth, the
rest's growth, their difference in percentage points and the funding condition are the programme's
own figures, unadjusted.

The interval: treating the four period counts as independent Poisson counts (variance of the log
ratio = sum of 1/count) ignores over-dispersion between practices, so that interval is too narrow
(docs/evaluation.md measures it). Given placebo areas (the comparison practices grouped by clinical
commissioning group, as ``EvaluationTarget.controls`` holds them), each placebo area's growth is
compared with the rest of the comparison practices in the same way, and the interval is calibrated
on those placebo statistics (``caremodels.evaluation.inference``), as the difference-in-differences
and synthetic control methods do. The Poisson interval stays in the diagnostics. Without placebo
areas (a caller holding only two aggregated groups) the estimate keeps the Poisson interval and a
caveat says it is too narrow.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

from caremodels.errors import CaremodelsError
from caremodels.evaluation.inference import CalibratedInterval, few_placebos_caveat, placebo_calibrated
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult, PlaceboInference
from caremodels.evaluation.targets import resolve_target
from caremodels.periods import (
    financial_year,
    financial_year_bounds,
    financial_year_label,
    month_end,
    month_start,
    months_between,
)
from caremodels.reference import programme_constants, vanguard_sites
from caremodels.stats import crude_rate

__all__ = [
    "AreaYear",
    "BaselineDiagnostics",
    "GrowthComparison",
    "annual_rates",
    "funding_conditions",
    "growth_against_rest",
    "monthly_rates",
    "period_rates",
]


class PoissonInterval(BaseModel):
    """The interval if the four period counts were independent Poisson counts (too narrow)."""

    model_config = ConfigDict(frozen=True)

    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float


class FundingCondition(BaseModel):
    model_config = ConfigDict(frozen=True)

    required_points_below_rest: float
    met: bool


class BaselineDiagnostics(Diagnostics):
    """Programme monitoring: growth at the site and in the rest of England, and the intervals."""

    growth: float
    rest_growth: float
    difference_percentage_points: float
    poisson_interval: PoissonInterval | None = None
    inference: PlaceboInference | None = None
    funding_condition_2017: FundingCondition | None = None


class AreaYear(BaseModel):
    model_config = ConfigDict(frozen=True)

    area: str
    financial_year: str
    events: int
    person_years: float
    rate: float
    ci_low: float
    ci_high: float


class GrowthComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicator: str
    area: str
    baseline: AreaYear
    comparison: AreaYear
    rest_baseline: AreaYear
    rest_comparison: AreaYear
    growth: float
    rest_growth: float
    difference_percentage_points: float
    result: EvaluationResult


def _complete_years(counts: pd.DataFrame) -> list[int]:
    months = pd.Series(pd.to_datetime(counts["month"]).dt.date.unique())
    years = sorted({financial_year(month) for month in months})
    return [year for year in years if sum(1 for month in months if financial_year(month) == year) == 12]


def annual_rates(
    counts: pd.DataFrame, practices: Collection[str], area: str, year: int, multiplier: float
) -> AreaYear:
    first, last = financial_year_bounds(year)
    return period_rates(counts, practices, area, (first, last), multiplier, label=financial_year_label(year))


def period_rates(
    counts: pd.DataFrame,
    practices: Collection[str],
    area: str,
    period: tuple[dt.date, dt.date],
    multiplier: float,
    *,
    label: str | None = None,
) -> AreaYear:
    """Events and rate per ``multiplier`` person-years of a group of practices over the months
    from ``period[0]`` to ``period[1]`` inclusive."""
    first, last = period
    label = label or _period_label(first, last)
    months = pd.to_datetime(counts["month"]).dt.date
    rows = counts[counts["practice_code"].isin(practices) & (months >= first) & (months <= last)]
    events = int(rows["numerator"].sum())
    person_years = float(rows["denominator"].sum()) / 12
    if person_years <= 0:
        raise ValueError(f"{area} has no registered population in {label}")
    estimate = crude_rate(events, person_years, multiplier=multiplier)
    return AreaYear(
        area=area,
        financial_year=label,
        events=events,
        person_years=person_years,
        rate=estimate.value,
        ci_low=estimate.lower,
        ci_high=estimate.upper,
    )


def _period_label(first: dt.date, last: dt.date) -> str:
    if first.month == 4 and first.day == 1 and last == financial_year_bounds(first.year)[1]:
        return financial_year_label(first.year)
    return f"{first:%Y-%m} to {last:%Y-%m}"


def _comparison_periods(
    counts: pd.DataFrame, baseline_year: int, comparison_months: tuple[dt.date, dt.date]
) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """(baseline period, comparison period) for a run of months after the baseline year."""
    first, last = month_start(comparison_months[0]), month_start(comparison_months[1])
    baseline_first, baseline_last = financial_year_bounds(baseline_year)
    if last < first:
        raise ValueError("the comparison period ends before it starts")
    if first <= baseline_last:
        raise ValueError("the comparison period must start after the baseline year")
    present = set(pd.to_datetime(counts["month"]).dt.date.unique())
    missing = [month for month in months_between(first, last) if month not in present]
    if missing:
        raise ValueError(f"the data do not cover {missing[0]:%Y-%m}")
    span = len(months_between(first, last))
    if span >= 12:
        baseline = (baseline_first, baseline_last)
    else:
        # The same calendar months of the baseline year.
        if financial_year(first) != financial_year(last):
            raise ValueError("a comparison period shorter than a year must lie within one financial year")
        shift = financial_year(first) - baseline_year
        baseline = (
            dt.date(first.year - shift, first.month, 1),
            month_end(dt.date(last.year - shift, last.month, 1)),
        )
    return baseline, (first, month_end(last))


def monthly_rates(
    counts: pd.DataFrame, groups: Mapping[str, Collection[str]], multiplier: float
) -> pd.DataFrame:
    """Monthly rate per ``multiplier`` person-years for each named group of practices."""
    frames = []
    for name, practices in groups.items():
        rows = (
            counts[counts["practice_code"].isin(practices)]
            .groupby("month", as_index=False)[["numerator", "denominator"]]
            .sum()
        )
        rows["area"] = name
        # A month's denominator is a mid-month list size: a twelfth of a person-year each.
        rows["rate"] = rows["numerator"] / (rows["denominator"] / 12) * multiplier
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def growth_against_rest(
    counts: pd.DataFrame,
    area_practices: Collection[str],
    *,
    indicator: str,
    area: str,
    rest_practices: Collection[str],
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    comparison_months: tuple[dt.date, dt.date] | None = None,
    care_model: str | None = None,
    multiplier: float = 1000,
    placebo_areas: Mapping[str, Collection[str]] | None = None,
) -> GrowthComparison:
    """Growth from the baseline year to the comparison year (default: the latest complete year) or
    to a run of later months (``comparison_months``, first and last month).

    ``placebo_areas`` (name to practice codes, within ``rest_practices``) calibrate the interval:
    each is compared with the rest of ``rest_practices`` as if it were the area (module docstring)."""
    baseline_year = (
        baseline_year if baseline_year is not None else programme_constants().baseline_financial_year
    )
    complete = _complete_years(counts)
    if baseline_year not in complete:
        raise ValueError(
            f"the data do not cover the whole baseline year {financial_year_label(baseline_year)}"
        )
    if comparison_months is not None:
        if comparison_year is not None:
            raise ValueError("give a comparison year or comparison months, not both")
        baseline_period, comparison_period = _comparison_periods(counts, baseline_year, comparison_months)
    else:
        comparison_year = comparison_year if comparison_year is not None else complete[-1]
        if comparison_year not in complete or comparison_year <= baseline_year:
            raise ValueError(
                f"{financial_year_label(comparison_year)} is not a complete year after the baseline"
            )
        baseline_period = financial_year_bounds(baseline_year)
        comparison_period = financial_year_bounds(comparison_year)
    area_practices, rest_practices = set(area_practices), set(rest_practices)
    if not area_practices:
        raise ValueError(f"{area} has no practices in the warehouse")
    base = period_rates(counts, area_practices, area, baseline_period, multiplier)
    later = period_rates(counts, area_practices, area, comparison_period, multiplier)
    rest_base = period_rates(counts, rest_practices, "rest of England", baseline_period, multiplier)
    rest_later = period_rates(counts, rest_practices, "rest of England", comparison_period, multiplier)

    for period_rate in (base, rest_base):
        if period_rate.events == 0:
            raise ValueError(
                f"{period_rate.area} has no events in the baseline period {period_rate.financial_year}: "
                "growth from it is undefined"
            )
    growth = later.rate / base.rate - 1
    rest_growth = rest_later.rate / rest_base.rate - 1
    ratio = (1 + growth) / (1 + rest_growth)
    caveats = [
        "Uncontrolled comparison: differences in population, case mix and trends between the area and "
        "the rest of England are not adjusted for.",
    ]
    poisson = _poisson_interval(ratio, (base.events, later.events, rest_base.events, rest_later.events))
    inference: PlaceboInference | None = None
    if poisson is None:
        low = high = p_value = math.nan
        caveats.append("A period with no events: the ratio has no interval.")
    elif placebo_areas is None:
        low, high, p_value = poisson.ci_low, poisson.ci_high, poisson.p_value
        caveats.append(
            "Poisson intervals ignore over-dispersion between practices, so they are too narrow; see the "
            "controlled methods for honest uncertainty."
        )
    else:
        calibrated = placebo_calibrated(
            math.log(ratio),
            poisson.standard_error,
            _placebo_statistics(counts, placebo_areas, rest_practices, baseline_period, comparison_period),
        )
        low, high, p_value = calibrated.ci_low, calibrated.ci_high, calibrated.p_value
        inference = _inference_document(calibrated)
        if math.isnan(calibrated.ci_low):
            caveats.append(
                f"Only {calibrated.placebos} comparison areas could serve as placebos: too few for an "
                "interval (at least 3 needed); the Poisson interval in the diagnostics is too narrow."
            )
        few = few_placebos_caveat(calibrated.placebos)
        if few:
            caveats.append(few)
    difference = (growth - rest_growth) * 100
    threshold = programme_constants().funding_condition_2017.get(care_model or "")
    diagnostics = BaselineDiagnostics(
        growth=growth,
        rest_growth=rest_growth,
        difference_percentage_points=difference,
        poisson_interval=poisson,
        inference=inference,
        funding_condition_2017=None
        if threshold is None
        else FundingCondition(required_points_below_rest=threshold, met=difference <= -threshold),
    )
    result = EvaluationResult(
        method="baseline",
        indicator=indicator,
        target={"area": area, **({"care_model": care_model} if care_model else {})},
        periods={"baseline": base.financial_year, "comparison": later.financial_year},
        estimate=Estimate(
            rate_ratio=ratio,
            ci_low=low,
            ci_high=high,
            percent_change=(ratio - 1) * 100,
            p_value=None if math.isnan(p_value) else p_value,
        ),
        diagnostics=diagnostics,
        caveats=caveats,
    )
    return GrowthComparison(
        indicator=indicator,
        area=area,
        baseline=base,
        comparison=later,
        rest_baseline=rest_base,
        rest_comparison=rest_later,
        growth=growth,
        rest_growth=rest_growth,
        difference_percentage_points=difference,
        result=result,
    )


def _poisson_interval(ratio: float, counts_used: tuple[int, int, int, int]) -> PoissonInterval | None:
    """The ratio of growth ratios' interval if the four period counts were independent Poisson
    counts; None if one is zero."""
    if min(counts_used) == 0:
        return None
    standard_error = math.sqrt(sum(1 / count for count in counts_used))
    z = float(scipy_stats.norm.ppf(0.975))
    return PoissonInterval(
        standard_error=standard_error,
        ci_low=math.exp(math.log(ratio) - z * standard_error),
        ci_high=math.exp(math.log(ratio) + z * standard_error),
        p_value=float(2 * scipy_stats.norm.sf(abs(math.log(ratio)) / standard_error)),
    )


def _practice_totals(counts: pd.DataFrame, period: tuple[dt.date, dt.date]) -> pd.DataFrame:
    """Events and registered months per practice over a period (months from period[0] to period[1])."""
    months = pd.to_datetime(counts["month"]).dt.date
    rows = counts[(months >= period[0]) & (months <= period[1])]
    return rows.groupby("practice_code")[["numerator", "denominator"]].sum()


def _placebo_statistics(
    counts: pd.DataFrame,
    placebo_areas: Mapping[str, Collection[str]],
    rest_practices: Collection[str],
    baseline_period: tuple[dt.date, dt.date],
    comparison_period: tuple[dt.date, dt.date],
) -> list[float]:
    """For each placebo area, its log ratio of growth ratios against the rest of ``rest_practices``,
    divided by that ratio's Poisson standard error. Areas without events in a period, or without
    any practice beside them, give none."""
    rest = sorted(set(rest_practices))
    # Rows: practices of the rest; columns: events and registered months before, then after.
    totals = pd.concat(
        [
            _practice_totals(counts, baseline_period).reindex(rest).fillna(0.0),
            _practice_totals(counts, comparison_period).reindex(rest).fillna(0.0),
        ],
        axis=1,
    ).to_numpy(dtype=float)
    everyone = totals.sum(axis=0)
    index = {code: position for position, code in enumerate(rest)}
    statistics = []
    for _, codes in sorted(placebo_areas.items()):
        rows = [index[code] for code in set(codes) if code in index]
        if not rows or len(rows) == len(rest):
            continue
        inside = totals[rows].sum(axis=0)
        outside = everyone - inside
        if min(inside.min(), outside.min()) <= 0:
            continue  # no events (or nobody registered) in a period: growth is undefined
        base_in, base_in_months, later_in, later_in_months = inside
        base_out, base_out_months, later_out, later_out_months = outside
        log_ratio = math.log((later_in / later_in_months) / (base_in / base_in_months)) - math.log(
            (later_out / later_out_months) / (base_out / base_out_months)
        )
        standard_error = math.sqrt(1 / base_in + 1 / later_in + 1 / base_out + 1 / later_out)
        statistics.append(log_ratio / standard_error)
    return statistics


def _inference_document(interval: CalibratedInterval) -> PlaceboInference:
    return PlaceboInference(
        method="placebo areas (comparison CCGs, each against the rest of the comparison practices), "
        "studentised, Student t",
        placebos=interval.placebos,
        dispersion_over_poisson=interval.dispersion,
        poisson_standard_error=interval.poisson_standard_error,
        rank_p_value=interval.rank_p_value,
    )


def funding_conditions(
    counts: pd.DataFrame,
    *,
    indicator: str = "emergency_admissions",
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    comparison_months: tuple[dt.date, dt.date] | None = None,
    membership_file: Path | None = None,
    exclude_practices: Collection[str] = (),
) -> list[GrowthComparison]:
    """The 2017 funding condition for every site of a care model type that had one (PACS, MCP)
    with practices in the data: each site's growth against the practices in no site of its type."""
    thresholds = programme_constants().funding_condition_2017
    present = set(counts["practice_code"])
    absent = sorted(set(exclude_practices) - present)
    if absent:
        raise CaremodelsError(f"cannot leave out practice {absent[0]}: it has no data here")
    results = []
    for site in vanguard_sites():
        if site.care_model not in thresholds:
            continue
        try:
            # The site's practices, and the rest: practices in no site of its type, by CCG.
            target = resolve_target(
                present, site=site.id, membership_file=membership_file, exclude_practices=exclude_practices
            )
        except CaremodelsError:
            continue  # no practices of this site in the data
        results.append(
            growth_against_rest(
                counts,
                target.treated_practices,
                indicator=indicator,
                area=site.short_name,
                rest_practices=target.control_practices,
                baseline_year=baseline_year,
                comparison_year=comparison_year,
                comparison_months=comparison_months,
                care_model=site.care_model,
                placebo_areas=target.controls,
            )
        )
    return results
