"""Indicators: a declarative catalogue of definitions and the engines that compute them.

Boundaries: definitions are data (YAML validated into ``IndicatorDefinition``), never SQL. An engine
(DuckDB or Spark through Ibis, or the pandas reference) reads only the warehouse and returns counts
and denominators by area and period; ``finish`` (or ``finish_arrays``) is the one path from summed
counts to values and intervals (``caremodels.stats``), used by ``indicator_results`` and by the
dashboard alike, and every export goes through disclosure control and labelling (``publish``).
"""

from caremodels.indicators.compute import (
    RATE_BASES,
    Finished,
    RateBasis,
    finish,
    finish_arrays,
    indicator_results,
    indicator_results_many,
    value_unit,
)
from caremodels.indicators.definition import IndicatorDefinition, catalogue, find_indicator, load_definition
from caremodels.indicators.engine import practice_month_band_counts, practice_month_counts
from caremodels.indicators.geography import LEVELS, Level
from caremodels.indicators.output import compute_to_file, open_engine, publish
from caremodels.indicators.periods import PERIOD_KINDS, PeriodKind

__all__ = [
    "LEVELS",
    "PERIOD_KINDS",
    "RATE_BASES",
    "Finished",
    "IndicatorDefinition",
    "Level",
    "PeriodKind",
    "RateBasis",
    "catalogue",
    "compute_to_file",
    "find_indicator",
    "finish",
    "finish_arrays",
    "indicator_results",
    "indicator_results_many",
    "load_definition",
    "open_engine",
    "practice_month_band_counts",
    "practice_month_counts",
    "publish",
    "value_unit",
]
