"""Counts among care home residents, for the enhanced health in care homes (EHCH) page.

The denominator is the number of people resident in a care home on the 15th of each month, placed
at the GP practice aligned with the home (``care_home_residence.practice_code``). The numerator of
an indicator counts its events (same table, date and filters as its catalogue definition) for
people on the day they were resident, placed at the same aligned practice. Rates are therefore
per resident-year, comparable between areas and years but not with rates per registered patient.

Boundaries: this reads the warehouse through the caller's read-only connection and only for
indicator definitions it fully understands (a person-level table, a date, and value filters);
others are listed as not computed for residents. The indicator engine does not yet take a cohort,
which is why the cohort restriction lives here; it should move there when it does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from caremodels.reference import admission_methods
from caremodels.warehouse.schema import SOURCE_TABLES

if TYPE_CHECKING:
    from caremodels.dashboard.snapshot import IndicatorCounts
    from caremodels.warehouse.store import Warehouse

__all__ = ["CareHomeCounts", "read_care_home_counts"]

_UNDERSTOOD_NUMERATOR_FIELDS = {"table", "date_field", "filters"}
_UNDERSTOOD_FILTER_FIELDS = {"field", "values", "admission_method_group"}


@dataclass(frozen=True)
class CareHomeCounts:
    residents: pd.DataFrame
    """Columns practice_code, month, residents (true counts); empty when no residences are loaded."""
    events: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per indicator id: practice_code, month, numerator among residents."""
    unavailable: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.reason is None


def _filter_sql(definition: Any, columns: set[str]) -> tuple[str, list[str]] | None:
    """The WHERE clause of a definition's numerator on alias ``e``, or None if not understood."""
    clauses, parameters = [], []
    for rule in definition.numerator.filters:
        if rule.model_fields_set - _UNDERSTOOD_FILTER_FIELDS or rule.field not in columns:
            return None
        values = list(rule.values)
        if rule.admission_method_group:
            values += [
                code
                for code, method in admission_methods().items()
                if method.group == rule.admission_method_group
            ]
        if not values:
            return None
        clauses.append(f"e.{rule.field} IN ({', '.join('?' for _ in values)})")
        parameters += values
    return (" AND ".join(clauses) or "TRUE"), parameters


def _residents(warehouse: Warehouse, months: Sequence[dt.date]) -> pd.DataFrame:
    frame = warehouse.connection.execute(
        """
        WITH months AS (
            SELECT m AS month, m + INTERVAL 14 DAY AS mid_month FROM (SELECT unnest(?::DATE[]) AS m)
        )
        SELECT r.practice_code, CAST(months.month AS DATE) AS month,
               count(DISTINCT r.person_id) AS residents
        FROM care_home_residence r
        JOIN months ON r.residence_start <= months.mid_month
                   AND (r.residence_end IS NULL OR r.residence_end >= months.mid_month)
        GROUP BY ALL ORDER BY ALL
        """,
        [list(months)],
    ).df()
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    return frame


def _events(warehouse: Warehouse, definition: Any, where: str, parameters: list[str]) -> pd.DataFrame:
    table, date_field = definition.numerator.table, definition.numerator.date_field
    frame = warehouse.connection.execute(
        f"""
        SELECT r.practice_code, CAST(date_trunc('month', e.{date_field}) AS DATE) AS month,
               count(*) AS numerator
        FROM {table} e
        JOIN care_home_residence r
          ON e.person_id = r.person_id
         AND CAST(e.{date_field} AS DATE) >= r.residence_start
         AND (r.residence_end IS NULL OR CAST(e.{date_field} AS DATE) <= r.residence_end)
        WHERE {where}
        GROUP BY ALL ORDER BY ALL
        """,
        parameters,
    ).df()
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    return frame


def read_care_home_counts(
    warehouse: Warehouse,
    tables: set[str],
    indicators: Sequence[IndicatorCounts],
    months: Sequence[dt.date],
) -> CareHomeCounts:
    empty = pd.DataFrame(columns=["practice_code", "month", "residents"])
    if "care_home_residence" not in tables or not warehouse.query("SELECT count(*) FROM care_home_residence")[0][0]:
        return CareHomeCounts(empty, reason="no care home residences are loaded into this warehouse")
    if not months:
        return CareHomeCounts(empty, reason="no indicator has data, so there are no months to count residents in")
    residents = _residents(warehouse, months)
    events: dict[str, pd.DataFrame] = {}
    unavailable: dict[str, str] = {}
    for item in indicators:
        definition = item.definition
        spec = SOURCE_TABLES.get(definition.numerator.table)
        if spec is None or not spec.has_person:
            unavailable[definition.id] = "its events are not recorded per person"
            continue
        if definition.numerator.model_fields_set - _UNDERSTOOD_NUMERATOR_FIELDS:
            unavailable[definition.id] = "its definition is not a plain count of events"
            continue
        filters = _filter_sql(definition, {column.name for column in spec.columns})
        if filters is None:
            unavailable[definition.id] = "its filters cannot be applied to residents"
            continue
        counts = _events(warehouse, definition, *filters)
        month_set = set(months)
        events[definition.id] = counts[counts["month"].isin(month_set)].reset_index(drop=True)
    return CareHomeCounts(residents, events, unavailable)
