"""Evaluation: did a care model work?

Methods, each returning the same ``EvaluationResult`` shape with typed diagnostics, are listed in
one registry (``REGISTRY``, ``caremodels.evaluation.methods``): programme monitoring (growth from the
baseline year against the rest of England, and the 2017 funding condition), difference in
differences on the practice-by-month panel, matched controls at person level (care home residents),
synthetic control at site level; statistical process control is ``caremodels.evaluation.spc``;
``evaluate_enrolment`` sets a targeted service's cohort (extensive care) before and after enrolment
beside risk-matched controls entering at the same time (``caremodels.evaluation.enrolment``).
``evaluate`` runs any of them for a site or care model type, with one comparison-pool rule
(``DEFAULT_POOL``) carried in the result; ``before_after_versus_matched`` sets a site's own
before-and-after figure beside the matched estimate (made by ``evaluate``) and explains the difference.

Boundaries: reads the warehouse through the indicator engine (practice-month counts, and events per
person and day), DuckDB SQL only for person-level cohorts (residence, conditions, frailty), and
reference data; writes nothing.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caremodels.evaluation.claims import (
        BeforeAfter,
        BeforeAfterVersusMatched,
        before_after_versus_matched,
    )
    from caremodels.evaluation.did import difference_in_differences
    from caremodels.evaluation.enrolment import EnrolmentEvaluation, evaluate_enrolment
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

# Where each public name lives: imported on first use, so that reading the registry of methods (the
# command line does, to build its options) does not load the statistics and the engines.
_HOMES = {
    "BeforeAfter": "claims",
    "BeforeAfterVersusMatched": "claims",
    "before_after_versus_matched": "claims",
    "difference_in_differences": "did",
    "EnrolmentEvaluation": "enrolment",
    "evaluate_enrolment": "enrolment",
    "matched_controls": "matched",
    "GrowthComparison": "monitoring",
    "funding_conditions": "monitoring",
    "growth_against_rest": "monitoring",
    "monthly_rates": "monitoring",
    "REGISTRY": "methods",
    "EvaluationMethod": "methods",
    "MethodInputs": "methods",
    "find_method": "methods",
    "Diagnostics": "result",
    "Estimate": "result",
    "EvaluationResult": "result",
    "METHODS": "run",
    "Method": "run",
    "evaluate": "run",
    "indicator_counts": "run",
    "synthetic_control": "synthetic",
    "DEFAULT_POOL": "targets",
    "POOL_RULES": "targets",
    "ComparisonPool": "targets",
    "EvaluationTarget": "targets",
    "resolve_target": "targets",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"caremodels.evaluation.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'caremodels.evaluation' has no attribute {name!r}")


__all__ = [
    "DEFAULT_POOL",
    "METHODS",
    "POOL_RULES",
    "REGISTRY",
    "BeforeAfter",
    "BeforeAfterVersusMatched",
    "ComparisonPool",
    "Diagnostics",
    "EnrolmentEvaluation",
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
    "evaluate_enrolment",
    "find_method",
    "funding_conditions",
    "growth_against_rest",
    "indicator_counts",
    "matched_controls",
    "monthly_rates",
    "resolve_target",
    "synthetic_control",
]
