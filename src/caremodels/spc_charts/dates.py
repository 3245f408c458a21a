"""Reading a CSV column of dates without guessing the order of day and month.

pandas reads ``01/04/2016`` as 4 January (month first), which silently scrambles a UK file.
Here a date written with three numbers separated by ``/``, ``-`` or ``.`` is read as:

* ISO (``2016-04-01``) when the first number has four digits;
* day first when some first number is above 12 (``13/04/2016``), or when every date has the
  same first number while the second varies (monthly data written ``01/04/2016``, ``01/05/2016``);
* month first when some second number is above 12, or when the second number is the constant one;
* otherwise it is ambiguous and refused, with the column and rows named: give ``--date-format``.

Boundaries: pure functions over a pandas Series; raise :class:`caremodels.errors.DataError`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from caremodels.errors import DataError

__all__ = ["parse_dates"]

_THREE_NUMBERS = re.compile(r"^\s*(\d{1,4})[/.-](\d{1,2})[/.-](\d{2,4})(?:[ T].*)?$")


def parse_dates(
    values: pd.Series, *, column: str, date_format: str | None = None, file: str | Path | None = None
) -> pd.Series:
    """The column as datetimes; rows are reported 1-based after the header, as in a spreadsheet."""
    text = values.astype("string")
    if date_format is not None:
        return _convert(text, column, file, format=date_format)
    matches = text.str.extract(_THREE_NUMBERS)
    numeric = matches.notna().all(axis=1)
    if not bool(numeric.any()) or bool(numeric.any() and (matches[0].str.len() == 4).all()):
        # ISO dates, month names, or a mixture pandas reads unambiguously.
        return _convert(text, column, file, format="ISO8601" if bool(numeric.all()) else None)
    first = matches.loc[numeric, 0].astype(int)
    second = matches.loc[numeric, 1].astype(int)
    day_first = bool((first > 12).any())
    month_first = bool((second > 12).any())
    if day_first and month_first:
        rows = _rows(first[first > 12].index) + " and " + _rows(second[second > 12].index)
        raise DataError(
            f"dates in column {column!r} mix day-first and month-first orders (rows {rows}); "
            "give --date-format",
            file=file,
            field=column,
        )
    if not day_first and not month_first:
        if first.nunique() == 1 and second.nunique() > 1:
            day_first = True
        elif second.nunique() == 1 and first.nunique() > 1:
            month_first = True
        else:
            raise DataError(
                f"dates in column {column!r} could be day-first or month-first (e.g. rows "
                f"{_rows(first.index)}: no day above 12); give --date-format, e.g. %d/%m/%Y",
                file=file,
                field=column,
            )
    separator = (
        "/" if "/" in str(text[numeric].iloc[0]) else ("." if "." in str(text[numeric].iloc[0]) else "-")
    )
    year = "%Y" if (matches.loc[numeric, 2].str.len() == 4).all() else "%y"
    order = ["%d", "%m"] if day_first else ["%m", "%d"]
    return _convert(text, column, file, format=separator.join([*order, year]), times=True)


def _convert(
    text: pd.Series, column: str, file: str | Path | None, *, format: str | None, times: bool = False
) -> pd.Series:
    try:
        if times and format is not None and text.str.contains(r"[ T]\d", regex=True).any():
            # The date part fixes the order; let pandas read any time of day after it.
            return pd.to_datetime(text, dayfirst=format.startswith("%d"), format="mixed")
        return pd.to_datetime(text, format=format)
    except (ValueError, TypeError) as error:
        bad = [i for i, v in text.items() if not _readable(v, format)]
        where = f" (rows {_rows(pd.Index(bad))})" if bad else ""
        raise DataError(
            f"column {column!r} could not be read as dates{where}"
            + (f" with format {format!r}" if format not in (None, "ISO8601") else ""),
            file=file,
            field=column,
        ) from error


def _readable(value: object, format: str | None) -> bool:
    try:
        pd.to_datetime(value, format=format)  # type: ignore[call-overload]
    except (ValueError, TypeError):
        return False
    return True


def _rows(index: pd.Index, limit: int = 3) -> str:
    # +2: the header is line 1 and the index counts from 0.
    lines = [str(int(i) + 2) for i in list(index)[:limit]]
    return ", ".join(lines) + (", ..." if len(index) > limit else "")
