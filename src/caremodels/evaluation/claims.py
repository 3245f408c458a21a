"""A site's own before-and-after figure beside a controlled estimate, and why they differ.

Sites reported results such as "emergency admissions of our care home residents -19% against
2015/16". That is an uncontrolled before-and-after comparison: it credits the care model with
everything else that changed between the two years, including a return to normal after an unusually
high baseline year (regression to the mean) and the trend everyone shared. Independent matched
evaluations sometimes disagreed. ``before_after_versus_matched`` computes both on the same warehouse,
with the numbers that explain the gap, and words them in plain English.

Boundaries: reads the indicator's events per person and day through the indicator engine and the
residence (resident-years) through DuckDB SQL; returns models holding aggregates only (rates per
resident-year), never person-level rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

from caremodels.errors import CaremodelsError
from caremodels.evaluation.matched import outcome_definition
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult
from caremodels.evaluation.run import evaluate, indicator_counts, target_for
from caremodels.evaluation.targets import DEFAULT_POOL, EvaluationTarget, PoolRule
from caremodels.indicators import IndicatorDefinition
from caremodels.indicators.ibis_engine import duckdb_engine_for
from caremodels.periods import financial_year_bounds, financial_year_label
from caremodels.reference import find_site
from caremodels.stats import crude_rate
from caremodels.warehouse.store import Warehouse

__all__ = [
    "BeforeAfter",
    "BeforeAfterDiagnostics",
    "BeforeAfterVersusMatched",
    "ResidentYear",
    "before_after_versus_matched",
    "resident_rates",
    "residents_definition",
]


class BeforeAfterDiagnostics(Diagnostics):
    baseline_rate: float
    comparison_rate: float
    rate_unit: str


class ResidentYear(BaseModel):
    model_config = ConfigDict(frozen=True)

    financial_year: str
    events: float
    resident_years: float
    rate: float
    ci_low: float
    ci_high: float


class BeforeAfter(BaseModel):
    """The site's own figure: its residents' rate in the comparison year against the baseline year."""

    model_config = ConfigDict(frozen=True)

    baseline: ResidentYear
    comparison: ResidentYear
    result: EvaluationResult


class BeforeAfterVersusMatched(BaseModel):
    model_config = ConfigDict(frozen=True)

    site: str
    indicator: str
    before_after: BeforeAfter
    matched: EvaluationResult
    # Residents of the comparison homes over the same two years: what happened without the care model.
    comparison_homes_change_percent: float
    # How far the baseline year stood above the year before it, in the site's homes and elsewhere.
    baseline_jump_percent: float | None
    comparison_homes_baseline_jump_percent: float | None
    explanation: list[str]


def residents_definition(indicator: str) -> IndicatorDefinition:
    """The catalogue indicator counted for care home residents: its own definition when it is a
    residents' indicator (``care_home_emergency_admissions``...), otherwise the same events kept
    only on days the person lived in a care home, at the practice aligned with the home."""
    definition = outcome_definition(indicator)
    if definition.numerator.cohort == "care_home_residents":
        return definition
    numerator = definition.numerator.model_copy(update={"cohort": "care_home_residents"})
    return definition.model_copy(update={"numerator": numerator})


def resident_rates(
    warehouse: Warehouse, practices: set[str], *, indicator: str, years: list[int]
) -> list[ResidentYear]:
    """Events per resident-year among residents of homes aligned with ``practices``, counting only
    events on days the person lived in such a home, for each financial year. The events are the
    indicator's own, per person and day from the indicator engine."""
    definition = residents_definition(indicator)
    connection = warehouse.connection
    bounds = pd.DataFrame(
        [(year, *financial_year_bounds(year)) for year in years], columns=["year", "first_day", "last_day"]
    )
    homes = pd.DataFrame({"practice_code": sorted(practices)})
    connection.register("claim_years", bounds)
    connection.register("claim_practices", homes)
    try:
        exposure: pd.DataFrame = connection.execute(
            """
            WITH stays AS (
                SELECT person_id, residence_start AS first_day,
                       coalesce(residence_end, DATE '9999-12-31') AS last_day
                FROM care_home_residence JOIN claim_practices USING (practice_code)
            )
            SELECT y.year,
                   coalesce(sum(greatest(0, date_diff('day', greatest(s.first_day, y.first_day),
                                         least(s.last_day, y.last_day)) + 1)), 0) / 365.25 AS resident_years
            FROM claim_years y LEFT JOIN stays s
              ON s.first_day <= y.last_day AND s.last_day >= y.first_day
            GROUP BY y.year ORDER BY y.year
            """
        ).df()
    finally:
        connection.unregister("claim_years")
        connection.unregister("claim_practices")
    engine = duckdb_engine_for(warehouse)
    try:
        events = engine.person_day_events(
            definition,
            first_day=financial_year_bounds(min(years))[0],
            last_day=financial_year_bounds(max(years))[1],
        )
    finally:
        engine.close()
    events = events[events["practice_code"].isin(practices)]
    by_year = {
        int(year): float(
            events.loc[
                (events["day"] >= pd.Timestamp(first)) & (events["day"] <= pd.Timestamp(last)), "numerator"
            ].sum()
        )
        for year, first, last in bounds.itertuples(index=False)
    }
    counted = definition.numerator.measure == "count"
    rows = []
    for year, resident_years in exposure[["year", "resident_years"]].itertuples(index=False):
        if resident_years <= 0:
            raise CaremodelsError(f"no care home residents in {financial_year_label(int(year))}")
        total = by_year[int(year)]
        estimate = crude_rate(total, float(resident_years), multiplier=1)
        rows.append(
            ResidentYear(
                financial_year=financial_year_label(int(year)),
                events=total,
                resident_years=float(resident_years),
                rate=estimate.value,
                # Bed days are not Poisson counts: no interval.
                ci_low=estimate.lower if counted else math.nan,
                ci_high=estimate.upper if counted else math.nan,
            )
        )
    return rows


def _before_after(
    target: EvaluationTarget, indicator: str, baseline: ResidentYear, comparison: ResidentYear
) -> BeforeAfter:
    ratio = comparison.rate / baseline.rate
    caveats = [
        "Uncontrolled before-and-after comparison: everything else that changed between the two years "
        "is credited to the care model.",
    ]
    # Bed days carry no Poisson interval (their ci_low is NaN), so neither does their ratio.
    if min(baseline.events, comparison.events) > 0 and math.isfinite(baseline.ci_low):
        standard_error = math.sqrt(1 / baseline.events + 1 / comparison.events)
        z = float(scipy_stats.norm.ppf(0.975))
        low, high = ratio * math.exp(-z * standard_error), ratio * math.exp(z * standard_error)
        p_value: float | None = float(2 * scipy_stats.norm.sf(abs(math.log(ratio)) / standard_error))
        caveats.append("The Poisson interval reflects chance only, not the comparison's bias.")
    else:
        low = high = math.nan
        p_value = None
    return BeforeAfter(
        baseline=baseline,
        comparison=comparison,
        result=EvaluationResult(
            method="before_after",
            indicator=indicator,
            target={**target.describe(), "cohort": "care home residents"},
            periods={"baseline": baseline.financial_year, "comparison": comparison.financial_year},
            estimate=Estimate(
                rate_ratio=ratio, ci_low=low, ci_high=high, percent_change=(ratio - 1) * 100, p_value=p_value
            ),
            diagnostics=BeforeAfterDiagnostics(
                baseline_rate=baseline.rate,
                comparison_rate=comparison.rate,
                rate_unit="per resident-year",
            ),
            caveats=caveats,
            comparison_pool=target.pool,
        ),
    )


def before_after_versus_matched(
    warehouse: Warehouse,
    site: str,
    *,
    indicator: str = "care_home_emergency_admissions",
    baseline_year: int = 2015,
    comparison_year: int = 2016,
    end: dt.date | None = None,
    pool: PoolRule = DEFAULT_POOL,
    exclude_sites: Sequence[str] = (),
    membership_file: Path | None = None,
    counts: pd.DataFrame | None = None,
    exclude_practices: Sequence[str] = (),
) -> BeforeAfterVersusMatched:
    """The site's own figure (its care home residents' rate in ``comparison_year`` against
    ``baseline_year``) beside the matched-control estimate for residents who moved in from the start
    of the comparison year, with the numbers that explain the difference. The matched estimate is
    exactly ``evaluate(method="matched", start=<April of the comparison year>)`` with the same
    comparison ``pool`` and ``exclude_sites``, so the command line, the report, the demo and the
    dashboard show one figure; ``indicator`` is any catalogue indicator of people's events, counted
    for residents (``residents_definition``)."""
    if comparison_year <= baseline_year:
        raise CaremodelsError("the comparison year must come after the baseline year")
    found = find_site(site)
    matched = evaluate(
        warehouse,
        indicator=indicator,
        method="matched",
        site=found.id,
        start=financial_year_bounds(comparison_year)[0],
        end=end,
        pool=pool,
        exclude_sites=exclude_sites,
        membership_file=membership_file,
        counts=counts,
        exclude_practices=exclude_practices,
    )
    present = counts if counts is not None else indicator_counts(warehouse, indicator)
    matched_target = target_for(
        present,
        site=found.id,
        start=financial_year_bounds(comparison_year)[0],
        exclude_sites=exclude_sites,
        membership_file=membership_file,
        pool=pool,
        exclude_practices=exclude_practices,
    )
    years = [baseline_year - 1, baseline_year, comparison_year]
    try:
        site_years = resident_rates(
            warehouse, matched_target.treated_practices, indicator=indicator, years=years
        )
        with_prior = True
    except CaremodelsError:
        years = years[1:]
        site_years = resident_rates(
            warehouse, matched_target.treated_practices, indicator=indicator, years=years
        )
        with_prior = False
    other_years = resident_rates(
        warehouse, matched_target.control_practices, indicator=indicator, years=years
    )
    before_after = _before_after(matched_target, indicator, site_years[-2], site_years[-1])
    elsewhere_change = (other_years[-1].rate / other_years[-2].rate - 1) * 100
    jump = (site_years[1].rate / site_years[0].rate - 1) * 100 if with_prior else None
    elsewhere_jump = (other_years[1].rate / other_years[0].rate - 1) * 100 if with_prior else None
    return BeforeAfterVersusMatched(
        site=found.short_name,
        indicator=indicator,
        before_after=before_after,
        matched=matched,
        comparison_homes_change_percent=elsewhere_change,
        baseline_jump_percent=jump,
        comparison_homes_baseline_jump_percent=elsewhere_jump,
        explanation=_explain(
            found.short_name, indicator, before_after, matched, elsewhere_change, jump, elsewhere_jump, years
        ),
    )


def _explain(
    site: str,
    indicator: str,
    before_after: BeforeAfter,
    matched: EvaluationResult,
    elsewhere_change: float,
    jump: float | None,
    elsewhere_jump: float | None,
    years: list[int],
) -> list[str]:
    measure = indicator.removeprefix("care_home_").replace("_", " ")
    own = before_after.result.estimate
    baseline, comparison = before_after.baseline, before_after.comparison
    estimate = matched.estimate
    lines = [
        f"The site's own figure ({site}): {measure} of care home residents changed {own.percent_change:+.0f}% from "
        f"{baseline.financial_year} to {comparison.financial_year} ({baseline.rate:.2f} to "
        f"{comparison.rate:.2f} per resident-year). It compares the homes with themselves a year earlier, "
        "so it credits the care model with everything else that changed.",
    ]
    if jump is not None and elsewhere_jump is not None:
        excess = jump - elsewhere_jump
        if excess > 5:
            lines.append(
                f"The baseline year {baseline.financial_year} was unusually high: the homes' rate rose "
                f"{jump:+.0f}% on {financial_year_label(years[0])} while comparison homes changed "
                f"{elsewhere_jump:+.0f}%. Some of the later fall is a return to normal that would have "
                "happened anyway (regression to the mean)."
            )
        else:
            lines.append(
                f"The baseline year was not unusual: the homes' rate changed {jump:+.0f}% on "
                f"{financial_year_label(years[0])}, comparison homes {elsewhere_jump:+.0f}%."
            )
    lines.append(
        f"Over the same two years residents of comparison homes elsewhere changed {elsewhere_change:+.0f}%: "
        "that is what happened without the care model."
    )
    interval = (
        f"95% confidence interval {(estimate.ci_low - 1) * 100:+.0f}% to {(estimate.ci_high - 1) * 100:+.0f}%"
        if math.isfinite(estimate.ci_low)
        else "no interval"
    )
    lines.append(
        f"The matched comparison follows residents who moved into the site's homes from "
        f"{comparison.financial_year} against similar residents (age, sex, deprivation, prior hospital use, "
        f"frailty, long-term conditions, home type) of homes elsewhere over the same time, so neither the "
        f"high baseline nor the shared trend enters it: {estimate.percent_change:+.0f}% ({interval})."
    )
    gap = own.percent_change - estimate.percent_change
    if math.isfinite(estimate.ci_low) and estimate.ci_low <= own.rate_ratio <= estimate.ci_high:
        lines.append(
            "The before-and-after figure lies inside the matched estimate's interval, so these data cannot "
            "tell the two apart; only the matched estimate is protected against the biases above."
        )
    else:
        lines.append(
            f"The before-and-after figure is {abs(gap):.0f} percentage points "
            f"{'more favourable' if gap < 0 else 'less favourable'} than the matched estimate, and outside "
            "its interval: the matched estimate is the better guide to what the care model did."
        )
    return lines
