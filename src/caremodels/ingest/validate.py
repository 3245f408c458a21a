"""Row validation for source tables, in SQL: types, dates, codes, logic and duplicates.

The checks are generated from the canonical schema (``caremodels.warehouse.schema``) and run in an
in-memory DuckDB database, so a file of tens of millions of rows is checked without a Python loop.
Every row gets at most one problem: the first failed check, in schema column order (encoding, missing
value, type, future date, range, code or pattern), then date order, then duplicate keys. Problem
records carry no values from the row, so they can be logged and shown without disclosing anything
about a patient.

``validate`` checks a pandas DataFrame (used by tests and small callers); ``caremodels.ingest.load``
uses the same SQL on files staged by ``caremodels.ingest.read``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from caremodels.reference import admission_methods
from caremodels.warehouse.schema import Column, TableSpec

__all__ = [
    "REPLACEMENT_CHARACTER",
    "CheckedTable",
    "ValidationOutcome",
    "check_staged",
    "is_nhs_number",
    "native_type",
    "nhs_number_sql",
    "nhs_number_valid",
    "problem_frame",
    "quote",
    "staging_connection",
    "text_expression",
    "validate",
]

_NHS_WEIGHTS = np.arange(10, 1, -1)
REPLACEMENT_CHARACTER = "\ufffd"
# Four-digit years from 1000 to 2999 keep out the year-zero and far-future dates a database accepts.
DATE_PATTERN = r"[12][0-9]{3}-[0-9]{2}-[0-9]{2}"
TIMESTAMP_PATTERN = DATE_PATTERN + r"([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
NUMBER_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
# The NHS number as an integer, computed once per row for the check digit.
_NHS_DIGITS = "_nhs_digits"
# Whole numbers beyond this do not fit a 64-bit integer column.
_LARGEST_WHOLE = 9.0e18


@dataclass
class ValidationOutcome:
    good: pd.DataFrame  # typed rows that passed, with their source row numbers in ``_row``
    problems: pd.DataFrame  # columns: row_number, field, reason


@dataclass(frozen=True)
class CheckedTable:
    """The result of ``check_staged``: a table ``name`` in the staging database with ``_row``,
    ``_problem`` (index into ``problems`` or NULL) and every canonical column, typed."""

    name: str
    problems: tuple[tuple[str, str], ...]  # (field, reason) by index


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def staging_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory database for validation that never writes to disk: identifiable rows (NHS
    numbers) live here only, in memory, until they are pseudonymised."""
    connection = duckdb.connect(":memory:")
    connection.execute("SET temp_directory = ''")
    # DuckDB's default limit (80% of memory) leaves too little for the loading process itself, and the
    # kernel would kill it instead of DuckDB failing with a message: keep staging to half.
    connection.execute(f"SET memory_limit = '{staging_memory_limit_bytes() // 2**20}MiB'")
    return connection


def staging_memory_limit_bytes() -> int:
    """Half the machine's physical memory: what the staging database may hold."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


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


def is_nhs_number(text: str) -> bool:
    """The same rule as ``nhs_number_valid`` for one value."""
    if len(text) != 10 or not text.isascii() or not text.isdigit():
        return False
    check = (
        11 - sum(int(digit) * weight for digit, weight in zip(text[:9], range(10, 1, -1), strict=True)) % 11
    ) % 11
    return check == int(text[9])


def nhs_number_sql(text: str, number: str | None = None) -> str:
    """SQL true where ``text`` is a valid NHS number; ``number`` is the same value as BIGINT if the
    query already has it (computing it once is faster on large files).

    The digits come from integer division, and (11 - weighted sum mod 11) mod 11 turns 11 into 0 and
    leaves 10, which no digit equals, so a remainder of 1 is invalid as the rule requires.
    """
    number = number or f"TRY_CAST({text} AS BIGINT)"
    weighted = " + ".join(
        f"{11 - position} * (({number} // {10 ** (10 - position)}) % 10)" for position in range(1, 10)
    )
    return f"(regexp_full_match({text}, '[0-9]{{10}}') AND (11 - ({weighted}) % 11) % 11 = {number} % 10)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(_literal(value) for value in values) + ")"


_DUCKDB_TYPES = {"date": "DATE", "timestamp": "TIMESTAMP", "integer": "BIGINT", "float": "DOUBLE"}


def _converted(column: Column) -> str:
    """Name of the helper column holding a column's value converted once (a date, a time, a number)."""
    return quote(f"_converted_{column.name}")


def _conversion(column: Column, typed: bool) -> str | None:
    """SQL converting a staged column to its canonical type (NULL where it cannot be), or None for
    text columns. Computed once per row and used by the checks and the output alike."""
    name = quote(column.name)
    if column.type == "string":
        return None
    if column.type in ("integer", "float"):
        # Numbers are kept as DOUBLE here so that 2.5 in an integer column is seen, not rounded.
        if typed:
            return f"TRY_CAST({name} AS DOUBLE)"
        return f"CASE WHEN regexp_full_match({name}, '{NUMBER_PATTERN}') THEN TRY_CAST({name} AS DOUBLE) END"
    if typed:
        return f"TRY_CAST({name} AS {_DUCKDB_TYPES[column.type]})"
    if column.type == "date":
        return f"CASE WHEN regexp_full_match({name}, '{DATE_PATTERN}') THEN TRY_CAST({name} AS DATE) END"
    return (
        f"CASE WHEN regexp_full_match({name}, '{TIMESTAMP_PATTERN}') "
        f"THEN date_trunc('second', TRY_CAST({name} AS TIMESTAMP)) END"
    )


def _output(column: Column) -> str:
    """SQL for the canonical value of a column, from its conversion."""
    if column.type == "string":
        return quote(column.name)
    converted = _converted(column)
    if column.type == "integer":
        return f"CASE WHEN abs({converted}) < {_LARGEST_WHOLE} THEN CAST({converted} AS BIGINT) END"
    return converted


def _column_checks(
    column: Column, typed: bool, today: dt.date, expected: str | None
) -> list[tuple[str, str]]:
    """(SQL condition true when the row fails, reason) for one column, in the order they apply."""
    name = quote(column.name)
    value = _converted(column)
    today_sql = f"DATE '{today.isoformat()}'"
    checks: list[tuple[str, str]] = []
    if not typed:
        checks.append((f"contains({name}, '{REPLACEMENT_CHARACTER}')", "not valid UTF-8 text"))
    if not column.nullable:
        checks.append((f"{name} IS NULL", "missing value"))
    present = f"{name} IS NOT NULL"
    if column.type in ("date", "timestamp"):
        if not typed:
            default = "a date and time (ISO 8601)" if column.type == "timestamp" else "a date (YYYY-MM-DD)"
            checks.append((f"{present} AND {value} IS NULL", f"not {expected or default}"))
        checks.append((f"CAST({value} AS DATE) > {today_sql}", "date in the future"))
    elif column.type in ("integer", "float"):
        checks.append(
            (f"{present} AND ({value} IS NULL OR NOT isfinite({value}))", f"not a number ({column.type})")
        )
        if column.type == "integer":
            checks.append((f"{present} AND {value} != trunc({value})", "not a whole number"))
            checks.append((f"{present} AND abs({value}) >= {_LARGEST_WHOLE}", "not a number (integer)"))
        if column.minimum is not None:
            checks.append((f"{value} < {column.minimum!r}", f"below the minimum {column.minimum:g}"))
        if column.maximum is not None:
            checks.append((f"{value} > {column.maximum!r}", f"above the maximum {column.maximum:g}"))
    elif column.name == "nhs_number":
        checks.append(
            (
                f"{present} AND NOT {nhs_number_sql(name, _NHS_DIGITS)}",
                "invalid NHS number (format or check digit)",
            )
        )
    elif column.code_list == "admission_methods":
        checks.append(
            (f"{present} AND {name} NOT IN {_in_list(list(admission_methods()))}", "unknown admission method")
        )
    elif column.codes:
        checks.append(
            (
                f"{present} AND {name} NOT IN {_in_list(column.codes)}",
                f"not one of the codes for {column.name}",
            )
        )
    elif column.pattern:
        checks.append(
            (
                f"{present} AND NOT regexp_full_match({name}, {_literal(column.pattern)})",
                column.pattern_reason,
            )
        )
    return checks


def check_staged(
    connection: duckdb.DuckDBPyConnection,
    staged: str,
    spec: TableSpec,
    *,
    typed_columns: Mapping[str, bool],
    today: dt.date,
    expected_formats: Mapping[str, str] | None = None,
    person_column: str = "nhs_number",
    result: str = "checked",
) -> CheckedTable:
    """Check the rows of table ``staged`` (``_row`` plus one column per canonical column, text or
    already typed as ``typed_columns`` says) and create table ``result``: ``_row``, ``_problem`` (the
    index of the row's first problem in ``CheckedTable.problems``, or NULL) and the canonical columns,
    typed, in the staged rows' order.

    ``person_column`` is ``nhs_number`` for source files, or ``person_id`` for rows whose people were
    already pseudonymised (FHIR): then the NHS number checks do not apply.
    """
    expected_formats = expected_formats or {}
    own_people = person_column == "nhs_number"
    problems: list[tuple[str, str]] = []
    branches: list[str] = []
    conversions = (
        [f"TRY_CAST(nhs_number AS BIGINT) AS {_NHS_DIGITS}"] if spec.has_person and own_people else []
    )
    for column in spec.columns:
        typed = typed_columns.get(column.name, False)
        conversion = _conversion(column, typed)
        if conversion is not None:
            conversions.append(f"{conversion} AS {_converted(column)}")
        if column.name == "nhs_number" and not own_people:
            checks = [(f"{quote(person_column)} IS NULL", "missing value")]
            field = person_column
        else:
            checks = _column_checks(column, typed, today, expected_formats.get(column.name))
            field = column.name
        for condition, reason in checks:
            branches.append(f"WHEN {condition} THEN {len(problems)}")
            problems.append((field, reason))
    columns = {column.name: column for column in spec.columns}
    for earlier, later in spec.ordered_dates:
        branches.append(
            f"WHEN {_converted(columns[later])} < {_converted(columns[earlier])} THEN {len(problems)}"
        )
        problems.append((later, f"{later} before {earlier}"))
    duplicate = len(problems)
    problems.append((",".join(spec.key), "duplicate of an earlier row"))

    outputs = [
        f"{_output(column)} AS {quote(column.name)}"
        for column in spec.columns
        if own_people or column.name != "nhs_number"
    ]
    if not own_people:
        outputs.append(quote(person_column))
    first_problem = "CASE " + " ".join(branches) + " END" if branches else "NULL"
    source = f"(SELECT *{', ' if conversions else ''}{', '.join(conversions)} FROM {quote(staged)})"
    connection.execute(
        f"CREATE OR REPLACE TABLE {quote(result)} AS "
        f"SELECT _row, {first_problem} AS _problem, {', '.join(outputs)} FROM {source}"
    )
    # Later rows repeating the key of an earlier good row. Grouping finds them without sorting the
    # whole file; there are usually none, and then nothing is updated.
    key_names = [person_column if name == "nhs_number" and not own_people else name for name in spec.key]
    key = ", ".join(quote(name) for name in key_names)
    matches = " AND ".join(f"c.{quote(name)} IS NOT DISTINCT FROM d.{quote(name)}" for name in key_names)
    connection.execute(
        f"""
        UPDATE {quote(result)} AS c SET _problem = {duplicate}
        FROM (
            SELECT {key}, min(_row) AS first_row FROM {quote(result)}
            WHERE _problem IS NULL GROUP BY ALL HAVING count(*) > 1
        ) AS d
        WHERE c._problem IS NULL AND {matches} AND c._row <> d.first_row
        """
    )
    return CheckedTable(name=result, problems=tuple(problems))


def problem_frame(connection: duckdb.DuckDBPyConnection, checked: CheckedTable) -> pd.DataFrame:
    """One record (row_number, field, reason) per bad row, in row order."""
    codes = pd.DataFrame(
        {
            "_problem": range(len(checked.problems)),
            "field": [field for field, _ in checked.problems],
            "reason": [reason for _, reason in checked.problems],
        }
    )
    connection.register("_problem_codes", codes)
    try:
        frame = connection.execute(
            f"""
            SELECT c._row AS row_number, p.field, p.reason
            FROM {quote(checked.name)} c JOIN _problem_codes p USING (_problem)
            ORDER BY c._row
            """
        ).df()
    finally:
        connection.unregister("_problem_codes")
    return frame.astype({"row_number": "int64", "field": "object", "reason": "object"})


def text_expression(source: str, column: Column) -> str:
    """Staged text for a column: trimmed, empty as NULL; NHS numbers without spaces (943 476 5919)."""
    text = f"trim(CAST({source} AS VARCHAR))"
    if column.name == "nhs_number":
        text = f"replace({text}, ' ', '')"
    return f"nullif({text}, '')"


def validate(frame: pd.DataFrame, spec: TableSpec, *, today: dt.date | None = None) -> ValidationOutcome:
    """Check every row of ``frame`` (columns as read: text or already typed) against ``spec``.

    ``frame`` must carry the source row number in ``_row`` (1 = the first data row).
    """
    today = today or dt.date.today()
    connection = staging_connection()
    try:
        connection.register("_frame", frame)
        present = set(frame.columns)
        types = dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '_frame'"
            ).fetchall()
        )
        selects = ["CAST(_row AS BIGINT) AS _row"]
        typed_columns: dict[str, bool] = {}
        for column in spec.columns:
            if column.name not in present:
                selects.append(f"CAST(NULL AS VARCHAR) AS {quote(column.name)}")
                continue
            native = native_type(column, str(types[column.name]))
            typed_columns[column.name] = native is not None
            source = quote(column.name)
            selects.append(
                f"CAST({source} AS {native}) AS {source}"
                if native
                else f"{text_expression(source, column)} AS {source}"
            )
        connection.execute(f"CREATE TABLE staged AS SELECT {', '.join(selects)} FROM _frame")
        checked = check_staged(connection, "staged", spec, typed_columns=typed_columns, today=today)
        problems = problem_frame(connection, checked)
        good = (
            connection.execute(
                f"SELECT * EXCLUDE (_problem) FROM {quote(checked.name)} WHERE _problem IS NULL ORDER BY _row"
            )
            .arrow()
            .read_all()
            .to_pandas()
        )
    finally:
        connection.close()
    return ValidationOutcome(good=good, problems=problems)


_NATIVE_TYPES = {
    "date": ({"DATE"}, {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}),
    "timestamp": ({"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE"}, set()),
    "integer": (
        {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"},
        {"DOUBLE", "FLOAT"},
    ),
    "float": ({"DOUBLE", "FLOAT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT"}, set()),
}


def native_type(column: Column, source_type: str) -> str | None:
    """The DuckDB type to cast a non-text source column to when its values can be checked without
    parsing text (a Parquet DATE for a date column), else None: the column is checked as text."""
    if column.type == "string" or column.type not in _NATIVE_TYPES:
        return None
    exact, convertible = _NATIVE_TYPES[column.type]
    base = source_type.split("(")[0].upper()
    if base.startswith("DECIMAL"):
        base = "DOUBLE"
    if base in exact or base in convertible:
        # An integer column stored as floating point stays DOUBLE so that 2.5 is caught, not rounded.
        if column.type == "integer" and base in convertible:
            return "DOUBLE"
        return _DUCKDB_TYPES[column.type]
    return None
