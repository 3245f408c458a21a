"""Published aggregate statistics as a source: NHS England's monthly A&E attendances and emergency
admissions, by provider, month and department type, into the warehouse table ``published_ae_monthly``.

The file layout is the tidy one of ``ae_attendances_2016-2019.csv`` (and the NHS-R Community's
``ae_attendances`` data set): ``period`` (YYYY-MM-DD, first of the month), ``org_code``, ``type``
(1, 2 or other), ``attendances``, ``breaches``, ``admissions``. Column names match
case-insensitively, and ``department_type`` may stand for ``type``.

Boundaries: aggregates hold no patients, so nothing is pseudonymised; rows are validated against
``caremodels.warehouse.schema.AGGREGATE_TABLES`` and bad ones quarantined with row, field and
reason; a load is one transaction; loading the same file again changes nothing, and a file with
revised figures replaces the rows of the providers, months and types it holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from caremodels import __version__
from caremodels.errors import DataError
from caremodels.ingest.load import file_hash
from caremodels.warehouse.schema import AGGREGATE_TABLES
from caremodels.warehouse.store import Warehouse

__all__ = ["AE_TABLE", "AGGREGATE_SOURCES", "AggregateLoadResult", "load_aggregate"]

AE_TABLE = "published_ae_monthly"
AGGREGATE_SOURCES = {"ae": AE_TABLE}
"""Source name (as typed on the command line) -> warehouse table."""
_ALIASES = {"type": "department_type"}
_COUNTS = ("attendances", "breaches", "admissions")


@dataclass(frozen=True)
class AggregateLoadResult:
    file: str
    table: str
    batch_id: str
    status: str
    """loaded, or unchanged when this exact file was loaded before."""
    rows_read: int
    rows_loaded: int
    rows_replaced: int
    rows_quarantined: int
    quarantine_by_reason: dict[str, int]


def load_aggregate(source: str, path: Path, warehouse_path: Path) -> AggregateLoadResult:
    """Validate and load one published-aggregate file (``source``: a key of ``AGGREGATE_SOURCES``)."""
    if source not in AGGREGATE_SOURCES:
        raise DataError(f"no aggregate source {source!r} (choose from {', '.join(AGGREGATE_SOURCES)})")
    table = AGGREGATE_SOURCES[source]
    spec = AGGREGATE_TABLES[table]
    if not path.is_file():
        raise DataError("no such file", file=path)
    content_hash = file_hash(path)
    batch_id = f"{table}-{content_hash[:16]}"
    frame = _read(path)
    good, problems = _checked(frame, path)
    columns = [column.name for column in spec.columns]
    with Warehouse(warehouse_path) as warehouse:
        ddl = ", ".join([*(f"{c.name} {_SQL_TYPES[c.type]}" for c in spec.columns), "batch_id VARCHAR"])
        warehouse.connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({ddl})")
        known = warehouse.query(
            "SELECT rows_read, rows_loaded, rows_quarantined FROM ingest_batches WHERE batch_id = ?",
            [batch_id],
        )
        if known:
            read, loaded, quarantined = known[0]
            return AggregateLoadResult(
                str(path), table, batch_id, "unchanged", int(read), int(loaded), 0, int(quarantined), {}
            )
        with warehouse.transaction() as connection:
            incoming = good[columns].assign(batch_id=batch_id)
            connection.register("incoming_aggregate", incoming)
            key = " AND ".join(f"t.{k} = i.{k}" for k in spec.key)
            replaced = connection.execute(
                f"SELECT count(*) FROM {table} t JOIN incoming_aggregate i ON {key}"
            ).fetchone()
            connection.execute(f"DELETE FROM {table} t USING incoming_aggregate i WHERE {key}")
            connection.execute(
                f"INSERT INTO {table} SELECT {', '.join([*columns, 'batch_id'])} FROM incoming_aggregate"
            )
            connection.unregister("incoming_aggregate")
            quarantine = problems.assign(batch_id=batch_id, file=str(path))[
                ["batch_id", "file", "row_number", "field", "reason"]
            ]
            connection.register("incoming_quarantine", quarantine)
            connection.execute("INSERT INTO quarantine SELECT * FROM incoming_quarantine")
            connection.unregister("incoming_quarantine")
            connection.execute(
                "INSERT INTO ingest_batches (batch_id, source, table_name, content_hash, rows_read, rows_loaded, "
                "rows_quarantined, rows_excluded_opt_out, loaded_at, software_version, source_format, "
                "rows_unmapped, mapping) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, '')",
                [
                    batch_id,
                    path.name,
                    table,
                    content_hash,
                    len(frame),
                    len(good),
                    len(problems),
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    __version__,
                    f"csv (published aggregate: {source})",
                ],
            )
    return AggregateLoadResult(
        file=str(path),
        table=table,
        batch_id=batch_id,
        status="loaded",
        rows_read=len(frame),
        rows_loaded=len(good),
        rows_replaced=int(replaced[0]) if replaced else 0,
        rows_quarantined=len(problems),
        quarantine_by_reason={
            str(k): int(v) for k, v in problems["reason"].value_counts().sort_index().items()
        },
    )


_SQL_TYPES = {
    "string": "VARCHAR",
    "date": "DATE",
    "integer": "BIGINT",
    "float": "DOUBLE",
    "timestamp": "TIMESTAMP",
}


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read CSV: {error}", file=path) from error
    renamed: dict[str, str] = {}
    for column in frame.columns:
        name = column.strip().lower()
        renamed[column] = _ALIASES.get(name, name)
    frame = frame.rename(columns=renamed)
    wanted = [c.name for c in AGGREGATE_TABLES[AE_TABLE].columns]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)}; the columns found are {', '.join(map(str, renamed))}",
            file=path,
            row=1,
        )
    return frame[wanted].reset_index(drop=True)


def _checked(frame: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The good rows, typed, and one quarantine record (row_number, field, reason) per bad row."""
    spec = AGGREGATE_TABLES[AE_TABLE]
    reason = pd.Series("", index=frame.index, dtype=object)
    field = pd.Series("", index=frame.index, dtype=object)

    def flag(bad: pd.Series, column: str, why: str) -> None:
        fresh = bad & (reason == "")
        reason[fresh] = why
        field[fresh] = column

    period = pd.to_datetime(frame["period"].str.strip(), format="%Y-%m-%d", errors="coerce")
    flag(period.isna(), "period", "not a date (YYYY-MM-DD)")
    flag(period.notna() & (period.dt.day != 1), "period", "not the first day of a month")
    org = frame["org_code"].str.strip().str.upper()
    org_column = spec.column("org_code")
    flag(~org.str.fullmatch(org_column.pattern), "org_code", org_column.pattern_reason)
    kind = frame["department_type"].str.strip().str.lower()
    flag(
        ~kind.isin(spec.column("department_type").codes),
        "department_type",
        "not an A&E department type (1, 2 or other)",
    )
    counts = {}
    for column in _COUNTS:
        number = pd.to_numeric(frame[column].str.strip().str.replace(",", "", regex=False), errors="coerce")
        flag(number.isna() | (number < 0) | (number % 1 != 0), column, "not a whole number of 0 or more")
        counts[column] = number
    flag(counts["breaches"] > counts["attendances"], "breaches", "more 4-hour breaches than attendances")
    typed = pd.DataFrame(
        {"period": period.dt.date, "org_code": org, "department_type": kind, **counts}, index=frame.index
    )
    repeated = typed.duplicated(list(spec.key), keep="first") & (reason == "")
    flag(repeated, "org_code", "repeats the provider, month and department type of an earlier row")
    bad = reason != ""
    problems = pd.DataFrame(
        {"row_number": (frame.index[bad] + 2).astype("int64"), "field": field[bad], "reason": reason[bad]}
    )
    good = typed[~bad].astype({c: "int64" for c in _COUNTS})
    if good.empty:
        first = problems.iloc[0] if len(problems) else None
        raise DataError(
            "no valid rows" + (f" (first problem: {first['reason']})" if first is not None else ""),
            file=path,
            row=None if first is None else int(first["row_number"]),
            field=None if first is None else str(first["field"]),
        )
    return good.reset_index(drop=True), problems.reset_index(drop=True)
