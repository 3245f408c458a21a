"""The Poisson panel fit, placebo-calibrated inference, difference in differences and synthetic control."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from caremodels.evaluation import difference_in_differences, synthetic_control
from caremodels.evaluation.inference import placebo_calibrated
from caremodels.evaluation.panel import CountPanel, fit_poisson_two_way
from caremodels.evaluation.synthetic import synthetic_weights

from .panel_simulation import simulate_panel


def test_two_way_poisson_matches_statsmodels_with_dummies() -> None:
    rng = np.random.default_rng(1)
    units, periods = 12, 20
    exposure = rng.integers(500, 3000, (units, periods)).astype(float)
    treated = np.zeros((units, periods))
    treated[:4, 10:] = 1
    later = np.zeros((units, periods))
    later[:4, 15:] = 1
    mean = exposure * np.exp(-4 + rng.normal(0, 0.3, units)[:, None] + rng.normal(0, 0.2, periods)[None, :])
    events = rng.poisson(mean * np.exp(-0.2 * treated)).astype(float)
    exposure[3, :3] = 0  # a practice that opened late
    events[3, :3] = 0
    fit = fit_poisson_two_way(events, exposure, [treated, later])

    cells = [(u, t) for u in range(units) for t in range(periods) if exposure[u, t] > 0]
    frame = pd.DataFrame(
        {
            "unit": [str(u) for u, _ in cells],
            "period": [str(t) for _, t in cells],
            "treated": [treated[u, t] for u, t in cells],
            "later": [later[u, t] for u, t in cells],
        }
    )
    design = pd.get_dummies(frame[["unit", "period"]], drop_first=True).astype(float)
    design[["treated", "later"]] = frame[["treated", "later"]]
    reference = sm.GLM(
        np.array([events[u, t] for u, t in cells]),
        sm.add_constant(design),
        family=sm.families.Poisson(),
        offset=np.log([exposure[u, t] for u, t in cells]),
    ).fit()
    assert fit.coefficients == pytest.approx(reference.params[["treated", "later"]].to_numpy(), abs=1e-7)
    assert fit.standard_errors == pytest.approx(reference.bse[["treated", "later"]].to_numpy(), rel=1e-5)
    # Fitted totals equal observed totals in every unit and period (the Poisson score equations).
    assert fit.fitted.sum(axis=1) == pytest.approx(events.sum(axis=1))


def test_two_way_poisson_refuses_a_regressor_absorbed_by_the_fixed_effects() -> None:
    events = np.ones((3, 4))
    with pytest.raises(ValueError, match="collinear"):
        fit_poisson_two_way(events, np.full((3, 4), 100.0), [np.tile([1.0, 1.0, 0.0, 0.0], (3, 1))])


def test_count_panel_marks_missing_cells_with_zero_exposure() -> None:
    counts = pd.DataFrame(
        {
            "practice_code": ["A", "A", "B"],
            "month": pd.to_datetime(["2015-04-01", "2015-05-01", "2015-05-01"]).date,
            "numerator": [1, 2, 3],
            "denominator": [10, 10, 20],
        }
    )
    panel = CountPanel.from_counts(counts, {"A", "B"})
    assert panel.units == ("A", "B")
    assert panel.exposure.tolist() == [[10.0, 10.0], [0.0, 20.0]]


def test_placebo_calibrated_interval_covers_at_its_nominal_rate() -> None:
    # The treated statistic and ten placebo statistics share a spread 1.7 times Poisson's.
    rng = np.random.default_rng(2)
    covered = 0
    trials = 4000
    for _ in range(trials):
        spread = math.sqrt(1.7)
        estimate = -0.1 + rng.normal(0, 0.05 * spread)
        placebos = rng.normal(0, spread, size=10)
        interval = placebo_calibrated(estimate, 0.05, placebos)
        covered += interval.ci_low <= math.exp(-0.1) <= interval.ci_high
    assert 0.935 <= covered / trials <= 0.965


def test_placebo_calibrated_interval_needs_three_placebos() -> None:
    interval = placebo_calibrated(-0.1, 0.05, [0.3, -0.2])
    assert math.isnan(interval.ci_low) and interval.placebos == 2


def test_did_recovers_a_planted_effect_with_an_honest_interval() -> None:
    counts, target = simulate_panel(np.random.default_rng(3), rate_ratio=0.85)
    result = difference_in_differences(counts, target, indicator="emergency_admissions")
    assert result.method == "did"
    assert result.estimate.ci_low <= 0.85 <= result.estimate.ci_high
    assert result.estimate.ci_high < 1  # a 15% effect on six practices is detectable
    inference = result.diagnostics["inference"]
    assert inference["placebos"] == 14
    # The simulation's year shocks make estimates vary more than Poisson noise.
    assert inference["dispersion_over_poisson"] > 1.5
    study = {row["event_year"]: row for row in result.diagnostics["event_study"]}
    assert study[-1]["reference"] and study[-1]["rate_ratio"] == 1.0
    assert study[-2]["ci_low"] <= 1 <= study[-2]["ci_high"]
    assert result.diagnostics["pre_trend"]["tested"]


def test_did_event_study_shows_a_planted_pre_trend() -> None:
    counts, target = simulate_panel(np.random.default_rng(4), rate_ratio=1.0, pre_trend_per_year=0.5)
    result = difference_in_differences(counts, target, indicator="emergency_admissions")
    study = {row["event_year"]: row for row in result.diagnostics["event_study"]}
    assert study[-2]["ci_high"] < 1  # two years before, the site was well below its level a year later
    assert result.diagnostics["pre_trend"]["p_value"] < 0.05
    assert any("before the start" in caveat for caveat in result.caveats)


def test_did_intervals_cover_over_replicates_and_rarely_flag_no_effect() -> None:
    # A small, fast version of validation/evaluation_recovery.py on simulated panels.
    rng = np.random.default_rng(5)
    covered = flagged = 0
    replicates = 40
    for index in range(replicates):
        truth = 0.9 if index % 2 else 1.0
        counts, target = simulate_panel(rng, rate_ratio=truth, comparison_groups=10, practices_per_group=2)
        estimate = difference_in_differences(counts, target, indicator="x").estimate
        covered += estimate.ci_low <= truth <= estimate.ci_high
        flagged += truth == 1.0 and not estimate.ci_low <= 1 <= estimate.ci_high
    assert covered / replicates >= 0.85
    assert flagged / (replicates / 2) <= 0.15


def test_synthetic_weights_are_a_convex_combination() -> None:
    donors = np.array([[1.0, 2.0, 3.0], [1.0, 2.5, 3.5], [1.0, 1.5, 2.0]]).T
    target = 0.25 * donors[:, 0] + 0.75 * donors[:, 1]
    weights = synthetic_weights(target, donors)
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)
    assert weights == pytest.approx([0.25, 0.75, 0.0], abs=1e-6)


def test_synthetic_control_recovers_a_planted_effect_and_reports_fit() -> None:
    counts, target = simulate_panel(np.random.default_rng(6), rate_ratio=0.85)
    result = synthetic_control(counts, target, indicator="emergency_admissions")
    assert result.method == "synthetic"
    assert result.estimate.ci_low <= 0.85 <= result.estimate.ci_high
    fit = result.diagnostics["fit"]
    assert fit["pre_rmspe"] > 0 and fit["post_pre_ratio"] > 1
    assert sum(result.diagnostics["weights"].values()) == pytest.approx(1.0, abs=1e-6)
    assert len(result.diagnostics["placebos"]) == 14
    before = [row for row in result.diagnostics["series"] if row["quarter_start"] < "2015-04-01"]
    assert len(before) == 8


def test_synthetic_control_refuses_too_short_a_pre_period() -> None:
    counts, target = simulate_panel(np.random.default_rng(7), rate_ratio=1.0)
    late = counts[pd.to_datetime(counts["month"]) >= "2014-10-01"]
    with pytest.raises(ValueError, match="quarters before the start"):
        synthetic_control(late, target, indicator="x")


def test_few_placebos_are_flagged_in_the_caveats() -> None:
    from caremodels.evaluation.inference import few_placebos_caveat

    assert few_placebos_caveat(2) is None  # no interval at all: said elsewhere
    assert "5 comparison areas" in str(few_placebos_caveat(5))
    assert few_placebos_caveat(10) is None
    counts, target = simulate_panel(np.random.default_rng(8), rate_ratio=1.0, comparison_groups=6)
    result = difference_in_differences(counts, target, indicator="x")
    assert any("6 comparison areas" in caveat for caveat in result.caveats)
