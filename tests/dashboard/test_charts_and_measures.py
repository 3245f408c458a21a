"""The SVG charts and the value rules, on small hand-made inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from caremodels.dashboard.areas import AreaIndex, CountMatrix, period_table, values_by_area, values_of_groups
from caremodels.dashboard.charts import (
    Bar,
    FunnelPoint,
    Series,
    bar_chart,
    funnel_chart,
    line_chart,
    ticks,
)
from caremodels.dashboard.measures import MeasureRule
from caremodels.indicators import find_indicator
from caremodels.reference import european_standard_population, site_memberships
from caremodels.stats import crude_rate, dsr


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


def test_measure_rules_present_without_computing() -> None:
    # The dashboard's rules hold no statistics (those are caremodels.indicators.finish_arrays'):
    # only the unit with its period basis, and which funnel and growth comparisons apply.
    rate = MeasureRule.of(find_indicator("emergency_admissions"))
    assert rate.value_label == "per 1,000 registered patients per year"
    assert rate.funnel == "rate" and rate.growth_comparable
    assert not hasattr(rate, "values")
    residents = MeasureRule.of(find_indicator("care_home_emergency_admissions"))
    assert residents.value_label == "per resident-year"
    assert MeasureRule.of(find_indicator("ae_four_hour_performance")).funnel == "proportion"
    bed_days = MeasureRule.of(find_indicator("emergency_bed_days"))
    assert not bed_days.growth_comparable and bed_days.funnel is None
    standardised = MeasureRule.of(find_indicator("emergency_admissions_standardised"))
    assert standardised.value_label == "per 100,000 registered patients (ESP2013) per year"
    assert standardised.funnel is None


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
    definition = find_indicator("emergency_admissions")
    by_year = values_by_area(matrix, index, "site", "financial_year", definition)
    fylde_year = by_year[by_year["code"] == "fylde-coast"]
    # Only 2014/15 is complete (April 2014 to March 2015); 2015/16 has two months.
    assert list(fylde_year["period"]) == ["2014/15"]
    (row,) = fylde_year.itertuples(index=False)
    assert row.numerator == 12 * (1 + 2)
    assert row.denominator == pytest.approx(200)
    expected = crude_rate(36, 200, multiplier=1000)
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx(
        (expected.value, expected.lower, expected.upper)
    )
    assert row.unit == "per 1,000 registered patients per year"
    groups = values_of_groups(matrix, {"first": {fylde[0]}}, "quarter", definition)
    # 2015/16 Q1 has two of its three months, so it is left out.
    assert list(groups["period"]) == ["2014/15 Q1", "2014/15 Q2", "2014/15 Q3", "2014/15 Q4"]
    assert list(period_table([dt.date(2015, 1, 1), dt.date(2015, 2, 1)], "month")["period"]) == [
        "2015-01",
        "2015-02",
    ]


def test_standardised_values_are_dsrs_from_the_band_axis() -> None:
    # Two practices, a year, every band: the site's DSR is caremodels.stats.dsr of the summed bands.
    fylde = sorted(site_memberships()["fylde-coast"].practice_codes)[:2]
    months = [(dt.date(2014, 4, 1) + pd.DateOffset(months=index)).date() for index in range(12)]
    rng = np.random.default_rng(7)
    rows = [
        (code, month, sex, band, float(rng.poisson(2)), float(rng.integers(20, 60)), 0.0)
        for code in fylde
        for month in months
        for sex in ("1", "2")
        for band in range(19)
    ]
    bands = pd.DataFrame(
        rows, columns=["practice_code", "month", "sex", "age_band", "numerator", "denominator", "events"]
    )
    bands["events"] = bands["numerator"]
    totals = bands.groupby(["practice_code", "month"], as_index=False)[
        ["numerator", "denominator", "events"]
    ].sum()
    matrix = CountMatrix.from_counts(totals, bands)
    definition = find_indicator("emergency_admissions_standardised")
    index = AreaIndex.build(set(fylde), site_memberships())
    (row,) = values_by_area(matrix, index, "site", "financial_year", definition).itertuples(index=False)
    by_band = bands.groupby(["sex", "age_band"])[["numerator", "denominator"]].sum()
    weights = [band.weight for band in european_standard_population()] * 2
    expected = dsr(
        by_band["numerator"].to_numpy(), by_band["denominator"].to_numpy() / 12, weights, multiplier=100000
    )
    assert (row.value, row.ci_low, row.ci_high) == pytest.approx(
        (expected.value, expected.lower, expected.upper)
    )
    crude = row.numerator / (row.denominator) * 100000
    assert row.value != pytest.approx(crude)


def test_spc_limits_come_from_every_true_month_not_the_published_ones() -> None:
    # Low months are the suppressed ones: leaving them out would push the mean up.
    from caremodels.dashboard.figures import _spc_of, _spc_result
    from caremodels.dashboard.schemas import MonthlyPoint

    months = [(dt.date(2015, 4, 1) + pd.DateOffset(months=index)).date() for index in range(24)]
    values = [0.3 if index % 3 == 0 else 1.0 for index in range(24)]
    rows = pd.DataFrame({"period_start": months, "value": values})
    monthly = [
        MonthlyPoint(
            month=month,
            numerator=None if value < 0.5 else 10,
            events=None if value < 0.5 else 10,
            denominator=None if value < 0.5 else 10,
            value=None if value < 0.5 else value,
            ci_low=None,
            ci_high=None,
            unit="per resident-year",
            suppressed=value < 0.5,
        )
        for month, value in zip(months, values, strict=True)
    ]
    summary, points, reason = _spc_of(
        _spc_result(rows, find_indicator("care_home_emergency_admissions")), monthly
    )
    assert reason is None and summary is not None
    assert summary.centre == pytest.approx(np.mean(values)) and summary.centre < 1.0
    assert len(points) == 24 and sum(point.suppressed for point in points) == 8
    for point in points:
        if point.suppressed:
            assert point.value is None and point.special_cause_type is None
    assert any("withheld" in caveat for caveat in summary.caveats)


def test_a_line_with_intervals_draws_its_band_and_says_so() -> None:
    days = [dt.date(2016, month, 1) for month in (1, 2, 3)]
    svg = line_chart(
        [Series("a", [(day, 10.0) for day in days], {day: (8.0, 30.0) for day in days})],
        title="t",
        description="d",
        y_label="y",
    )
    assert svg.count("<polygon") == 1 and 'fill-opacity="0.15"' in svg
    assert "95% confidence interval" in svg
    assert ">30<" in svg  # the axis reaches the top of the band
    plain = line_chart([Series("a", [(day, 10.0) for day in days])], title="t", description="d", y_label="y")
    assert "<polygon" not in plain and "confidence interval" not in plain
