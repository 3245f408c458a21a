"""Validation statistics as a prediction-model paper reports them: discrimination (AUROC with a
bootstrap interval), calibration (slope and intercept, observed and expected by decile), overall
accuracy (Brier score) and what a service would see (sensitivity and PPV at a caseload size).

Boundaries: pure numpy/statsmodels on arrays; randomness only through the ``Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy.stats import rankdata

from caremodels.errors import CaremodelsError

__all__ = [
    "Calibration",
    "auroc",
    "bootstrap_auroc",
    "brier",
    "calibration",
    "caseload",
    "deciles",
]

_CLIP = 1e-9


def auroc(outcome: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random person with the outcome scores above a random
    person without (ties count a half), by the Mann-Whitney rank sum."""
    positives = int(outcome.sum())
    negatives = len(outcome) - positives
    if positives == 0 or negatives == 0:
        raise CaremodelsError("AUROC needs people with and without the outcome")
    ranks = rankdata(score)
    return float((ranks[outcome > 0].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def bootstrap_auroc(
    outcome: np.ndarray, scores: dict[str, np.ndarray], rng: np.random.Generator, replicates: int
) -> dict[str, tuple[float, float]]:
    """Percentile 95% intervals of each score's AUROC over the same (paired) bootstrap resamples."""
    size = len(outcome)
    draws: dict[str, list[float]] = {name: [] for name in scores}
    for _ in range(replicates):
        sample = rng.integers(0, size, size)
        resampled = outcome[sample]
        if resampled.min() == resampled.max():
            continue
        for name, score in scores.items():
            draws[name].append(auroc(resampled, score[sample]))
    if not any(draws.values()):
        raise CaremodelsError("no bootstrap resample had people with and without the outcome")
    return {
        name: (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
        for name, values in draws.items()
    }


@dataclass(frozen=True)
class Calibration:
    slope: float  # logistic regression of the outcome on logit(risk): 1 is ideal
    intercept: float  # calibration-in-the-large: intercept with logit(risk) as offset, 0 is ideal
    observed: float
    expected: float


def _logit(risk: np.ndarray) -> np.ndarray:
    clipped = np.clip(risk, _CLIP, 1 - _CLIP)
    return np.asarray(np.log(clipped / (1 - clipped)))


def calibration(outcome: np.ndarray, risk: np.ndarray) -> Calibration:
    logit = _logit(risk)
    family = sm.families.Binomial()
    slope_fit = sm.GLM(outcome, sm.add_constant(logit, has_constant="add"), family=family).fit()
    intercept_fit = sm.GLM(outcome, np.ones((len(outcome), 1)), family=family, offset=logit).fit()
    return Calibration(
        slope=float(np.asarray(slope_fit.params)[1]),
        intercept=float(np.asarray(intercept_fit.params)[0]),
        observed=float(outcome.sum()),
        expected=float(risk.sum()),
    )


def brier(outcome: np.ndarray, risk: np.ndarray) -> float:
    return float(np.mean((risk - outcome) ** 2))


def deciles(outcome: np.ndarray, risk: np.ndarray) -> list[dict[str, float]]:
    """Observed and expected outcomes in tenths of the population ordered by risk (lowest first)."""
    order = np.argsort(risk, kind="stable")
    rows = []
    for number, part in enumerate(np.array_split(order, 10), start=1):
        observed, expected = float(outcome[part].sum()), float(risk[part].sum())
        rows.append(
            {
                "decile": number,
                "people": len(part),
                "observed": observed,
                "expected": expected,
                "observed_rate": observed / len(part) if len(part) else 0.0,
                "expected_rate": expected / len(part) if len(part) else 0.0,
                "observed_to_expected": observed / expected if expected > 0 else float("nan"),
            }
        )
    return rows


def caseload(outcome: np.ndarray, risk: np.ndarray, size: int) -> dict[str, float]:
    """Sensitivity and PPV when a service takes the ``size`` people of highest risk."""
    if not 0 < size <= len(risk):
        raise CaremodelsError(f"caseload size must be between 1 and {len(risk)}")
    top = np.argsort(-risk, kind="stable")[:size]
    found = float(outcome[top].sum())
    total = float(outcome.sum())
    return {
        "size": size,
        "true_positives": found,
        "sensitivity": found / total if total else 0.0,
        "ppv": found / size,
    }
