"""NHS calendar conventions: financial years run from 1 April to 31 March; months are ISO ``YYYY-MM``.

A financial year is named by the calendar year it starts in (2014 means 2014/15) and printed as
``2014/15``.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = [
    "financial_year",
    "financial_year_bounds",
    "financial_year_label",
    "month_end",
    "month_start",
    "months_between",
    "parse_financial_year",
    "parse_month",
]

_FY_LABEL = re.compile(r"^(\d{4})/(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def financial_year(day: dt.date) -> int:
    """The financial year a date falls in, by its starting calendar year."""
    return day.year if day.month >= 4 else day.year - 1


def financial_year_label(start_year: int) -> str:
    return f"{start_year}/{(start_year + 1) % 100:02d}"


def financial_year_bounds(start_year: int) -> tuple[dt.date, dt.date]:
    """First and last day of a financial year."""
    return dt.date(start_year, 4, 1), dt.date(start_year + 1, 3, 31)


def parse_financial_year(text: str) -> int:
    """Accepts ``2014/15``, ``2014-15`` or ``2014``; raises ``ValueError`` otherwise."""
    cleaned = text.strip().replace("-", "/")
    if cleaned.isdigit() and len(cleaned) == 4:
        return int(cleaned)
    match = _FY_LABEL.match(cleaned)
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise ValueError(f"{text!r} is not a financial year such as 2014/15")
    return int(match.group(1))


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` to the first day of that month; raises ``ValueError`` otherwise."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month such as 2015-04")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    following = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def months_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of every month from ``first``'s month to ``last``'s month, inclusive."""
    months = []
    current = month_start(first)
    while current <= last:
        months.append(current)
        current = dt.date(current.year + (current.month // 12), current.month % 12 + 1, 1)
    return months
