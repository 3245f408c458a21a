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

``person_day_events`` is the person-level output, for the methods that follow people (matched
controls, care-home claims): one row per pseudonymised person, practice and day with at least one of
the numerator's events (conditions, linked event and cohort applied as for ``counts``), with columns
``PERSON_DAY_COLUMNS``:

- ``person_id``: the pseudonym; ``practice_code``: the practice the event counts at (the event's
  practice, or for the care-home cohort the practice aligned with the home);
- ``day``: the day of the numerator's date (a timestamp at midnight);
- ``numerator``: the numerator's measure summed (1 per event, the spell's bed days, or the field);
- ``events``: how many events.

The denominator plays no part: a person-level method measures its own person-time. Definitions whose
numerator table holds no people (prescribing) have no person-level output.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.definition import EventSelection, IndicatorDefinition
from caremodels.indicators.geography import AreaSet
from caremodels.indicators.periods import Period
from caremodels.indicators.tables import EVENT_TABLES

__all__ = [
    "AGE_BANDS",
    "BAND_COLUMNS",
    "COUNT_COLUMNS",
    "ENGINE_NAMES",
    "PERSON_DAY_COLUMNS",
    "CountingEngine",
    "check_person_level",
    "person_day_frame",
]

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
PERSON_DAY_COLUMNS = ["person_id", "practice_code", "day", "numerator", "events"]


def check_person_level(definition: IndicatorDefinition) -> None:
    """Refuse a definition whose numerator counts no people (it has no person-level output)."""
    table = definition.numerator.table
    if not EVENT_TABLES[table].has_person:
        raise CaremodelsError(
            f"{definition.id} counts {table}, which holds no people: it has no events per person"
        )


def person_day_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An engine's person-level rows in the one shape every engine returns: ``day`` as timestamps
    at midnight (from days since 1970-01-01 or from dates), ``numerator`` as floats, ``events`` as
    integers, sorted by person, day and practice."""
    if frame.empty:
        return pd.DataFrame(
            {
                "person_id": pd.Series(dtype="object"),
                "practice_code": pd.Series(dtype="object"),
                "day": pd.Series(dtype="datetime64[ns]"),
                "numerator": pd.Series(dtype="float64"),
                "events": pd.Series(dtype="int64"),
            }
        )
    day = frame["day"]
    if pd.api.types.is_numeric_dtype(day):
        day = pd.to_datetime(day.astype("int64"), unit="D")
    out = pd.DataFrame(
        {
            "person_id": frame["person_id"].astype(str).to_numpy(dtype=object),
            "practice_code": frame["practice_code"].astype(str).to_numpy(dtype=object),
            "day": pd.to_datetime(day).dt.normalize().astype("datetime64[ns]").to_numpy(),
            "numerator": frame["numerator"].astype("float64").to_numpy(),
            "events": frame["events"].astype("int64").to_numpy(),
        }
    )
    return out.sort_values(["person_id", "day", "practice_code"]).reset_index(drop=True)


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

    def person_day_events(
        self,
        definition: IndicatorDefinition,
        *,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        people: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """The numerator's events per person, practice and day (see the module docstring), on days
        from ``first_day`` to ``last_day`` inclusive (each optional), of ``people`` only if given."""
        ...

    def close(self) -> None: ...
