"""Compute an indicator's numerator and denominator by practice and month on the DuckDB warehouse.

The registered population of a practice in a month is the number of people registered with it on
the 15th of that month (mid-month list size), the usual stand-in for person-time.
"""

from __future__ import annotations

import pandas as pd

from caremodels.indicators.definition import IndicatorDefinition
from caremodels.reference import admission_methods
from caremodels.warehouse.store import Warehouse

__all__ = ["practice_month_counts"]


def _numerator_filters(definition: IndicatorDefinition) -> tuple[str, list[str]]:
    clauses, parameters = [], []
    for rule in definition.numerator.filters:
        values = list(rule.values)
        if rule.admission_method_group:
            values += [
                code
                for code, method in admission_methods().items()
                if method.group == rule.admission_method_group
            ]
        placeholders = ", ".join("?" for _ in values)
        clauses.append(f"{rule.field} IN ({placeholders})")
        parameters += values
    return (" AND ".join(clauses) or "TRUE"), parameters


def practice_month_counts(warehouse: Warehouse, definition: IndicatorDefinition) -> pd.DataFrame:
    """Columns: practice_code, month (first day), numerator, denominator, for every practice-month
    with a registered population, including months with no events."""
    where, parameters = _numerator_filters(definition)
    date_field = definition.numerator.date_field
    sql = f"""
        WITH bounds AS (
            SELECT date_trunc('month', min({date_field})) AS first_month,
                   date_trunc('month', max({date_field})) AS last_month
            FROM {definition.numerator.table}
        ),
        months AS (
            SELECT CAST(month AS DATE) AS month, CAST(month + INTERVAL 14 DAY AS DATE) AS mid_month
            FROM bounds, range(first_month, last_month + INTERVAL 1 MONTH, INTERVAL 1 MONTH) AS t(month)
        ),
        population AS (
            SELECT r.practice_code, m.month, count(*) AS denominator
            FROM gp_registrations r
            JOIN months m
              ON r.registration_start <= m.mid_month
             AND (r.registration_end IS NULL OR r.registration_end >= m.mid_month)
            GROUP BY ALL
        ),
        events AS (
            SELECT gp_practice_code AS practice_code,
                   CAST(date_trunc('month', {date_field}) AS DATE) AS month,
                   count(*) AS numerator
            FROM {definition.numerator.table}
            WHERE {where}
            GROUP BY ALL
        )
        SELECT p.practice_code, p.month, coalesce(e.numerator, 0) AS numerator, p.denominator
        FROM population p
        LEFT JOIN events e USING (practice_code, month)
        ORDER BY p.practice_code, p.month
    """
    frame = warehouse.connection.execute(sql, parameters).df()
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    return frame
