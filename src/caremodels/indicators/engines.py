"""The contract every indicator engine meets, so that the Ibis engines (DuckDB, Spark) and the
reference implementation are interchangeable and can be checked against each other.

An engine answers two questions about a definition: which months the data covers
(``data_months``), and the raw sums by area and period (``counts``). Values, intervals and
disclosure control are added afterwards, once, by ``caremodels.indicators.compute``.

``counts`` returns one row per level, area code and period (and, for a standardised indicator, per
sex and five-year age band) with columns ``COUNT_COLUMNS`` (plus ``BAND_COLUMNS``):

- ``numerator``: the events counted, or the bed days or the field summed;
- ``denominator``: the raw denominator sum: for the registered population, the sum over the
  period's months of the mid-month list sizes; for care-home residents, days of residence; for
  events, their count;
- ``events``: how many events contributed to the numerator (used by disclosure control).

Rows are the area-periods with at least one practice-month holding a numerator event or a
denominator; they may carry zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import pandas as pd

from caremodels.indicators.definition import EventSelection, IndicatorDefinition
from caremodels.indicators.geography import AreaSet
from caremodels.indicators.periods import Period

__all__ = ["AGE_BANDS", "BAND_COLUMNS", "COUNT_COLUMNS", "ENGINE_NAMES", "CountingEngine"]

COUNT_COLUMNS = [
    "level",
    "code",
    "period",
    "first_month",
    "last_month",
    "numerator",
    "denominator",
    "events",
]
BAND_COLUMNS = ["sex", "age_band"]
AGE_BANDS = 19
"""Five-year age bands 0-4 to 85-89, and 90+ (band 18), as in ESP2013."""
ENGINE_NAMES = ("duckdb", "spark", "reference")


class CountingEngine(Protocol):
    """What ``caremodels.indicators.compute`` needs from an engine."""

    name: str

    def data_months(self, selection: EventSelection) -> tuple[int, int] | None:
        """First and last month index of ``selection.date`` over the whole table, or None if empty."""
        ...

    def counts(
        self, definition: IndicatorDefinition, area_sets: Sequence[AreaSet], periods: Sequence[Period]
    ) -> pd.DataFrame:
        """Raw sums by level, area and period, as described in the module docstring."""
        ...

    def counts_many(
        self,
        definitions: Sequence[IndicatorDefinition],
        area_sets: Sequence[AreaSet],
        periods: Mapping[str, Sequence[Period]],
    ) -> dict[str, pd.DataFrame]:
        """``counts`` of several definitions by id, each for its own periods (``periods`` by
        definition id). An engine may share work between them."""
        ...

    def close(self) -> None: ...
