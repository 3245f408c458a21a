"""Read a source file (CSV or Parquet) into the staging database, applying a column mapping.

The result is a view ``staged``: the source row number in ``_row`` and one column per canonical
column, either text (trimmed, empty as NULL, recoded, dates reformatted to ISO) or, for Parquet
columns that already have the canonical type, typed. Lines that cannot be read at all (more or
fewer fields than the header, bytes that are not valid in the file's encoding, bad quoting) become
problems here, with their line numbers; everything else is left to ``caremodels.ingest.validate``.

Row numbers: in a CSV file the header is row 1 and the first record row 2 (records, so a quoted
field spanning two lines counts once); in a Parquet file the first row is row 1.

No row is lost without a record: before the CSV parser runs, ``count_csv_records`` counts the file's
records itself, line by line (a record ends at a line feed outside quotes; blank lines are not
records), and a file whose two counts disagree is refused, naming the line where the file stops
being countable: a quoted value that never closes (one stray ``"`` in an unquoted file would
otherwise swallow the rest of the file into one bad row), a quoted value running over more than
``MAX_LINES_PER_RECORD`` lines, or carriage returns without line feeds (a CR-only file).

Boundaries: reading happens in the in-memory staging database only; nothing here writes to disk.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from caremodels.errors import CaremodelsError, DataError
from caremodels.ingest.mapping import ColumnSource, TableMapping
from caremodels.ingest.validate import REPLACEMENT_CHARACTER, native_type, quote, text_expression
from caremodels.warehouse.schema import Column, TableSpec

__all__ = ["MAX_LINES_PER_RECORD", "StagedSource", "count_csv_records", "detect_encoding", "stage_file"]

MAX_LINES_PER_RECORD = 20
"""A quoted value may hold line breaks, but a record over more lines than this is refused: in
HES-like extracts it is a stray quote joining many records into one, not a real value."""
_COUNT_BLOCK_BYTES = 1 << 22

_PYTHON_CODECS = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}
_REJECT_REASONS = {
    "MISSING COLUMNS": "more or fewer fields than the header (truncated or malformed)",
    "TOO MANY COLUMNS": "more or fewer fields than the header (truncated or malformed)",
    "INVALID ENCODING": "not valid {encoding} text (is the file in another encoding? set encoding in a column-mapping file)",
    "INVALID UNICODE": "not valid {encoding} text (is the file in another encoding? set encoding in a column-mapping file)",
    "UNQUOTED VALUE": "badly quoted value",
    "LINE SIZE OVER MAXIMUM": "line too long",
}


@dataclass
class StagedSource:
    """A file staged as view ``view`` in the staging database."""

    view: str
    rows_read: int
    typed_columns: dict[str, bool]
    expected_formats: dict[str, str]
    # Problems found while reading: row_number, field, reason.
    read_problems: pd.DataFrame
    # Canonical column name -> how the quarantine names it when the source calls it something else.
    field_labels: dict[str, str] = field(default_factory=dict)
    source_format: str = ""


def detect_encoding(path: Path, declared: str | None) -> str:
    """The encoding of a CSV file: as declared in the mapping, else from its byte order mark.

    A file with NUL bytes and no byte order mark is UTF-16 (or not text) and cannot be read safely
    without knowing which, so it is refused with one clear line.
    """
    with path.open("rb") as handle:
        head = handle.read(65536)
    if head.startswith(codecs.BOM_UTF16_BE):
        raise DataError(
            "the file is UTF-16 big-endian: save it as UTF-8 (or UTF-16 little-endian)", file=path
        )
    if head.startswith(codecs.BOM_UTF16_LE):
        if declared not in (None, "utf-16"):
            raise DataError(f"the file is UTF-16 (it has a byte order mark), not {declared}", file=path)
        return "utf-16"
    if declared is not None:
        if declared == "utf-16":
            raise DataError("UTF-16 files need a byte order mark; save the file as UTF-8", file=path)
        return declared
    if b"\x00" in head:
        raise DataError(
            "the file has NUL bytes: it looks like UTF-16 without a byte order mark, or not a text file;"
            " save it as UTF-8",
            file=path,
        )
    return "utf-8"


@dataclass(frozen=True)
class RecordCount:
    """What ``count_csv_records`` found: records (the header included) and physical lines."""

    records: int
    lines: int
    # First line of the first record that spans several lines (0 if none).
    first_multiline: int = 0


class _RecordCounter:
    """Counts CSV records over chunks of text (bytes for ASCII-compatible encodings, str for UTF-16),
    following RFC 4180 quoting only as far as counting needs: a ``"`` toggles 'inside quotes', and a
    record ends at a line feed outside quotes."""

    def __init__(self, path: Path, newline: Any, quote_mark: Any, cr: Any) -> None:
        self.path = path
        self.newline, self.quote_mark, self.cr = newline, quote_mark, cr
        self.empty = newline[:0]
        self.carry: Any = self.empty
        self.records = self.lines = 0
        self.inside = False
        self.record_start = 0
        self.first_multiline = 0

    def feed(self, chunk: Any, *, final: bool = False) -> None:
        data = self.carry + chunk
        parts = data.split(self.newline)
        self.carry = self.empty if final else parts.pop()
        if final and parts == [self.empty]:
            parts = []
        if len(self.carry) > 4 * _COUNT_BLOCK_BYTES:
            self._check_carriage_returns([self.carry])
            raise DataError(
                f"line {self.lines + 1:,} is longer than {4 * _COUNT_BLOCK_BYTES:,} bytes", file=self.path
            )
        if self.inside or self.quote_mark in data:
            for part in parts:
                self._line(part)
            return
        # Fast path, no quotes: every non-blank line is one record.
        if self.cr in data and data.count(self.cr) != data.count(self.cr + self.newline):
            self._check_carriage_returns(parts)
        self.records += len(parts) - parts.count(self.empty) - parts.count(self.cr)
        self.lines += len(parts)

    def _line(self, part: Any) -> None:
        if not self.inside:
            if self.cr in part[:-1] and self.quote_mark not in part:
                self._check_carriage_returns([part])
            self.lines += 1
            if part in (self.empty, self.cr):
                return  # a blank line: the parser skips it too
            self.records += 1
            self.record_start = self.lines
        else:
            self.lines += 1
            if not self.first_multiline:
                self.first_multiline = self.record_start
        if part.count(self.quote_mark) % 2:
            self.inside = not self.inside
        if self.inside and self.lines - self.record_start + 1 > MAX_LINES_PER_RECORD:
            raise DataError(
                f"line {self.record_start:,}: a quoted value runs over more than {MAX_LINES_PER_RECORD} lines"
                " (a stray double quote in an unquoted value?): refused, so that no row is lost silently",
                file=self.path,
            )

    def _check_carriage_returns(self, parts: list[Any]) -> None:
        """Refuse a carriage return that does not end a line (``parts`` start at the next line)."""
        for offset, part in enumerate(parts):
            if self.cr not in part[:-1]:
                continue
            line = self.lines + 1 + offset
            if line == 1:
                raise DataError(
                    "line 1: the file's lines end with carriage returns only (CR, old Mac format), so its"
                    " records cannot be counted: save it with LF or CRLF line endings",
                    file=self.path,
                )
            raise DataError(
                f"line {line:,} holds a carriage return (CR) without a line feed outside quotes, so the"
                " file's records cannot be counted: save it with LF or CRLF line endings",
                file=self.path,
            )

    def result(self) -> RecordCount:
        self.feed(self.empty, final=True)
        if self.inside:
            raise DataError(
                f"line {self.record_start:,}: a quoted value opened here never closes (a stray double quote"
                " in an unquoted value?), so the rest of the file would be read as one value: refused,"
                " so that no row is lost silently",
                file=self.path,
            )
        return RecordCount(self.records, self.lines, self.first_multiline)


def count_csv_records(path: Path, encoding: str) -> RecordCount:
    """Count a CSV file's records (the header included) without the CSV parser, to check its count.

    Raises DataError naming the line for a quoted value that never closes or runs over more than
    ``MAX_LINES_PER_RECORD`` lines, and for carriage returns without line feeds.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
            newline = (
                "\n".encode(_PYTHON_CODECS.get(encoding, "utf-8"))[-1:] if encoding != "utf-16" else b"\n\0"
            )
            if b"\r" in head and newline not in head:
                raise DataError(
                    "line 1: the file's lines end with carriage returns only (CR, old Mac format), so its"
                    " records cannot be counted: save it with LF or CRLF line endings",
                    file=path,
                )
            handle.seek(0)
            if encoding == "utf-16":
                decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
                counter = _RecordCounter(path, "\n", '"', "\r")
                for block in iter(lambda: handle.read(_COUNT_BLOCK_BYTES), b""):
                    counter.feed(decoder.decode(block))
                counter.feed(decoder.decode(b"", final=True))
            else:
                # UTF-8 and Latin-1: the bytes of \n, \r and " never occur inside another character.
                counter = _RecordCounter(path, b"\n", b'"', b"\r")
                for block in iter(lambda: handle.read(_COUNT_BLOCK_BYTES), b""):
                    counter.feed(block)
    except OSError as error:
        raise DataError(f"cannot read the file ({type(error).__name__})", file=path) from error
    return counter.result()


def _read_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    decoder = codecs.getincrementaldecoder(_PYTHON_CODECS[encoding])(errors="replace")
    first_line = decoder.decode(head, final=len(head) < 1 << 20).split("\n", 1)[0]
    if REPLACEMENT_CHARACTER in first_line:
        raise DataError(f"the header line is not valid {encoding} text", file=path, row=1)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter), None)
    if not header:
        raise DataError("the file is empty (no header line)", file=path)
    names = [name.strip() for name in header]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"the header repeats column(s) {', '.join(duplicates)}", file=path, row=1)
    return names


def _count(connection: duckdb.DuckDBPyConnection, sql: str) -> int:
    result = connection.execute(sql).fetchone()
    return int(result[0]) if result else 0


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_expression(
    column: Column,
    origin: ColumnSource | None,
    available: dict[str, str],
    source_types: dict[str, str],
    mapping: TableMapping,
) -> tuple[str, bool]:
    """(SQL for the staged column, whether it is already typed)."""
    if origin is not None and origin.value is not None:
        raw = _literal(origin.value)
        source_type = "VARCHAR"
    else:
        names = origin.source_columns if origin is not None else (column.name,)
        parts = [quote(available[name]) for name in names]
        raw = parts[0] if len(parts) == 1 else "concat_ws(' ', " + ", ".join(parts) + ")"
        source_type = source_types[names[0]] if len(names) == 1 else "VARCHAR"
    converts = origin is not None and (origin.values or origin.date_formats)
    native = None if converts or mapping.missing_values else native_type(column, source_type)
    if native is not None:
        return f"CAST({raw} AS {native})", True
    text = text_expression(raw, column)
    if mapping.missing_values:
        text = f"CASE WHEN {text} IN ({', '.join(_literal(v) for v in mapping.missing_values)}) THEN NULL ELSE {text} END"
    if origin is not None and origin.values:
        cases = " ".join(f"WHEN {_literal(old)} THEN {_literal(new)}" for old, new in origin.values.items())
        text = f"CASE {text} {cases} ELSE {text} END"
    if origin is not None and origin.date_formats:
        iso = "%Y-%m-%d" if column.type == "date" else "%Y-%m-%d %H:%M:%S"
        parsed = [f"strftime(try_strptime({text}, {_literal(fmt)}), '{iso}')" for fmt in origin.date_formats]
        # A value in none of the declared formats must fail validation even if it happens to be ISO.
        text = f"coalesce({', '.join(parsed)}, '?' || {text})"
    return text, False


def _expected_format(origin: ColumnSource) -> str:
    readable = (
        fmt.replace("%Y", "YYYY")
        .replace("%m", "MM")
        .replace("%d", "DD")
        .replace("%H", "HH")
        .replace("%M", "MM")
        for fmt in origin.date_formats
    )
    return "a date in the format " + " or ".join(readable)


def _select_list(
    path: Path,
    spec: TableSpec,
    mapping: TableMapping,
    available: dict[str, str],
    source_types: dict[str, str],
) -> tuple[list[str], dict[str, bool], dict[str, str], dict[str, str]]:
    origins = mapping.column_sources()
    missing_sources = [
        (name, source)
        for name, origin in origins.items()
        for source in origin.source_columns
        if source not in available
    ]
    if missing_sources:
        name, source = missing_sources[0]
        raise DataError(f"the mapped source column {source!r} is not in the file", file=path, field=name)
    missing = [
        column.name
        for column in spec.columns
        if not column.nullable and column.name not in origins and column.name not in available
    ]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)} for table {spec.name} (map them in a column-mapping file)",
            file=path,
            field=missing[0],
        )
    selects: list[str] = []
    typed: dict[str, bool] = {}
    expected: dict[str, str] = {}
    labels: dict[str, str] = {}
    for column in spec.columns:
        origin = origins.get(column.name)
        if origin is None and column.name not in available:
            selects.append(f"CAST(NULL AS VARCHAR) AS {quote(column.name)}")
            continue
        expression, is_typed = _column_expression(column, origin, available, source_types, mapping)
        selects.append(f"{expression} AS {quote(column.name)}")
        typed[column.name] = is_typed
        if origin is not None and origin.date_formats:
            expected[column.name] = _expected_format(origin)
        if origin is not None and origin.source_columns and origin.source_columns != (column.name,):
            labels[column.name] = f"{column.name} ({'+'.join(origin.source_columns)})"
    return selects, typed, expected, labels


def _stage_csv(
    connection: duckdb.DuckDBPyConnection, path: Path, spec: TableSpec, mapping: TableMapping
) -> StagedSource:
    encoding = detect_encoding(path, mapping.encoding)
    counted = count_csv_records(path, encoding)
    header = _read_header(path, encoding, mapping.delimiter)
    positional = {name: f"c{index}" for index, name in enumerate(header)}
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in positional.values()) + "}"
    connection.execute(
        f"""
        CREATE OR REPLACE TABLE raw_rows AS SELECT * FROM read_csv(
            {_literal(str(path))}, columns = {columns}, header = false, skip = 1, auto_detect = false,
            delim = {_literal(mapping.delimiter)}, quote = '"', escape = '"', encoding = '{encoding}',
            store_rejects = true, rejects_table = 'raw_rejects', rejects_scan = 'raw_reject_scans',
            null_padding = false, strict_mode = true
        )
        """
    )
    rejects = connection.execute(
        """
        SELECT line, arg_min(column_name, column_idx) AS column_name, arg_min(error_type, column_idx) AS error_type
        FROM raw_rejects GROUP BY line ORDER BY line
        """
    ).fetchall()
    names_by_position = {position: name for name, position in positional.items()}
    problems = pd.DataFrame(
        {
            "row_number": [int(line) for line, _, _ in rejects],
            "field": [
                names_by_position.get(str(column), "")
                if kind in ("INVALID ENCODING", "INVALID UNICODE")
                else ""
                for _, column, kind in rejects
            ],
            "reason": [
                _REJECT_REASONS.get(str(kind), f"unreadable line ({str(kind).lower()})").format(
                    encoding=encoding.upper().replace("LATIN-1", "Latin-1")
                )
                for _, _, kind in rejects
            ],
        }
    )
    good_rows = _count(connection, "SELECT count(*) FROM raw_rows")
    if good_rows + len(rejects) != counted.records - 1:
        where = (
            f"; the first record over several lines starts on line {counted.first_multiline:,}"
            if counted.first_multiline
            else ""
        )
        raise DataError(
            f"the CSV reader found {good_rows + len(rejects):,} records but the file has"
            f" {max(counted.records - 1, 0):,} (counted line by line){where}: refused, so that no row is"
            " lost silently",
            file=path,
        )
    selects, typed, expected, labels = _select_list(
        path, spec, mapping, positional, dict.fromkeys(header, "VARCHAR")
    )
    if rejects:
        # Good record g (1-based, in file order) sits at row g + 1 + (rejected rows before it); with
        # rejected rows r_1 < r_2 < ..., r_j is before g exactly when r_j - j <= g.
        connection.execute(
            """
            CREATE OR REPLACE TABLE raw_reject_shifts AS
            SELECT shifted, max(rank) AS rejected_before FROM (
                SELECT line - row_number() OVER (ORDER BY line) AS shifted, row_number() OVER (ORDER BY line) AS rank
                FROM (SELECT DISTINCT line FROM raw_rejects)
            ) GROUP BY shifted
            """
        )
        source = (
            "(SELECT r.*, r.rowid + 2 + coalesce(s.rejected_before, 0) AS _source_row FROM raw_rows r "
            "ASOF LEFT JOIN raw_reject_shifts s ON r.rowid + 1 >= s.shifted)"
        )
    else:
        source = "(SELECT *, rowid + 2 AS _source_row FROM raw_rows)"
    connection.execute(
        f"CREATE OR REPLACE VIEW staged AS SELECT _source_row AS _row, {', '.join(selects)} FROM {source}"
    )
    return StagedSource(
        view="staged",
        rows_read=good_rows + len(rejects),
        typed_columns=typed,
        expected_formats=expected,
        read_problems=problems,
        field_labels=labels,
        source_format="csv",
    )


def _stage_parquet(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    spec: TableSpec,
    mapping: TableMapping,
    rows: tuple[int, int] | None = None,
) -> StagedSource:
    source = f"read_parquet({_literal(str(path))}, file_row_number = true)"
    # A chunk: rows first to stop - 1 of the file, counted from 0; their row numbers stay the file's.
    chunk = (
        ""
        if rows is None
        else f" WHERE file_row_number >= {int(rows[0])} AND file_row_number < {int(rows[1])}"
    )
    try:
        rows_read = _count(connection, f"SELECT count(*) FROM {source}{chunk}")
        described = connection.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as error:
        raise DataError(
            f"cannot read Parquet (truncated or not Parquet: {type(error).__name__})", file=path
        ) from error
    source_types = {str(name): str(kind) for name, kind, *_ in described if name != "file_row_number"}
    available = {name: name for name in source_types}
    selects, typed, expected, labels = _select_list(path, spec, mapping, available, source_types)
    connection.execute(
        f"CREATE OR REPLACE VIEW staged AS SELECT file_row_number + 1 AS _row, {', '.join(selects)} "
        f"FROM {source}{chunk}"
    )
    return StagedSource(
        view="staged",
        rows_read=rows_read,
        typed_columns=typed,
        expected_formats=expected,
        read_problems=pd.DataFrame({"row_number": pd.Series(dtype="int64"), "field": [], "reason": []}),
        field_labels=labels,
        source_format="parquet",
    )


def stage_file(
    connection: duckdb.DuckDBPyConnection,
    path: Path,
    spec: TableSpec,
    mapping: TableMapping | None = None,
    *,
    rows: tuple[int, int] | None = None,
) -> StagedSource:
    """Stage a .csv or .parquet file (or, for Parquet, rows ``first`` to ``stop - 1`` of it) as view
    ``staged`` for ``check_staged``."""
    mapping = mapping or TableMapping()
    suffixes = "".join(path.suffixes[-1:]).lower()
    if suffixes == ".parquet":
        return _stage_parquet(connection, path, spec, mapping, rows)
    if rows is not None:
        raise CaremodelsError("only Parquet files are staged in chunks")
    if suffixes == ".csv":
        return _stage_csv(connection, path, spec, mapping)
    raise DataError("unsupported file type (use .parquet or .csv)", file=path)
