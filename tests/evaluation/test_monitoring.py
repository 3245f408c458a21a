from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from caremodels.evaluation import growth_against_rest
from caremodels.evaluation.inference import placebo_calibrated
from caremodels.evaluation.monitoring import funding_condition


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
    # MCP needs growth at least 1 point below the rest of England. +10 points misses it, but the
    # Poisson interval (0.990 to 1.223) still reaches the threshold ratio 1 - 0.01 / 1 = 0.99.
    condition = comparison.result.diagnostics["funding_condition_2017"]
    assert condition["required_points_below_rest"] == 1.0
    assert condition["threshold_ratio"] == pytest.approx(0.99)
    assert condition["ci_low"] == pytest.approx(estimate.ci_low) and estimate.ci_low < 0.99
    assert condition["verdict"] == "cannot tell" and condition["met"] is False
    assert condition["statement"].startswith("cannot tell: growth +10.0 percentage points")
    assert "95% CI 0.990 to 1.223" in condition["statement"]
    assert comparison.result.periods == {"baseline": "2014/15", "comparison": "2015/16"}


def test_incomplete_baseline_year_is_refused() -> None:
    counts = _counts("A00001", 100, 100, 1000)
    counts = counts[counts["month"] != dt.date(2014, 4, 1)]
    with pytest.raises(ValueError, match="baseline year 2014/15"):
        growth_against_rest(
            counts, {"A00001"}, indicator="emergency_admissions", area="x", rest_practices={"A00001"}
        )


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
        indicator="emergency_admissions",
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
            indicator="emergency_admissions",
            area="A",
            rest_practices={"A00001"},
            comparison_months=(dt.date(2016, 1, 1), dt.date(2016, 6, 1)),
        )
    with pytest.raises(ValueError, match="after the baseline year"):
        growth_against_rest(
            counts,
            {"A00001"},
            indicator="emergency_admissions",
            area="A",
            rest_practices={"A00001"},
            comparison_months=(dt.date(2015, 1, 1), dt.date(2015, 6, 1)),
        )


def _two_years(
    practice: str, first_year_events: int, second_year_events: int, list_size: int
) -> pd.DataFrame:
    return _counts(practice, first_year_events, second_year_events, list_size)


def test_placebo_areas_calibrate_the_interval_and_leave_the_programme_figures_alone() -> None:
    # The area grows 10%; eight comparison areas of one practice each grow by -12% to +16%, far more
    # spread than Poisson noise in 2,000 events a year allows.
    placebo_growth = (-0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16)
    frames = [_two_years("A00001", 1000, 1100, 10_000)]
    placebo_areas = {}
    for index, growth in enumerate(placebo_growth):
        code = f"B0000{index}"
        frames.append(_two_years(code, 2000, round(2000 * (1 + growth)), 20_000))
        placebo_areas[f"CCG{index}"] = (code,)
    counts = pd.concat(frames)
    rest = {code for codes in placebo_areas.values() for code in codes}
    plain = growth_against_rest(
        counts, {"A00001"}, indicator="emergency_admissions", area="A", rest_practices=rest, care_model="MCP"
    )
    calibrated = growth_against_rest(
        counts,
        {"A00001"},
        indicator="emergency_admissions",
        area="A",
        rest_practices=rest,
        care_model="MCP",
        placebo_areas=placebo_areas,
    )
    # NHS England's figures do not depend on the placebos.
    for field in ("growth", "rest_growth", "difference_percentage_points"):
        assert getattr(calibrated, field) == getattr(plain, field)
    assert calibrated.result.estimate.rate_ratio == plain.result.estimate.rate_ratio
    # The condition's threshold and difference do not either; its verdict rests on each interval.
    for name in ("required_points_below_rest", "difference_percentage_points", "threshold_ratio"):
        assert (
            calibrated.result.diagnostics["funding_condition_2017"][name]
            == plain.result.diagnostics["funding_condition_2017"][name]
        )
    assert calibrated.result.diagnostics["funding_condition_2017"]["ci_high"] == pytest.approx(
        calibrated.result.estimate.ci_high
    )
    # The Poisson interval is kept in the diagnostics, and is the uncalibrated estimate's interval.
    poisson = calibrated.result.diagnostics["poisson_interval"]
    assert poisson["ci_low"] == pytest.approx(plain.result.estimate.ci_low)
    assert poisson["ci_high"] == pytest.approx(plain.result.estimate.ci_high)

    # By hand: each placebo's log ratio of growth ratios against the other seven, over its Poisson s.e.
    statistics = []
    for index, growth in enumerate(placebo_growth):
        own_before, own_after = 2000, round(2000 * (1 + growth))
        others_before = 2000 * 7
        others_after = sum(round(2000 * (1 + g)) for j, g in enumerate(placebo_growth) if j != index)
        log_ratio = math.log(own_after / own_before) - math.log(others_after / others_before)
        statistics.append(
            log_ratio / math.sqrt(1 / own_before + 1 / own_after + 1 / others_before + 1 / others_after)
        )
    expected = placebo_calibrated(
        math.log(plain.result.estimate.rate_ratio), poisson["standard_error"], statistics
    )
    estimate = calibrated.result.estimate
    assert estimate.ci_low == pytest.approx(expected.ci_low)
    assert estimate.ci_high == pytest.approx(expected.ci_high)
    assert estimate.p_value == pytest.approx(expected.p_value)
    inference = calibrated.result.diagnostics["inference"]
    assert inference["placebos"] == 8
    assert inference["dispersion_over_poisson"] > 4  # areas vary far more than chance
    assert estimate.ci_high - estimate.ci_low > 2 * (poisson["ci_high"] - poisson["ci_low"])
    assert any("8 comparison areas served as placebos" in caveat for caveat in calibrated.result.caveats)
    assert not any("Poisson intervals ignore" in caveat for caveat in calibrated.result.caveats)


def test_too_few_placebo_areas_give_no_interval_and_say_so() -> None:
    counts = pd.concat(
        [
            _two_years("A00001", 1000, 1100, 10_000),
            _two_years("B00001", 2000, 2100, 20_000),
            _two_years("B00002", 2000, 1900, 20_000),
        ]
    )
    comparison = growth_against_rest(
        counts,
        {"A00001"},
        indicator="emergency_admissions",
        area="A",
        rest_practices={"B00001", "B00002"},
        placebo_areas={"CCG1": ("B00001",), "CCG2": ("B00002",)},
    )
    estimate = comparison.result.estimate
    assert math.isnan(estimate.ci_low) and math.isnan(estimate.ci_high) and estimate.p_value is None
    assert comparison.result.diagnostics["inference"]["placebos"] == 2
    assert math.isfinite(comparison.result.diagnostics["poisson_interval"]["ci_low"])
    assert any("too few for an interval" in caveat for caveat in comparison.result.caveats)


def test_calibrated_interval_covers_when_practices_vary_more_than_poisson() -> None:
    """Simulated practices whose growth varies between practices (log-normal, s.d. 0.08) on top of
    Poisson noise: the Poisson interval undercovers, the calibrated one covers about 95%."""
    rng = np.random.default_rng(20170401)
    areas, practices_per_area, list_size, rate = 30, 2, 10_000, 0.1
    simulations = 300
    covered = {"poisson": 0, "calibrated": 0}
    months = _months(dt.date(2014, 4, 1), 24)
    first_year = np.array([month < dt.date(2015, 4, 1) for month in months])
    codes = [f"P{area:02d}{practice}" for area in range(areas + 1) for practice in range(practices_per_area)]
    placebo_areas = {
        f"CCG{area:02d}": tuple(f"P{area:02d}{practice}" for practice in range(practices_per_area))
        for area in range(1, areas + 1)
    }
    rest = {code for code in codes if not code.startswith("P00")}
    for _ in range(simulations):
        growth = np.exp(rng.normal(0.0, 0.08, size=len(codes)))
        monthly = rate * list_size / 12 * np.where(first_year[None, :], 1.0, growth[:, None])
        events = rng.poisson(monthly)
        counts = pd.DataFrame(
            {
                "practice_code": np.repeat(codes, len(months)),
                "month": months * len(codes),
                "numerator": events.ravel(),
                "denominator": list_size,
            }
        )
        comparison = growth_against_rest(
            counts,
            {code for code in codes if code.startswith("P00")},
            indicator="emergency_admissions",
            area="A",
            rest_practices=rest,
            placebo_areas=placebo_areas,
        )
        # The truth is a ratio of 1: the area's practices grow like everyone else's.
        poisson = comparison.result.diagnostics["poisson_interval"]
        covered["poisson"] += poisson["ci_low"] <= 1 <= poisson["ci_high"]
        estimate = comparison.result.estimate
        covered["calibrated"] += estimate.ci_low <= 1 <= estimate.ci_high
    assert covered["poisson"] / simulations < 0.85
    assert 0.91 <= covered["calibrated"] / simulations <= 0.99


@pytest.mark.parametrize(
    ("difference", "ratio", "low", "high", "verdict"),
    [
        # 4 points below the rest (PACS needs 3), and the interval lies below 1.
        (-4.0, 0.96, 0.93, 0.99, "met"),
        # 4 points below, but the interval reaches 1: the data cannot rule out no difference.
        (-4.0, 0.96, 0.91, 1.01, "cannot tell"),
        # 1 point below (misses), the interval reaches the threshold 0.97.
        (-1.0, 0.99, 0.95, 1.03, "cannot tell"),
        # 2 points above the rest, the interval wholly above the threshold: the data rule it out.
        (2.0, 1.02, 0.98, 1.06, "not met"),
        # No interval: a point estimate alone never says met.
        (-5.0, 0.95, math.nan, math.nan, "cannot tell"),
    ],
)
def test_the_funding_condition_is_met_only_when_the_interval_excludes_no_difference(
    difference: float, ratio: float, low: float, high: float, verdict: str
) -> None:
    condition = funding_condition(
        3.0,
        difference_percentage_points=difference,
        rest_growth=0.0,
        rate_ratio=ratio,
        ci_low=low,
        ci_high=high,
    )
    assert condition.threshold_ratio == pytest.approx(0.97)
    assert condition.verdict == verdict
    assert condition.met == (verdict == "met")
    signed = f"{difference:+.1f}".replace("-", "\u2212")
    assert condition.statement.startswith(f"{verdict}: growth {signed} percentage points")
    if math.isfinite(low):
        assert f"95% CI {low:.3f} to {high:.3f}" in condition.statement
