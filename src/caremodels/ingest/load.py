"""Load source files into the warehouse: read, validate, quarantine, pseudonymise, apply opt-outs.

Boundaries: a load is one transaction (all of a file's rows, its quarantine records and its batch
record commit together, or nothing does); loading identical content again changes nothing; loading
a file with the same table and name but new content replaces that file's earlier batch. NHS numbers
are replaced by pseudonyms before anything is written; opted-out people's rows are counted, never
listed. For every batch, rows read = rows loaded + rows quarantined + rows excluded by opt-out.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from caremodels import __version__
from caremodels.errors import CaremodelsError, DataError
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.ingest.validate import nhs_number_valid, validate
from caremodels.warehouse.schema import SOURCE_TABLES, TableSpec, warehouse_columns
from caremodels.warehouse.store import Warehouse

__all__ = ["LoadResult", "detect_table", "load_file", "read_opt_outs"]


@dataclass(frozen=True)
class LoadResult:
    file: str
    table: str
    batch_id: str
    status: str  # loaded | unchanged | replaced
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    rows_excluded_opt_out: int
    quarantine_by_reason: dict[str, int]


def detect_table(path: Path) -> TableSpec:
    stem = path.name.split(".")[0]
    if stem not in SOURCE_TABLES:
        raise DataError(
            f"cannot tell which table this file holds: name it after one of {', '.join(SOURCE_TABLES)}"
            " or pass --table",
            file=path,
        )
    return SOURCE_TABLES[stem]


def read_opt_outs(path: Path) -> frozenset[str]:
    """NHS numbers of people who have opted out (one per line; a header line is allowed)."""
    numbers = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read opt-out file: {error}", file=path) from error
    for line_number, line in enumerate(lines, start=1):
        value = line.strip().replace(" ", "")
        if not value or (line_number == 1 and not value.isdigit()):
            continue
        numbers.append((line_number, value))
    series = pd.Series([value for _, value in numbers], dtype="string")
    valid = nhs_number_valid(series)
    for (line_number, _), ok in zip(numbers, valid, strict=True):
        if not ok:
            raise DataError("invalid NHS number", file=path, row=line_number, field="nhs_number")
    return frozenset(series.tolist())


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """All columns as text. Lines with more or fewer fields than the header become problems.

    A first pass counts fields per record (pandas would pad a short line with empty values,
    hiding a truncated file); only a file with such lines is read the slow way.
    """
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataError("the file is empty", file=path)
        malformed = any(len(row) != len(header) for row in reader)
    if not malformed:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8", encoding_errors="replace"
        )
        frame.insert(0, "_row", range(2, len(frame) + 2))
        return frame, []
    problems: list[dict[str, object]] = []
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            if len(row) != len(header):
                problems.append(
                    {
                        "row_number": reader.line_num,
                        "field": "",
                        "reason": "more or fewer fields than the header (truncated or malformed)",
                    }
                )
                continue
            rows.append(row)
            row_numbers.append(reader.line_num)
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame.insert(0, "_row", row_numbers)
    return frame, problems


def _read(path: Path, spec: TableSpec) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as error:
            raise DataError(f"cannot read Parquet (truncated or not Parquet): {error}", file=path) from error
        frame = table.to_pandas(date_as_object=False)
        frame.insert(0, "_row", range(1, len(frame) + 1))
        return frame, []
    if path.suffix == ".csv":
        return _read_csv(path)
    raise DataError("unsupported file type (use .parquet or .csv)", file=path)


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_file(
    warehouse: Warehouse,
    path: Path,
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str] = frozenset(),
    strict: bool = False,
    table: str | None = None,
    today: dt.date | None = None,
) -> LoadResult:
    """Load one file as one batch. With ``strict`` any bad row fails the whole load."""
    if not path.exists():
        raise DataError("no such file", file=path)
    spec = SOURCE_TABLES[table] if table else detect_table(path)
    content_hash = _content_hash(path)
    batch_id = f"{spec.name}-{content_hash[:16]}"
    existing = warehouse.query(
        "SELECT batch_id FROM ingest_batches WHERE table_name = ? AND source = ?", [spec.name, path.name]
    )
    if any(row[0] == batch_id for row in existing):
        recorded = warehouse.query(
            "SELECT rows_read, rows_loaded, rows_quarantined, rows_excluded_opt_out FROM ingest_batches "
            "WHERE batch_id = ?",
            [batch_id],
        )[0]
        rows_read, rows_loaded, rows_quarantined, rows_excluded = (int(value) for value in recorded)
        return LoadResult(
            file=path.name,
            table=spec.name,
            batch_id=batch_id,
            status="unchanged",
            rows_read=rows_read,
            rows_loaded=rows_loaded,
            rows_quarantined=rows_quarantined,
            rows_excluded_opt_out=rows_excluded,
            quarantine_by_reason={},
        )

    frame, read_problems = _read(path, spec)
    missing = [
        column.name for column in spec.columns if not column.nullable and column.name not in frame.columns
    ]
    if missing:
        raise DataError(
            f"missing column(s) {', '.join(missing)} for table {spec.name}", file=path, field=missing[0]
        )
    outcome = validate(frame, spec, today=today)
    problems = pd.concat(
        [pd.DataFrame(read_problems, columns=["row_number", "field", "reason"]), outcome.problems],
        ignore_index=True,
    )
    rows_read = len(frame) + len(read_problems)
    if strict and len(problems):
        first = problems.sort_values("row_number").iloc[0]
        raise DataError(
            f"{first['reason']} ({len(problems)} bad row(s); --strict loads nothing)",
            file=path,
            row=int(first["row_number"]),
            field=str(first["field"]) or None,
        )

    good = outcome.good
    opted_out = good["nhs_number"].isin(opt_outs) if "nhs_number" in good and opt_outs else None
    excluded = int(opted_out.sum()) if opted_out is not None else 0
    if opted_out is not None:
        good = good.loc[~opted_out]
    if "nhs_number" in good:
        pseudonyms = pseudonymiser.pseudonyms(good["nhs_number"].tolist())
        good = good.assign(person_id=good["nhs_number"].map(pseudonyms)).drop(columns=["nhs_number"])
    good = good.assign(batch_id=batch_id)
    columns = [name for name, _ in warehouse_columns(spec.name)]
    rows = good[columns]

    status = "replaced" if existing else "loaded"
    with warehouse.transaction() as connection:
        for (old_batch,) in existing:
            for name in (spec.name, "quarantine", "ingest_batches"):
                connection.execute(f"DELETE FROM {name} WHERE batch_id = ?", [old_batch])
        connection.register("incoming_rows", rows)
        connection.execute(f"INSERT INTO {spec.name} SELECT * FROM incoming_rows")
        connection.unregister("incoming_rows")
        quarantine = problems.assign(batch_id=batch_id, file=path.name)[
            ["batch_id", "file", "row_number", "field", "reason"]
        ]
        connection.register("incoming_quarantine", quarantine)
        connection.execute("INSERT INTO quarantine SELECT * FROM incoming_quarantine")
        connection.unregister("incoming_quarantine")
        connection.execute(
            "INSERT INTO ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                path.name,
                spec.name,
                content_hash,
                rows_read,
                len(rows),
                len(problems),
                excluded,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                __version__,
            ],
        )
    if rows_read != len(rows) + len(problems) + excluded:
        raise CaremodelsError(f"row accounting failed for {path.name}: this is a bug")
    return LoadResult(
        file=path.name,
        table=spec.name,
        batch_id=batch_id,
        status=status,
        rows_read=rows_read,
        rows_loaded=len(rows),
        rows_quarantined=len(problems),
        rows_excluded_opt_out=excluded,
        quarantine_by_reason={
            str(reason): int(count) for reason, count in problems["reason"].value_counts().items()
        },
    )
