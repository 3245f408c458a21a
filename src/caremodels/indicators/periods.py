"""Reporting periods for indicators: month, quarter, financial year and rolling 12 months.

Months are numbered ``year * 12 + month - 1`` (a *month index*), so periods are ranges of whole
months. Quarters are the financial quarters (April-June, July-September, October-December,
January-March), which are also calendar quarters. A rolling 12-month period is named by its last
month. Only *complete* periods are reported: every month of the period lies within the months the
data covers, so a part-year is never shown as a year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "PERIOD_KINDS",
    "Period",
    "PeriodKind",
    "complete_periods",
    "month_index",
    "month_start",
    "period_kind",
]

PeriodKind = Literal["month", "quarter", "financial_year", "rolling_12_months"]
PERIOD_KINDS: tuple[PeriodKind, ...] = get_args(PeriodKind)
_LENGTH = {"month": 1, "quarter": 3, "financial_year": 12, "rolling_12_months": 12}


def month_index(day: dt.date) -> int:
    """The month a date falls in, as ``year * 12 + month - 1``."""
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    """First day of the month with this index."""
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_end(index: int) -> dt.date:
    return month_start(index + 1) - dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Period:
    """Months ``first_month`` to ``last_month`` (month indices, inclusive) of one kind."""

    kind: PeriodKind
    first_month: int
    last_month: int

    @property
    def start(self) -> dt.date:
        return month_start(self.first_month)

    @property
    def end(self) -> dt.date:
        return _month_end(self.last_month)

    @property
    def months(self) -> int:
        return self.last_month - self.first_month + 1


def period_kind(text: str) -> PeriodKind:
    """Validate a period name; raises ``ValueError`` naming the choices."""
    for kind in PERIOD_KINDS:
        if text == kind:
            return kind
    raise ValueError(f"no period {text!r} (choose from {', '.join(PERIOD_KINDS)})")


def _starts_period(kind: PeriodKind, index: int) -> bool:
    calendar_month = index % 12 + 1
    if kind == "quarter":
        return calendar_month in (1, 4, 7, 10)
    if kind == "financial_year":
        return calendar_month == 4
    return True


def complete_periods(kind: PeriodKind, first_month: int, last_month: int) -> list[Period]:
    """Every period of ``kind`` lying wholly within months ``first_month`` to ``last_month``."""
    length = _LENGTH[kind]
    return [
        Period(kind, start, start + length - 1)
        for start in range(first_month, last_month - length + 2)
        if _starts_period(kind, start)
    ]
