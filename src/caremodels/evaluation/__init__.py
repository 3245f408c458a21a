"""Evaluation: did a care model work?

Methods, each returning the same ``EvaluationResult`` shape with typed diagnostics, are listed in
one registry (``REGISTRY``, ``caremodels.evaluation.methods``): programme monitoring (growth from the
baseline year against the rest of England, and the 2017 funding condition), difference in
differences on the practice-by-month panel, matched controls at person level (care home residents),
synthetic control at site level; statistical process control is ``caremodels.evaluation.spc``.
``evaluate`` runs any of them for a site or care model type, with one comparison-pool rule
(``DEFAULT_POOL``) carried in the result; ``before_after_versus_matched`` sets a site's own
before-and-after figure beside the matched estimate (made by ``evaluate``) and explains the difference.

Boundaries: reads the warehouse through the indicator engine (practice-month counts, and events per
person and day), DuckDB SQL only for person-level cohorts (residence, conditions, frailty), and
reference data; writes nothing.
"""

from caremodels.evaluation.claims import BeforeAfter, BeforeAfterVersusMatched, before_after_versus_matched
from caremodels.evaluation.did import difference_in_differences
from caremodels.evaluation.matched import matched_controls
from caremodels.evaluation.methods import REGISTRY, EvaluationMethod, MethodInputs, find_method
from caremodels.evaluation.monitoring import (
    GrowthComparison,
    funding_conditions,
    growth_against_rest,
    monthly_rates,
)
from caremodels.evaluation.result import Diagnostics, Estimate, EvaluationResult
from caremodels.evaluation.run import METHODS, Method, evaluate, indicator_counts
from caremodels.evaluation.synthetic import synthetic_control
from caremodels.evaluation.targets import (
    DEFAULT_POOL,
    POOL_RULES,
    ComparisonPool,
    EvaluationTarget,
    resolve_target,
)

__all__ = [
    "DEFAULT_POOL",
    "METHODS",
    "POOL_RULES",
    "REGISTRY",
    "BeforeAfter",
    "BeforeAfterVersusMatched",
    "ComparisonPool",
    "Diagnostics",
    "Estimate",
    "EvaluationMethod",
    "EvaluationResult",
    "EvaluationTarget",
    "GrowthComparison",
    "Method",
    "MethodInputs",
    "before_after_versus_matched",
    "difference_in_differences",
    "evaluate",
    "find_method",
    "funding_conditions",
    "growth_against_rest",
    "indicator_counts",
    "matched_controls",
    "monthly_rates",
    "resolve_target",
    "synthetic_control",
]
