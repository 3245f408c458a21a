"""Matched controls for care home residents, and the site's own figure set beside them."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from caremodels.errors import CaremodelsError
from caremodels.evaluation import before_after_versus_matched, matched_controls, resolve_target
from caremodels.evaluation.matched import (
    COVARIATES,
    balance_table,
    build_cohort,
    match_on_propensity,
    weighted_poisson,
)
from caremodels.evaluation.targets import EvaluationTarget
from caremodels.warehouse import Warehouse

from .care_home_simulation import TREATED_SITE, simulate_care_homes


def _target(warehouse: Warehouse, start: dt.date | None = None) -> EvaluationTarget:
    present = {row[0] for row in warehouse.query("SELECT DISTINCT practice_code FROM care_home_residence")}
    return resolve_target(present, site=TREATED_SITE, start=start)


@pytest.fixture(scope="module")
def care_home_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("care_homes") / "warehouse.duckdb"
    simulate_care_homes(path, np.random.default_rng(11), rate_ratio=0.85)
    return path


def test_matching_balances_the_covariates_and_recovers_the_planted_effect(care_home_warehouse: Path) -> None:
    with Warehouse(care_home_warehouse, read_only=True) as warehouse:
        target = _target(warehouse)
        result = matched_controls(warehouse, target, indicator="emergency_admissions")
        cohort = build_cohort(warehouse, target, indicator="emergency_admissions")
    assert result.method == "matched"
    assert result.estimate.ci_low <= 0.85 <= result.estimate.ci_high
    diagnostics = result.diagnostics
    assert diagnostics["max_abs_smd_before"] > 0.3  # the simulation's confounding
    assert diagnostics["max_abs_smd_after"] < 0.1
    assert {row["covariate"] for row in diagnostics["balance"]} == set(COVARIATES)
    # Without matching the treated residents look worse, because they are frailer.
    rates = cohort.groupby("treated")[["outcome", "person_years"]].sum()
    crude = (rates.loc[1, "outcome"] / rates.loc[1, "person_years"]) / (
        rates.loc[0, "outcome"] / rates.loc[0, "person_years"]
    )
    assert crude > result.estimate.ci_high


def test_new_residents_enter_at_moving_in_and_all_residents_at_the_start(care_home_warehouse: Path) -> None:
    with Warehouse(care_home_warehouse, read_only=True) as warehouse:
        target = _target(warehouse)
        new = build_cohort(warehouse, target, indicator="emergency_admissions", design="new_residents")
        everyone = build_cohort(warehouse, target, indicator="emergency_admissions", design="all_residents")
    start = pd.Timestamp(target.start)
    assert (new["index_date"] >= start).all()
    assert (everyone["index_date"] == start).any()
    assert len(everyone) > len(new)
    assert (new["followup_end"] >= new["index_date"]).all()
    assert (new["person_years"] > 0).all()


def test_exact_matching_on_sex_and_home_type() -> None:
    rng = np.random.default_rng(12)
    cohort = pd.DataFrame(
        {
            "treated": [1] * 20 + [0] * 80,
            "female": rng.integers(0, 2, 100).astype(float),
            "nursing": rng.integers(0, 2, 100).astype(float),
            "age": rng.normal(85, 5, 100),
        }
    )
    matching = match_on_propensity(cohort, covariates=["age", "female", "nursing"], neighbours=2)
    assert matching.matched_treated + matching.unmatched_treated == 20
    table = balance_table(cohort, matching.weights, ["female", "nursing"])
    assert all(row.smd_after == pytest.approx(0.0, abs=1e-12) for row in table)


def test_weighted_poisson_matches_a_hand_computed_rate_ratio() -> None:
    # Two groups, no covariates: the coefficient is the log ratio of the weighted rates.
    outcome = np.array([3.0, 1.0, 4.0, 0.0])
    years = np.array([1.0, 1.0, 2.0, 2.0])
    weights = np.array([1.0, 1.0, 0.5, 1.5])
    design = np.column_stack([np.ones(4), [1.0, 1.0, 0.0, 0.0]])
    coefficients, covariance = weighted_poisson(outcome, design, np.log(years), weights)
    expected = (4 / 2) / ((0.5 * 4) / (0.5 * 2 + 1.5 * 2))
    assert math.exp(coefficients[1]) == pytest.approx(expected)
    assert covariance[1, 1] > 0


def test_matched_controls_need_care_home_residences(tiny_warehouse: Path) -> None:
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        present = {row[0] for row in warehouse.query("SELECT DISTINCT practice_code FROM gp_registrations")}
        empty = warehouse.query("SELECT count(*) FROM care_home_residence")[0][0] == 0
        if not empty:
            pytest.skip("this tiny economy has care home residents")
        target = resolve_target(present, site="Fylde Coast")
        with pytest.raises(CaremodelsError, match="no care home residences"):
            matched_controls(warehouse, target, indicator="emergency_admissions")


def test_unknown_person_level_outcome_is_refused(care_home_warehouse: Path) -> None:
    with Warehouse(care_home_warehouse, read_only=True) as warehouse:
        target = _target(warehouse)
    with (
        Warehouse(care_home_warehouse, read_only=True) as warehouse,
        pytest.raises(CaremodelsError, match="cannot count"),
    ):
        matched_controls(warehouse, target, indicator="deaths_in_hospital_share")


def test_matched_intervals_cover_over_replicates(tmp_path: Path) -> None:
    # A small, fast version of the coverage study in validation/evaluation_recovery.py.
    rng = np.random.default_rng(13)
    covered = 0
    replicates = 8
    for index in range(replicates):
        path = tmp_path / f"replicate-{index}.duckdb"
        simulate_care_homes(
            path, rng, rate_ratio=0.85, practice_spread=0.2, treated_people=300, comparison_people=1200
        )
        with Warehouse(path, read_only=True) as warehouse:
            estimate = matched_controls(
                warehouse, _target(warehouse), indicator="emergency_admissions"
            ).estimate
        covered += estimate.ci_low <= 0.85 <= estimate.ci_high
    # Nominal 95%: fewer than 6 of 8 has probability below 1%. The practices' shared levels
    # (practice_spread) make the robust interval alone too narrow; the placebos widen it.
    assert covered >= 6


def test_before_after_versus_matched_explains_a_transient_high_baseline(tmp_path: Path) -> None:
    path = tmp_path / "wakefield.duckdb"
    simulate_care_homes(
        path,
        np.random.default_rng(16),
        rate_ratio=0.95,
        effect_start=dt.date(2016, 4, 1),
        transient_excess=0.35,
    )
    with Warehouse(path, read_only=True) as warehouse:
        comparison = before_after_versus_matched(warehouse, TREATED_SITE)
    own = comparison.before_after.result.estimate
    matched = comparison.matched.estimate
    # The naive figure is far more favourable than the truth; the matched one covers it.
    assert own.percent_change < -20
    assert matched.ci_low <= 0.95 <= matched.ci_high
    assert comparison.baseline_jump_percent is not None and comparison.baseline_jump_percent > 15
    assert comparison.matched.periods["followup"].startswith("2016-04")
    text = " ".join(comparison.explanation)
    assert "regression to the mean" in text
    assert "more favourable" in text
    assert comparison.before_after.result.method == "before_after"


def test_a_covariate_collinear_with_treatment_is_left_out_of_the_outcome_model() -> None:
    from caremodels.evaluation.matched import _independent_columns

    treated = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    matrix = np.column_stack([np.ones(5), treated, [0.2, 0.1, 0.4, 0.3, 0.5], 2 * treated - 1])
    kept = _independent_columns(matrix)
    assert kept.shape == (5, 3)
    assert (kept[:, 1] == treated).all()


def test_covariates_that_separate_the_data_are_penalised_not_fatal() -> None:
    # A covariate that is 1 exactly for the rows without events: its unpenalised coefficient runs
    # off to minus infinity and the information matrix becomes singular.
    rng = np.random.default_rng(5)
    size = 200
    treated = (np.arange(size) % 2).astype(float)
    separating = (np.arange(size) % 5 == 0).astype(float)
    outcome = np.where(separating == 1, 0.0, rng.poisson(2.0, size).astype(float))
    design = np.column_stack([np.ones(size), treated, separating - separating.mean()])
    offset, weights = np.zeros(size), np.ones(size)
    with pytest.raises((ArithmeticError, np.linalg.LinAlgError)):
        weighted_poisson(outcome, design, offset, weights)
    coefficients, covariance = weighted_poisson(outcome, design, offset, weights, penalty=1e-3)
    assert np.isfinite(coefficients).all() and np.isfinite(covariance).all()
    # The treatment is not penalised: it is the rate ratio among the rows with events.
    kept = separating == 0
    ratio = outcome[kept & (treated == 1)].mean() / outcome[kept & (treated == 0)].mean()
    assert math.exp(coefficients[1]) == pytest.approx(ratio, rel=1e-2)
