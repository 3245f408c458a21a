"""Programme monitoring as NHS England did it: growth in a rate from the baseline year (2014/15)
against the rest of England, and the 2017 funding condition.

Growth of an area is rate(comparison period) / rate(baseline period) - 1. The comparison period is a
later financial year, or any run of later months; a run shorter than a year is compared with the same
calendar months of the baseline year (year-to-date monitoring), so that winter is not compared with
summer. The comparison with the rest of
England is the ratio of the two growth ratios; its interval treats the four annual counts as
independent Poisson counts (variance of the log ratio = sum of 1/count), which ignores
over-dispersion between practices and so is too narrow. Controlled methods that allow for it are
in the other evaluation modules; this one reproduces the programme's own headline figure.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

from caremodels.evaluation.result import Estimate, EvaluationResult
from caremodels.periods import (
    financial_year,
    financial_year_bounds,
    financial_year_label,
    month_start,
    months_between,
)
from caremodels.reference import programme_constants, site_memberships, vanguard_sites
from caremodels.stats import crude_rate

__all__ = [
    "AreaYear",
    "GrowthComparison",
    "annual_rates",
    "funding_conditions",
    "growth_against_rest",
    "monthly_rates",
    "period_rates",
]


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
            _month_end(dt.date(last.year - shift, last.month, 1)),
        )
    return baseline, (first, _month_end(last))


def _month_end(month: dt.date) -> dt.date:
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


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
) -> GrowthComparison:
    """Growth from the baseline year to the comparison year (default: the latest complete year) or
    to a run of later months (``comparison_months``, first and last month)."""
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

    growth = later.rate / base.rate - 1
    rest_growth = rest_later.rate / rest_base.rate - 1
    ratio = (1 + growth) / (1 + rest_growth)
    counts_used = (base.events, later.events, rest_base.events, rest_later.events)
    caveats = [
        "Uncontrolled comparison: differences in population, case mix and trends between the area and "
        "the rest of England are not adjusted for.",
        "Poisson intervals ignore over-dispersion between practices, so they are too narrow; see the "
        "controlled methods for honest uncertainty.",
    ]
    if min(counts_used) == 0:
        low = high = p_value = math.nan
        caveats.append("A year with no events: the ratio has no interval.")
    else:
        standard_error = math.sqrt(sum(1 / count for count in counts_used))
        z = scipy_stats.norm.ppf(0.975)
        low = math.exp(math.log(ratio) - z * standard_error)
        high = math.exp(math.log(ratio) + z * standard_error)
        p_value = float(2 * scipy_stats.norm.sf(abs(math.log(ratio)) / standard_error))
    difference = (growth - rest_growth) * 100
    diagnostics: dict[str, object] = {
        "growth": growth,
        "rest_growth": rest_growth,
        "difference_percentage_points": difference,
    }
    threshold = programme_constants().funding_condition_2017.get(care_model or "")
    if threshold is not None:
        diagnostics["funding_condition_2017"] = {
            "required_points_below_rest": threshold,
            "met": difference <= -threshold,
        }
    result = EvaluationResult(
        method="baseline",
        indicator=indicator,
        target={"area": area, **({"care_model": care_model} if care_model else {})},
        periods={"baseline": base.financial_year, "comparison": later.financial_year},
        estimate=Estimate(
            rate_ratio=ratio, ci_low=low, ci_high=high, percent_change=(ratio - 1) * 100, p_value=p_value
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


def funding_conditions(
    counts: pd.DataFrame,
    *,
    indicator: str = "emergency_admissions",
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    comparison_months: tuple[dt.date, dt.date] | None = None,
    membership_file: Path | None = None,
) -> list[GrowthComparison]:
    """The 2017 funding condition for every site of a care model type that had one (PACS, MCP)
    with practices in the data: each site's growth against the practices in no site of its type."""
    thresholds = programme_constants().funding_condition_2017
    memberships = site_memberships(membership_file)
    present = set(counts["practice_code"])
    results = []
    for site in vanguard_sites():
        if site.care_model not in thresholds:
            continue
        area_practices = set(memberships[site.id].practice_codes) & present
        if not area_practices:
            continue
        same_model = {
            code
            for other in vanguard_sites()
            if other.care_model == site.care_model
            for code in memberships[other.id].practice_codes
        }
        results.append(
            growth_against_rest(
                counts,
                area_practices,
                indicator=indicator,
                area=site.short_name,
                rest_practices=present - same_model,
                baseline_year=baseline_year,
                comparison_year=comparison_year,
                comparison_months=comparison_months,
                care_model=site.care_model,
            )
        )
    return results
