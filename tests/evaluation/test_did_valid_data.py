"""Difference in differences on valid data that used to stop it or mislead: a practice whose list
falls to zero mid-month, and a pre-trend test too weak to see a trend that explains the estimate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from caremodels.evaluation.did import difference_in_differences
from caremodels.evaluation.panel import CountPanel, fit_poisson_two_way
from caremodels.evaluation.targets import EvaluationTarget

from .panel_simulation import MONTHS, START, simulate_panel


def test_a_practice_whose_list_falls_to_zero_mid_month_is_modelled_without_its_unexposed_month() -> None:
    counts, target = simulate_panel(np.random.default_rng(3), rate_ratio=0.85)
    closing = sorted(target.control_practices)[0]
    last = dt.date(2018, 6, 1)
    # Its last patient died on the 10th of June 2018 after an admission on the 5th: June has an
    # event but nobody registered on the 15th, and no later month has either.
    mine = counts["practice_code"] == closing
    counts = counts[~mine | (counts["month"] <= last)].copy()
    june = (counts["practice_code"] == closing) & (counts["month"] == last)
    counts.loc[june, ["numerator", "denominator"]] = [1, 0]
    panel = CountPanel.from_counts(counts, target.treated_practices | target.control_practices)
    after = [month >= START for month in panel.periods]
    # The model itself cannot take the cell (its likelihood is zero) ...
    with pytest.raises(ValueError, match="events but no exposure"):
        fit_poisson_two_way(panel.events, panel.exposure, [panel.indicator(target.treated_practices, after)])
    # ... so difference in differences leaves it out by rule, says so, and still recovers the effect.
    result = difference_in_differences(counts, target, indicator="emergency_admissions")
    assert result.diagnostics["unexposed_cells_left_out"] == 1
    assert result.diagnostics["unexposed_events_left_out"] == 1
    assert any("no registered patients on the 15th" in caveat for caveat in result.caveats)
    assert result.estimate.ci_low <= 0.85 <= result.estimate.ci_high
    untouched = difference_in_differences(
        counts[~june], target, indicator="emergency_admissions"
    ).estimate.rate_ratio
    assert result.estimate.rate_ratio == pytest.approx(untouched, rel=1e-9)


def test_pre_trend_power_is_reported_and_a_weak_test_is_labelled_low_power() -> None:
    # Two treated practices: little power. A steady pre-trend of 2.5% a year, as in the economy
    # where the test passed (p = 0.31) and the estimate was a false alarm.
    counts, target = simulate_panel(
        np.random.default_rng(8), rate_ratio=1.0, treated_practices=1, pre_trend_per_year=0.025
    )
    result = difference_in_differences(counts, target, indicator="emergency_admissions")
    pre_trend = result.diagnostics["pre_trend"]
    assert pre_trend["tested"]
    assert pre_trend["minimum_detectable_trend_percent_per_year"] > 2.5
    assert 0 < pre_trend["power_against_explaining_trend"] < 1
    if pre_trend["p_value"] >= 0.05:
        assert pre_trend["low_power"]
        assert any("pre-trend test has low power" in caveat for caveat in result.caveats)


def _poisson_panel(rng: np.random.Generator, rate_ratio: float) -> tuple[pd.DataFrame, EvaluationTarget]:
    """Large practices with Poisson noise only: a panel where a pre-trend test has power."""
    groups = {f"{g:02d}X": tuple(f"C{g:02d}{m:03d}" for m in range(3)) for g in range(12)}
    treated = tuple(f"T{index:05d}" for index in range(10))
    rows = []
    for code in treated + tuple(code for codes in groups.values() for code in codes):
        for month in MONTHS:
            effect = rate_ratio if code in treated and month >= START else 1.0
            rows.append((code, month, int(rng.poisson(300 * effect)), 30_000))
    counts = pd.DataFrame(rows, columns=["practice_code", "month", "numerator", "denominator"])
    target = EvaluationTarget(
        area="Test site",
        care_model="PACS",
        site_ids=("test",),
        treated={"test": treated},
        controls=groups,
        start=START,
    )
    return counts, target


def test_a_strong_pre_trend_test_is_not_labelled_low_power() -> None:
    counts, target = _poisson_panel(np.random.default_rng(3), 0.85)
    result = difference_in_differences(counts, target, indicator="emergency_admissions")
    pre_trend = result.diagnostics["pre_trend"]
    # A 15% effect needs a trend of about 5% a year to explain it: easy to see in these data.
    assert pre_trend["power_against_explaining_trend"] > 0.8
    assert not pre_trend["low_power"]
    assert pre_trend["minimum_detectable_trend_percent_per_year"] < abs(
        pre_trend["explaining_trend_percent_per_year"]
    )
    assert not any("low power" in caveat for caveat in result.caveats)
