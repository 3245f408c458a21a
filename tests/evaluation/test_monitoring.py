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
