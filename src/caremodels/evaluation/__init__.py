"""Evaluation: did a care model work?

Methods, each returning the same ``EvaluationResult`` shape: programme monitoring (growth from the
baseline year against the rest of England, and the 2017 funding condition), difference in
differences on the practice-by-month panel, matched controls at person level (care home residents),
synthetic control at site level, and statistical process control (``caremodels.evaluation.spc``).
``evaluate`` runs any of them for a site or care model type; ``before_after_versus_matched`` sets a
site's own before-and-after figure beside the matched estimate and explains the difference.

Boundaries: reads the warehouse (through the indicator engine, or DuckDB SQL for person-level
methods) and reference data; writes nothing.
"""

from caremodels.evaluation.claims import BeforeAfter, BeforeAfterVersusMatched, before_after_versus_matched
from caremodels.evaluation.did import difference_in_differences
from caremodels.evaluation.matched import matched_controls
from caremodels.evaluation.monitoring import (
    GrowthComparison,
    funding_conditions,
    growth_against_rest,
    monthly_rates,
)
from caremodels.evaluation.result import Estimate, EvaluationResult
from caremodels.evaluation.run import METHODS, Method, evaluate, indicator_counts
from caremodels.evaluation.synthetic import synthetic_control
from caremodels.evaluation.targets import EvaluationTarget, resolve_target

__all__ = [
    "METHODS",
    "BeforeAfter",
    "BeforeAfterVersusMatched",
    "Estimate",
    "EvaluationResult",
    "EvaluationTarget",
    "GrowthComparison",
    "Method",
    "before_after_versus_matched",
    "difference_in_differences",
    "evaluate",
    "funding_conditions",
    "growth_against_rest",
    "indicator_counts",
    "matched_controls",
    "monthly_rates",
    "resolve_target",
    "synthetic_control",
]
