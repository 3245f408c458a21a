"""The validation statistics against their definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from caremodels.errors import CaremodelsError
from caremodels.risk import metrics


def _pairwise_auroc(outcome: np.ndarray, score: np.ndarray) -> float:
    wins = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for a, b in itertools.product(score[outcome == 1], score[outcome == 0])
    ]
    return float(np.mean(wins))


def test_auroc_is_the_chance_a_case_outranks_a_non_case_with_ties_as_halves() -> None:
    rng = np.random.default_rng(3)
    outcome = (rng.random(200) < 0.3).astype(float)
    score = np.round(outcome * 0.5 + rng.random(200), 1)  # rounding makes ties
    assert metrics.auroc(outcome, score) == pytest.approx(_pairwise_auroc(outcome, score), abs=1e-12)
    assert metrics.auroc(np.array([0.0, 0.0, 1.0]), np.array([0.1, 0.2, 0.9])) == 1.0
    with pytest.raises(CaremodelsError):
        metrics.auroc(np.zeros(5), np.arange(5.0))


def test_true_risks_are_calibrated_and_overconfident_ones_are_not() -> None:
    rng = np.random.default_rng(11)
    risk = 1 / (1 + np.exp(-rng.normal(-2.0, 1.0, 40_000)))
    outcome = (rng.random(len(risk)) < risk).astype(float)
    good = metrics.calibration(outcome, risk)
    assert good.slope == pytest.approx(1.0, abs=0.05)
    assert good.intercept == pytest.approx(0.0, abs=0.05)
    logit = np.log(risk / (1 - risk))
    overconfident = 1 / (1 + np.exp(-2 * logit))  # twice as extreme: the slope should be about 0.5
    assert metrics.calibration(outcome, overconfident).slope == pytest.approx(0.5, abs=0.05)
    rows = metrics.deciles(outcome, risk)
    assert [r["decile"] for r in rows] == list(range(1, 11))
    assert sum(r["people"] for r in rows) == len(risk)
    assert sum(r["observed"] for r in rows) == outcome.sum()
    assert rows[-1]["observed_rate"] > rows[0]["observed_rate"]
    assert metrics.brier(outcome, risk) < metrics.brier(outcome, overconfident)


def test_caseload_counts_the_highest_risks() -> None:
    outcome = np.array([1, 0, 1, 0, 0, 1], dtype=float)
    risk = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.05])
    result = metrics.caseload(outcome, risk, 3)
    assert result == {"size": 3, "true_positives": 2.0, "sensitivity": 2 / 3, "ppv": 2 / 3}
    with pytest.raises(CaremodelsError):
        metrics.caseload(outcome, risk, 0)


def test_bootstrap_intervals_are_reproducible_from_the_seed_and_cover_the_estimate() -> None:
    rng = np.random.default_rng(5)
    outcome = (rng.random(2000) < 0.2).astype(float)
    scores = {"a": outcome + rng.normal(0, 1, 2000), "b": rng.random(2000)}
    first = metrics.bootstrap_auroc(outcome, scores, np.random.default_rng(1), 50)
    again = metrics.bootstrap_auroc(outcome, scores, np.random.default_rng(1), 50)
    other = metrics.bootstrap_auroc(outcome, scores, np.random.default_rng(2), 50)
    assert first == again and first != other
    low, high = first["a"]
    assert low < metrics.auroc(outcome, scores["a"]) < high
    assert first["b"][0] < 0.5 < first["b"][1]
