"""Programme monitoring as NHS England did it: growth in a rate from the baseline year (2014/15)
against the rest of England, and the 2017 funding condition.

Growth of an area is rate(comparison period) / rate(baseline period) - 1. The comparison period is a
later financial year, or any run of later months; a run shorter than a year is compared with the same
calendar months of the baseline year (year-to-date monitoring), so that winter is not compared with
summer. The comparison with the rest of England is the ratio of the two growth ratios. Growth, the
rest's growth, their difference in percentage points and the funding condition are the programme's
own figures, unadjusted; the funding condition's verdict (``funding_condition``) also rests on the
interval: "met", "not met" or "cannot tell".

One path to each rate: an area's rate in a period is the indicator engine's figure for the summed
counts (``caremodels.indicators.finish_arrays``), so a directly standardised indicator grows as its
DSR (from counts by sex and age band, ``bands``), never as a crude count, and every rate carries the
indicator's unit. The site's rates are also given as published (disclosure control, rounding:
``caremodels.indicators.publish``) in the diagnostics, the figure every other output shows.

The interval: treating the four period rates as independent (variance of the log ratio = the sum
of each rate's log variance: 1/count for a crude rate, var(DSR)/DSR^2 for a standardised one) ignores over-dispersion between practices, so that interval is too narrow
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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as scipy_stats

from caremodels.errors import CaremodelsError
from caremodels.evaluation.inference import CalibratedInterval, few_placebos_caveat, placebo_calibrated
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult, PlaceboInference
from caremodels.evaluation.targets import resolve_target
from caremodels.indicators import (
    Finished,
    IndicatorDefinition,
    find_indicator,
    finish_arrays,
    publish,
    value_unit,
)
from caremodels.indicators.compute import BANDS, DAYS_PER_YEAR
from caremodels.periods import (
    financial_year,
    financial_year_bounds,
    financial_year_label,
    month_end,
    month_start,
    months_between,
)
from caremodels.reference import programme_constants, vanguard_sites

__all__ = [
    "AreaYear",
    "BaselineDiagnostics",
    "FundingCondition",
    "FundingVerdict",
    "GrowthComparison",
    "PublishedRate",
    "annual_rates",
    "funding_condition",
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


FundingVerdict = Literal["met", "not met", "cannot tell"]


class FundingCondition(BaseModel):
    """The 2017 funding condition (growth at least ``required_points_below_rest`` percentage points
    below the rest of England) judged on the interval, not the point estimate alone
    (``funding_condition``)."""

    model_config = ConfigDict(frozen=True)

    required_points_below_rest: float
    verdict: FundingVerdict
    met: bool
    """``verdict == "met"``, kept for callers that only ask yes or no."""
    difference_percentage_points: float
    rate_ratio: float
    """The ratio of the site's growth ratio to the rest's; 1 is no difference."""
    ci_low: float
    ci_high: float
    threshold_ratio: float
    """The ratio at which the site's growth is exactly the required points below the rest's."""
    statement: str
    """One sentence: the verdict, the difference and the interval behind it."""


def funding_condition(
    required_points_below_rest: float,
    *,
    difference_percentage_points: float,
    rest_growth: float,
    rate_ratio: float,
    ci_low: float,
    ci_high: float,
) -> FundingCondition:
    """The one judgement of the funding condition that every output shows (the command line, the
    report, the dashboard).

    - ``met``: growth was at least the required points below the rest's, and the 95% interval of
      the ratio of growth ratios lies wholly below 1 (it excludes no difference, on the side of
      lower growth);
    - ``not met``: the interval lies wholly above the threshold ratio (the data rule out growth the
      required points below the rest's);
    - ``cannot tell``: otherwise: the point estimate may meet or miss the threshold but the interval
      spans both outcomes, or there is no interval.
    """
    threshold_ratio = 1 - required_points_below_rest / 100 / (1 + rest_growth)
    has_interval = math.isfinite(ci_low) and math.isfinite(ci_high)
    meets = difference_percentage_points <= -required_points_below_rest
    verdict: FundingVerdict
    if has_interval and meets and ci_high < 1:
        verdict = "met"
    elif has_interval and ci_low > threshold_ratio:
        verdict = "not met"
    else:
        verdict = "cannot tell"
    interval = (
        f"ratio of growth {rate_ratio:.3f}, 95% CI {ci_low:.3f} to {ci_high:.3f}"
        if has_interval
        else f"ratio of growth {rate_ratio:.3f}, no interval"
    )
    points = "point" if required_points_below_rest == 1 else "points"
    below = f"growth {required_points_below_rest:g} {points} below the rest's"
    if verdict == "met":
        why = "the interval lies below 1 (no difference)"
    elif verdict == "not met":
        why = f"the interval lies above {threshold_ratio:.3f} ({below})"
    elif not has_interval:
        why = "without an interval the data cannot say"
    elif meets:
        why = "the interval reaches 1 (no difference)"
    else:
        why = f"the interval reaches {threshold_ratio:.3f} ({below})"
    # A true minus sign, as the report prints every signed figure.
    signed = f"{difference_percentage_points:+.1f}".replace("-", "\u2212")
    statement = (
        f"{verdict}: growth {signed} percentage points against the rest of England ({interval}); {why}"
    )
    return FundingCondition(
        required_points_below_rest=required_points_below_rest,
        verdict=verdict,
        met=verdict == "met",
        difference_percentage_points=difference_percentage_points,
        rate_ratio=rate_ratio,
        ci_low=ci_low,
        ci_high=ci_high,
        threshold_ratio=threshold_ratio,
        statement=statement,
    )


class PublishedRate(BaseModel):
    """The area's rate in one period as every output publishes it (disclosure-controlled and
    rounded by ``caremodels.indicators.publish``); None where it is suppressed or withheld."""

    model_config = ConfigDict(frozen=True)

    period: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str


class BaselineDiagnostics(Diagnostics):
    """Programme monitoring: growth at the site and in the rest of England, and the intervals."""

    rates: list[PublishedRate] = Field(default_factory=list)
    """The area's published rate in the baseline and the comparison period."""
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
    unit: str = ""
    log_variance: float = math.nan
    """The variance of log(rate): 1/events for a crude rate, var(DSR)/DSR^2 for a standardised one."""
    numerator: float = 0.0
    denominator: float = 0.0
    """As the indicator reports it (mean list size over the period, or resident-years)."""


class GrowthComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicator: str
    area: str
    baseline: AreaYear
    comparison: AreaYear
    rest_baseline: AreaYear
    rest_comparison: AreaYear
    growth: float
    growth_ci_low: float
    growth_ci_high: float
    """The area's own growth's 95% interval, the two period rates taken as independent (their log
    variances summed); NaN without one."""
    rest_growth: float
    difference_percentage_points: float
    result: EvaluationResult


def _complete_years(counts: pd.DataFrame) -> list[int]:
    months = pd.Series(pd.to_datetime(counts["month"]).dt.date.unique())
    years = sorted({financial_year(month) for month in months})
    return [year for year in years if sum(1 for month in months if financial_year(month) == year) == 12]


def annual_rates(
    counts: pd.DataFrame,
    practices: Collection[str],
    area: str,
    year: int,
    definition: IndicatorDefinition,
    bands: pd.DataFrame | None = None,
) -> AreaYear:
    first, last = financial_year_bounds(year)
    return period_rates(
        counts, practices, area, (first, last), definition, bands, label=financial_year_label(year)
    )


FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class _PracticeSums:
    """Each practice's raw sums over a period, as the engine gives them to ``finish_arrays``:
    ``(practices,)``, or ``(practices, 38)`` by sex and age band for a standardised indicator."""

    codes: pd.Index
    numerator: FloatArray
    denominator: FloatArray
    months: int


def _practice_sums(
    definition: IndicatorDefinition,
    counts: pd.DataFrame,
    bands: pd.DataFrame | None,
    period: tuple[dt.date, dt.date],
) -> _PracticeSums:
    first, last = period
    months = len(months_between(first, last))
    if definition.standardisation == "esp2013":
        if bands is None:
            raise ValueError(
                f"{definition.id} is directly standardised: its growth needs the counts by sex and age band"
            )
        dates = pd.to_datetime(bands["month"]).dt.date
        rows = bands[(dates >= first) & (dates <= last)]
        codes = pd.Index(sorted(set(rows["practice_code"].astype(str))))
        row = codes.get_indexer(pd.Index(rows["practice_code"].astype(str)))
        half = len(BANDS) // 2
        column = (rows["sex"].astype(str) == "2").to_numpy(dtype=np.int64) * half + rows["age_band"].to_numpy(
            dtype=np.int64
        )
        numerator = np.zeros((len(codes), len(BANDS)))
        denominator = np.zeros((len(codes), len(BANDS)))
        np.add.at(numerator, (row, column), rows["numerator"].to_numpy(dtype=np.float64))
        np.add.at(denominator, (row, column), rows["denominator"].to_numpy(dtype=np.float64))
        return _PracticeSums(codes, numerator, denominator, months)
    dates = pd.to_datetime(counts["month"]).dt.date
    rows = counts[(dates >= first) & (dates <= last)]
    summed = rows.groupby(rows["practice_code"].astype(str))[["numerator", "denominator"]].sum()
    raw = summed["denominator"].to_numpy(dtype=np.float64)
    if definition.denominator.kind == "care_home_resident_years":
        # Evaluation counts hold resident-years x 12; the engine's raw sum is days of residence.
        raw = raw / 12 * DAYS_PER_YEAR
    return _PracticeSums(pd.Index(summed.index), summed["numerator"].to_numpy(dtype=np.float64), raw, months)


def _group_figures(
    definition: IndicatorDefinition, sums: _PracticeSums, groups: Sequence[Collection[str]]
) -> Finished:
    """The indicator's figures for each group of practices over the period (one row a group)."""
    membership = np.zeros((len(groups), len(sums.codes)))
    for index, members in enumerate(groups):
        found = sums.codes.get_indexer(pd.Index([str(code) for code in members]))
        membership[index, found[found >= 0]] = 1.0
    numerator = membership @ sums.numerator
    denominator = membership @ sums.denominator
    events = numerator.sum(axis=1) if numerator.ndim == 2 else numerator
    return finish_arrays(definition, numerator, denominator, events, np.full(len(groups), float(sums.months)))


def period_rates(
    counts: pd.DataFrame,
    practices: Collection[str],
    area: str,
    period: tuple[dt.date, dt.date],
    definition: IndicatorDefinition,
    bands: pd.DataFrame | None = None,
    *,
    label: str | None = None,
) -> AreaYear:
    """The indicator's annual rate (``finish_arrays``) for a group of practices over the months
    from ``period[0]`` to ``period[1]`` inclusive: crude from ``counts``, or standardised from
    ``bands`` (counts by practice, month, sex and age band)."""
    label = label or _period_label(*period)
    return _area_year(definition, _practice_sums(definition, counts, bands, period), practices, area, label)


def _area_year(
    definition: IndicatorDefinition, sums: _PracticeSums, practices: Collection[str], area: str, label: str
) -> AreaYear:
    done = _group_figures(definition, sums, [practices])
    if not done.exposure[0] > 0:
        raise ValueError(f"{area} has no registered population in {label}")
    return AreaYear(
        area=area,
        financial_year=label,
        events=round(float(done.events[0])),
        person_years=float(done.exposure[0]),
        rate=float(done.value[0]),
        ci_low=float(done.ci_low[0]),
        ci_high=float(done.ci_high[0]),
        unit=value_unit(definition, "financial_year"),
        log_variance=float(done.log_variance[0]),
        numerator=float(done.numerator[0]),
        denominator=float(done.denominator[0]),
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
    placebo_areas: Mapping[str, Collection[str]] | None = None,
    definition: IndicatorDefinition | None = None,
    bands: pd.DataFrame | None = None,
    published_as: tuple[str, str] | None = None,
) -> GrowthComparison:
    """Growth from the baseline year to the comparison year (default: the latest complete year) or
    to a run of later months (``comparison_months``, first and last month).

    Rates are the indicator's (``definition``, default the catalogue's ``indicator``): a
    standardised one needs ``bands`` (``caremodels.indicators.practice_month_band_counts``).
    ``published_as`` (level and code, such as ``("site", "fylde-coast")``) adds the area's
    published rates to the diagnostics.

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
    definition = definition or find_indicator(indicator)
    base_sums = _practice_sums(definition, counts, bands, baseline_period)
    later_sums = _practice_sums(definition, counts, bands, comparison_period)
    base_label = _period_label(*baseline_period)
    later_label = _period_label(*comparison_period)
    base = _area_year(definition, base_sums, area_practices, area, base_label)
    later = _area_year(definition, later_sums, area_practices, area, later_label)
    rest_base = _area_year(definition, base_sums, rest_practices, "rest of England", base_label)
    rest_later = _area_year(definition, later_sums, rest_practices, "rest of England", later_label)

    for period_rate in (base, rest_base):
        if period_rate.events == 0:
            raise ValueError(
                f"{period_rate.area} has no events in the baseline period {period_rate.financial_year}: "
                "growth from it is undefined"
            )
    for period_rate in (base, later, rest_base, rest_later):
        if not math.isfinite(period_rate.rate):
            raise ValueError(
                f"{period_rate.area} has no {definition.title.lower()} rate in {period_rate.financial_year} "
                "(a standardised rate needs at least 10 events)"
            )
    growth = later.rate / base.rate - 1
    rest_growth = rest_later.rate / rest_base.rate - 1
    ratio = (1 + growth) / (1 + rest_growth)
    caveats = [
        "Uncontrolled comparison: differences in population, case mix and trends between the area and "
        "the rest of England are not adjusted for.",
    ]
    poisson = _poisson_interval(
        ratio, (base.log_variance, later.log_variance, rest_base.log_variance, rest_later.log_variance)
    )
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
            _placebo_statistics(definition, base_sums, later_sums, placebo_areas, rest_practices),
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
        rates=[] if published_as is None else _published(definition, (base, later), published_as),
        growth=growth,
        rest_growth=rest_growth,
        difference_percentage_points=difference,
        poisson_interval=poisson,
        inference=inference,
        funding_condition_2017=None
        if threshold is None
        else funding_condition(
            threshold,
            difference_percentage_points=difference,
            rest_growth=rest_growth,
            rate_ratio=ratio,
            ci_low=low,
            ci_high=high,
        ),
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
    own = base.log_variance + later.log_variance
    spread = float(scipy_stats.norm.ppf(0.975)) * math.sqrt(own) if math.isfinite(own) else math.nan
    return GrowthComparison(
        indicator=indicator,
        area=area,
        baseline=base,
        comparison=later,
        rest_baseline=rest_base,
        rest_comparison=rest_later,
        growth=growth,
        growth_ci_low=(1 + growth) * math.exp(-spread) - 1,
        growth_ci_high=(1 + growth) * math.exp(spread) - 1,
        rest_growth=rest_growth,
        difference_percentage_points=difference,
        result=result,
    )


def _poisson_interval(
    ratio: float, log_variances: tuple[float, float, float, float]
) -> PoissonInterval | None:
    """The ratio of growth ratios' interval if the four period rates were independent (the variance
    of the log ratio is the sum of their log variances: 1/count for crude rates); None if a rate
    has no log variance (no events)."""
    if not all(math.isfinite(variance) and variance > 0 for variance in log_variances):
        return None
    standard_error = math.sqrt(sum(log_variances))
    z = float(scipy_stats.norm.ppf(0.975))
    return PoissonInterval(
        standard_error=standard_error,
        ci_low=math.exp(math.log(ratio) - z * standard_error),
        ci_high=math.exp(math.log(ratio) + z * standard_error),
        p_value=float(2 * scipy_stats.norm.sf(abs(math.log(ratio)) / standard_error)),
    )


def _placebo_statistics(
    definition: IndicatorDefinition,
    base_sums: _PracticeSums,
    later_sums: _PracticeSums,
    placebo_areas: Mapping[str, Collection[str]],
    rest_practices: Collection[str],
) -> list[float]:
    """For each placebo area, its log ratio of growth ratios against the rest of ``rest_practices``
    (the indicator's own rates, as for the area), divided by that ratio's standard error. Areas
    without events in a period, or without any practice beside them, give none."""
    rest = set(rest_practices)
    insides = []
    for _, codes in sorted(placebo_areas.items()):
        inside = set(codes) & rest
        if inside and inside != rest:
            insides.append(inside)
    if not insides:
        return []
    groups = [*insides, *(rest - inside for inside in insides)]
    base = _group_figures(definition, base_sums, groups)
    later = _group_figures(definition, later_sums, groups)
    count = len(insides)
    statistics = []
    for index in range(count):
        rows = (index, count + index)
        values = [figures.value[row] for figures in (base, later) for row in rows]
        variances = [figures.log_variance[row] for figures in (base, later) for row in rows]
        if not all(math.isfinite(v) and v > 0 for v in (*values, *variances)):
            continue  # no events (or nobody registered) in a period: growth is undefined
        base_in, base_out, later_in, later_out = values
        log_ratio = math.log(later_in / base_in) - math.log(later_out / base_out)
        statistics.append(log_ratio / math.sqrt(sum(variances)))
    return statistics


def _published(
    definition: IndicatorDefinition, years: Sequence[AreaYear], published_as: tuple[str, str]
) -> list[PublishedRate]:
    """The area's rates as ``caremodels.indicators.publish`` gives them to every output."""
    level, code = published_as
    rows = []
    for year in years:
        first, last = _label_period(year.financial_year)
        rows.append(
            {
                "indicator_id": definition.id,
                "level": level,
                "code": code,
                "period": "financial_year" if year.financial_year[4:5] == "/" else "months",
                "period_start": first,
                "period_end": last,
                "numerator": year.numerator,
                "denominator": year.denominator,
                "value": year.rate,
                "ci_low": year.ci_low,
                "ci_high": year.ci_high,
                "events": year.events,
                "unit": year.unit,
            }
        )
    published = publish(pd.DataFrame(rows))

    def number(value: object) -> float | None:
        return None if value is None or value is pd.NA or not math.isfinite(float(value)) else float(value)  # type: ignore[arg-type]

    return [
        PublishedRate(
            period=year.financial_year,
            value=number(row["value"]),
            ci_low=number(row["ci_low"]),
            ci_high=number(row["ci_high"]),
            unit=str(row["unit"]),
        )
        for year, (_, row) in zip(years, published.iterrows(), strict=True)
    ]


def _label_period(label: str) -> tuple[dt.date, dt.date]:
    """First and last day of a period labelled by ``_period_label``."""
    if label[4:5] == "/":
        return financial_year_bounds(int(label[:4]))
    first, _, last = label.partition(" to ")
    return dt.date.fromisoformat(f"{first}-01"), month_end(dt.date.fromisoformat(f"{last}-01"))


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
    bands: pd.DataFrame | None = None,
) -> list[GrowthComparison]:
    """The 2017 funding condition for every site of a care model type that had one (PACS, MCP)
    with practices in the data: each site's growth against the practices in no site of its type
    (``bands``: a standardised indicator's counts by sex and age band)."""
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
        growth = growth_against_rest(
            target.in_membership(counts),
            target.treated_practices,
            indicator=indicator,
            area=site.short_name,
            rest_practices=target.control_practices,
            baseline_year=baseline_year,
            comparison_year=comparison_year,
            comparison_months=comparison_months,
            care_model=site.care_model,
            placebo_areas=target.controls,
            bands=bands,
            published_as=("site", site.id),
        )
        result = growth.result
        results.append(
            growth.model_copy(
                update={
                    "result": result.model_copy(
                        update={"caveats": [*result.caveats, *target.membership_warnings]}
                    )
                }
            )
        )
    return results
