"""Evaluation: did a care model work? Programme monitoring against the rest of England, and
statistical process control; every method returns the same ``EvaluationResult`` shape.
"""

from caremodels.evaluation.monitoring import GrowthComparison, growth_against_rest, monthly_rates
from caremodels.evaluation.result import Estimate, EvaluationResult

__all__ = ["Estimate", "EvaluationResult", "GrowthComparison", "growth_against_rest", "monthly_rates"]
