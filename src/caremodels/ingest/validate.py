"""Row validation for source tables: types, dates, codes and logic.

``validate`` never raises for bad rows: it returns the good rows, typed, and one problem record
(row, field, reason) for every failed check. Problem records carry no values from the row, so they
can be logged and shown without disclosing anything about a patient.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from caremodels.reference import admission_methods
from caremodels.warehouse.schema import TableSpec

__all__ = ["ValidationOutcome", "nhs_number_valid", "validate"]

_NHS_WEIGHTS = np.arange(10, 1, -1)
_REPLACEMENT_CHARACTER = "\ufffd"


@dataclass
class ValidationOutcome:
    good: pd.DataFrame  # typed rows that passed, with their source row numbers in ``_row``
    problems: pd.DataFrame  # columns: row_number, field, reason


def nhs_number_valid(values: pd.Series) -> pd.Series:
    """True where a value is ten digits whose last is the modulus-11 check digit of the first nine."""
    text = values.astype("string").fillna("")
    shaped = text.str.fullmatch(r"[0-9]{10}").fillna(False).to_numpy(dtype=bool)
    result = np.zeros(len(text), dtype=bool)
    if shaped.any():
        digits = np.frombuffer("".join(text[shaped]).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - 48
        total = digits[:, :9].astype(np.int64) @ _NHS_WEIGHTS
        check = 11 - total % 11
        check = np.where(check == 11, 0, check)
        result[shaped] = (check != 10) & (check == digits[:, 9])
    return pd.Series(result, index=values.index)


def validate(frame: pd.DataFrame, spec: TableSpec, *, today: dt.date | None = None) -> ValidationOutcome:
    """Check every row of ``frame`` (columns as read, strings or typed) against ``spec``.

    ``frame`` must carry the source row number in ``_row`` (1 = the first data row).
    """
    today = today or dt.date.today()
    problems: list[pd.DataFrame] = []
    bad = pd.Series(False, index=frame.index)
    typed = pd.DataFrame({"_row": frame["_row"]}, index=frame.index)

    def flag(mask: pd.Series, field: str, reason: str) -> None:
        nonlocal bad
        mask = mask.fillna(False).astype(bool) & ~bad
        if mask.any():
            problems.append(
                pd.DataFrame({"row_number": frame.loc[mask, "_row"], "field": field, "reason": reason})
            )
            bad = bad | mask

    missing_columns = [column.name for column in spec.columns if column.name not in frame.columns]
    for name in missing_columns:
        frame[name] = pd.NA

    for column in spec.columns:
        raw = frame[column.name]
        is_text = raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype)
        as_text = raw.astype("string").str.strip() if is_text else None
        empty = raw.isna() if as_text is None else (as_text.isna() | (as_text == ""))
        if as_text is not None:
            flag(
                as_text.str.contains(_REPLACEMENT_CHARACTER, regex=False), column.name, "not valid UTF-8 text"
            )
        if not column.nullable:
            flag(empty, column.name, "missing value")
        if column.type in ("date", "timestamp"):
            if as_text is None:
                values = pd.to_datetime(raw, errors="coerce")
            else:
                # ISO 8601: dates as YYYY-MM-DD, times as YYYY-MM-DD HH:MM[:SS] or with a T.
                values = pd.to_datetime(
                    as_text, format="ISO8601" if column.type == "timestamp" else "%Y-%m-%d", errors="coerce"
                )
                expected = (
                    "a date and time (ISO 8601)" if column.type == "timestamp" else "a date (YYYY-MM-DD)"
                )
                flag(values.isna() & ~empty, column.name, f"not {expected}")
            flag(values.dt.date > today, column.name, "date in the future")
            typed[column.name] = values.dt.date if column.type == "date" else values.astype("datetime64[s]")
        elif column.type in ("integer", "float"):
            values = pd.to_numeric(raw if as_text is None else as_text.mask(empty), errors="coerce")
            flag(values.isna() & ~empty, column.name, f"not a number ({column.type})")
            if column.type == "integer":
                flag((values % 1 != 0) & values.notna(), column.name, "not a whole number")
            if column.minimum is not None:
                flag(
                    values.astype("float64") < column.minimum,
                    column.name,
                    f"below the minimum {column.minimum:g}",
                )
            if column.maximum is not None:
                flag(
                    values.astype("float64") > column.maximum,
                    column.name,
                    f"above the maximum {column.maximum:g}",
                )
            typed[column.name] = values
        else:
            text = as_text if as_text is not None else raw.astype("string")
            if column.name == "nhs_number":
                flag(
                    ~nhs_number_valid(text) & ~empty,
                    column.name,
                    "invalid NHS number (format or check digit)",
                )
            elif column.code_list == "admission_methods":
                flag(~text.isin(list(admission_methods())) & ~empty, column.name, "unknown admission method")
            elif column.codes:
                flag(
                    ~text.isin(list(column.codes)) & ~empty,
                    column.name,
                    f"not one of the codes for {column.name}",
                )
            elif column.pattern:
                matches = text.str.fullmatch(column.pattern).fillna(False).astype(bool)
                flag(~matches & ~empty, column.name, column.pattern_reason)
            typed[column.name] = text.where(~empty, None)

    for earlier, later in spec.ordered_dates:
        both = typed[earlier].notna() & typed[later].notna()
        out_of_order = pd.Series(False, index=frame.index)
        out_of_order[both] = typed.loc[both, later] < typed.loc[both, earlier]
        flag(out_of_order, later, f"{later} before {earlier}")

    duplicated = typed.loc[~bad].duplicated(subset=list(spec.key), keep="first")
    flag(duplicated.reindex(frame.index, fill_value=False), ",".join(spec.key), "duplicate of an earlier row")

    problem_frame = (
        pd.concat(problems, ignore_index=True)
        if problems
        else pd.DataFrame({"row_number": pd.Series(dtype="int64"), "field": [], "reason": []})
    )
    return ValidationOutcome(good=typed.loc[~bad], problems=problem_frame)
