from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from caremodels.evaluation import growth_against_rest


def _counts(practice: str, first_year_events: int, second_year_events: int, list_size: int) -> pd.DataFrame:
    rows = []
    for year, events in ((2014, first_year_events), (2015, second_year_events)):
        for offset in range(12):
            month = dt.date(year + (3 + offset) // 12, (3 + offset) % 12 + 1, 1)
            # Spread the events so that each year totals exactly `events`.
            share = events // 12 + (1 if offset < events % 12 else 0)
            rows.append(
                {"practice_code": practice, "month": month, "numerator": share, "denominator": list_size}
            )
    return pd.DataFrame(rows)


def test_growth_against_the_rest_of_england_by_hand() -> None:
    counts = pd.concat([_counts("A00001", 1000, 1100, 10_000), _counts("B00001", 2000, 2000, 20_000)])
    comparison = growth_against_rest(
        counts,
        {"A00001"},
        indicator="emergency_admissions",
        area="MCP",
        rest_practices={"B00001"},
        care_model="MCP",
    )
    # Area: 1,000 then 1,100 admissions a year for 10,000 people: 100 then 110 per 1,000, +10%.
    assert comparison.baseline.rate == pytest.approx(100.0)
    assert comparison.comparison.rate == pytest.approx(110.0)
    assert comparison.growth == pytest.approx(0.10)
    assert comparison.rest_growth == pytest.approx(0.0)
    assert comparison.difference_percentage_points == pytest.approx(10.0)
    estimate = comparison.result.estimate
    assert estimate.rate_ratio == pytest.approx(1.10)
    standard_error = math.sqrt(1 / 1000 + 1 / 1100 + 1 / 2000 + 1 / 2000)
    assert estimate.ci_low == pytest.approx(1.10 * math.exp(-1.959964 * standard_error), rel=1e-6)
    assert estimate.ci_high == pytest.approx(1.10 * math.exp(1.959964 * standard_error), rel=1e-6)
    # MCP needs growth at least 1 point below the rest of England: +10 points is not.
    assert comparison.result.diagnostics["funding_condition_2017"] == {
        "required_points_below_rest": 1.0,
        "met": False,
    }
    assert comparison.result.periods == {"baseline": "2014/15", "comparison": "2015/16"}


def test_incomplete_baseline_year_is_refused() -> None:
    counts = _counts("A00001", 100, 100, 1000)
    counts = counts[counts["month"] != dt.date(2014, 4, 1)]
    with pytest.raises(ValueError, match="baseline year 2014/15"):
        growth_against_rest(counts, {"A00001"}, indicator="x", area="x", rest_practices={"A00001"})


def _monthly(practice: str, events_by_month: dict[dt.date, int], list_size: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"practice_code": practice, "month": month, "numerator": events, "denominator": list_size}
            for month, events in events_by_month.items()
        ]
    )


def _months(first: dt.date, count: int) -> list[dt.date]:
    return [
        dt.date(first.year + (first.month - 1 + k) // 12, (first.month - 1 + k) % 12 + 1, 1)
        for k in range(count)
    ]


def test_a_run_of_months_is_compared_with_the_same_months_of_the_baseline_year() -> None:
    months = _months(dt.date(2014, 4, 1), 36)
    # The area has 10 events a month in April-December and 30 in January-March of every year, and 20%
    # more from April 2016; the rest of England is flat.
    area = {
        m: round((30 if m.month <= 3 else 10) * (1.2 if m >= dt.date(2016, 4, 1) else 1.0)) for m in months
    }
    counts = pd.concat([_monthly("A00001", area, 1200), _monthly("B00001", dict.fromkeys(months, 10), 1200)])
    comparison = growth_against_rest(
        counts,
        {"A00001"},
        indicator="x",
        area="A",
        rest_practices={"B00001"},
        comparison_months=(dt.date(2016, 4, 1), dt.date(2016, 12, 1)),
    )
    assert comparison.result.periods == {"baseline": "2014-04 to 2014-12", "comparison": "2016-04 to 2016-12"}
    # Nine months of 10 events for 1,200 people: 90 events in 900 person-years, 100 per 1,000.
    assert comparison.baseline.events == 90 and comparison.comparison.events == 108
    assert comparison.baseline.rate == pytest.approx(100.0)
    assert comparison.growth == pytest.approx(0.2)
    assert comparison.rest_growth == pytest.approx(0.0)


def test_a_short_run_across_two_financial_years_is_refused() -> None:
    months = _months(dt.date(2014, 4, 1), 36)
    counts = _monthly("A00001", dict.fromkeys(months, 10), 1000)
    with pytest.raises(ValueError, match="within one financial year"):
        growth_against_rest(
            counts,
            {"A00001"},
            indicator="x",
            area="A",
            rest_practices={"A00001"},
            comparison_months=(dt.date(2016, 1, 1), dt.date(2016, 6, 1)),
        )
    with pytest.raises(ValueError, match="after the baseline year"):
        growth_against_rest(
            counts,
            {"A00001"},
            indicator="x",
            area="A",
            rest_practices={"A00001"},
            comparison_months=(dt.date(2015, 1, 1), dt.date(2015, 6, 1)),
        )
