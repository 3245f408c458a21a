"""Indicators: a declarative catalogue of definitions and the engine that computes them.

Boundaries: definitions are data (YAML validated into ``IndicatorDefinition``), never SQL; the
engine reads only the warehouse and returns counts and denominators, to which ``caremodels.stats``
adds values and intervals.
"""

from caremodels.indicators.definition import IndicatorDefinition, catalogue, find_indicator, load_definition
from caremodels.indicators.engine import practice_month_counts

__all__ = ["IndicatorDefinition", "catalogue", "find_indicator", "load_definition", "practice_month_counts"]
