"""The SVG charts and the value rules, on small hand-made inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from caremodels.dashboard.areas import AreaIndex, CountMatrix, period_table, values_by_area, values_of_groups
from caremodels.dashboard.charts import (
    CONCERN,
    IMPROVEMENT,
    Bar,
    FunnelPoint,
    Series,
    SpcPlotPoint,
    bar_chart,
    funnel_chart,
    line_chart,
    spc_chart,
    ticks,
)
from caremodels.dashboard.measures import MeasureRule
from caremodels.indicators import find_indicator
from caremodels.reference import site_memberships
from caremodels.stats import crude_rate


def test_ticks_are_round_and_cover_the_range() -> None:
    assert ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert ticks(0, 0.47, 4) == pytest.approx([0, 0.2, 0.4, 0.6])
    assert ticks(10, 10) == [10, 12, 14, 16, 18, 20]


def test_line_chart_is_accessible_escaped_and_breaks_at_withheld_values() -> None:
    months = [dt.date(2015, month, 1) for month in range(1, 7)]
    svg = line_chart(
        [
            Series(
                "<script>",
                [(month, None if index == 2 else 10.0 + index) for index, month in enumerate(months)],
            )
        ],
        title="A & B",
        description="desc",
        y_label="per 1,000",
        chart_id="c",
    )
    assert 'role="img"' in svg and 'aria-labelledby="c-title c-desc"' in svg
    assert "&lt;script&gt;" in svg and "<script>" not in svg
    assert "A &amp; B" in svg
    assert svg.count("<polyline") == 2  # the withheld month splits the line


def test_spc_chart_marks_special_causes_by_colour_and_shape() -> None:
    points = [
        SpcPlotPoint(dt.date(2016, month, 1), value, 10, 14, 6, kind)
        for month, value, kind in [(1, 10, None), (2, 15, "concern"), (3, 5, "improvement")]
    ]
    svg = spc_chart(points, title="t", description="d", y_label="y")
    assert '<rect x="' in svg and f'fill="{CONCERN}"' in svg
    assert f'r="5" fill="{IMPROVEMENT}"' in svg


def test_bar_and_funnel_charts() -> None:
    bars = bar_chart(
        [Bar("2014/15", 0.1), Bar("2020/21", 0.3)],
        title="t",
        description="d",
        value_label="v",
        goal=0.5,
        percent=True,
    )
    assert ">60%<" in bars and ">Goal<" in bars and 'stroke-dasharray="6 3"' in bars
    limits = {
        "denominator": [100.0, 1000.0],
        "lower_95": [50.0, 80.0],
        "upper_95": [150.0, 120.0],
        "lower_99_8": [30.0, 70.0],
        "upper_99_8": [170.0, 130.0],
    }
    funnel = funnel_chart(
        [FunnelPoint("a", 500, 100, highlighted=True), FunnelPoint("b", 800, 140)],
        limits,
        target=100,
        title="t",
        description="d",
        x_label="x",
        y_label="y",
    )
    assert funnel.count("<title") == 3  # the chart's own and one per area
    assert "Selected area" in funnel
    assert line_chart([], title="Empty", description="d", y_label="y").startswith("<p")


def test_rate_per_registered_population_is_annual() -> None:
    rule = MeasureRule.of(find_indicator("emergency_admissions"))
    # 12 events over a year in which 100 people were registered every month.
    value, low, high = rule.values(np.array([12.0]), np.array([1200.0]))
    expected = crude_rate(12, 100, multiplier=1000)
    assert value[0] == pytest.approx(expected.value) == pytest.approx(120)
    assert (low[0], high[0]) == pytest.approx((expected.lower, expected.upper))
    assert rule.published_denominator(np.array([1200.0]), np.array([12.0]))[0] == pytest.approx(100)
    assert rule.value_label.endswith("a year")


def test_resident_years_proportions_and_bed_days() -> None:
    residents = MeasureRule.of(find_indicator("care_home_emergency_admissions"))
    value, _, _ = residents.values(np.array([3.0]), np.array([365.25 * 2]))
    assert value[0] == pytest.approx(1.5 * residents.multiplier)
    proportion = MeasureRule.of(find_indicator("ae_four_hour_performance"))
    value, low, high = proportion.values(np.array([30.0]), np.array([120.0]))
    assert value[0] == pytest.approx(25.0)
    assert low[0] < 25 < high[0]
    bed_days = MeasureRule.of(find_indicator("emergency_bed_days"))
    value, low, _ = bed_days.values(np.array([50.0]), np.array([1200.0]))
    assert value[0] == pytest.approx(500)
    assert np.isnan(low[0]) and not bed_days.growth_comparable and bed_days.funnel is None


def test_values_by_area_sums_practices_into_sites_and_years() -> None:
    fylde = sorted(site_memberships()["fylde-coast"].practice_codes)[:2]
    months = [dt.date(2014, 4, 1) + pd.DateOffset(months=index) for index in range(14)]
    rows = [
        (code, month.date(), 1.0 + number, 100.0, 1.0 + number)
        for number, code in enumerate(fylde)
        for month in months
    ]
    counts = pd.DataFrame(rows, columns=["practice_code", "month", "numerator", "denominator", "events"])
    matrix = CountMatrix.from_counts(counts)
    index = AreaIndex.build(set(fylde), site_memberships())
    rule = MeasureRule.of(find_indicator("emergency_admissions"))
    by_year = values_by_area(matrix, index, "site", "financial_year", rule)
    fylde_year = by_year[by_year["code"] == "fylde-coast"]
    # Only 2014/15 is complete (April 2014 to March 2015); 2015/16 has two months.
    assert list(fylde_year["period"]) == ["2014/15"]
    (row,) = fylde_year.itertuples(index=False)
    assert row.numerator == 12 * (1 + 2)
    assert row.published_denominator == pytest.approx(200)
    assert row.value == pytest.approx(36 / 200 * 1000)
    groups = values_of_groups(matrix, {"first": {fylde[0]}}, "quarter", rule)
    # 2015/16 Q1 has two of its three months, so it is left out.
    assert list(groups["period"]) == ["2014/15 Q1", "2014/15 Q2", "2014/15 Q3", "2014/15 Q4"]
    assert list(period_table([dt.date(2015, 1, 1), dt.date(2015, 2, 1)], "month")["period"]) == [
        "2015-01",
        "2015-02",
    ]
