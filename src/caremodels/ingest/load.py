"""Load source files into the warehouse: read, validate, quarantine, apply opt-outs, pseudonymise.

Boundaries: a load is one transaction (all of a file's rows, its quarantine records and its batch
record commit together, or nothing does); loading identical content again changes nothing; loading
a file with the same table and name but new content (or a new column mapping) replaces that file's
earlier batch. NHS numbers are replaced by pseudonyms in the in-memory staging database, before
anything reaches the warehouse; opted-out people's rows are counted, never listed. For every batch,
rows read = rows loaded + rows quarantined + rows excluded by opt-out + rows unmapped (FHIR only).

Nothing is counted twice: a batch whose rows share natural keys (``TableSpec.key``, with the
pseudonym for the NHS number) with rows of an earlier batch from another source (a renamed copy, a
re-extract) is refused, naming the earlier batch, unless ``replace_overlapping`` is set, when the
earlier batch is removed in the same transaction (``OverlapError``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from caremodels import __version__
from caremodels.errors import CaremodelsError, DataError
from caremodels.ingest.mapping import LoadedMapping, TableMapping
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.ingest.read import StagedSource, stage_file
from caremodels.ingest.validate import (
    CheckedTable,
    check_staged,
    nhs_number_valid,
    problem_frame,
    quote,
    staging_connection,
)
from caremodels.warehouse.schema import LOADABLE_TABLES, TableSpec, warehouse_columns, warehouse_expression
from caremodels.warehouse.store import Warehouse

__all__ = ["LoadResult", "OverlapError", "detect_table", "load_file", "read_opt_outs"]

_QUARANTINE_COLUMNS = ["row_number", "field", "reason"]


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
    rows_unmapped: int = 0
    unmapped_by_reason: dict[str, int] = field(default_factory=dict)
    defaulted_by_reason: dict[str, int] = field(default_factory=dict)
    source_format: str = ""
    # Earlier batches from other sources replaced because their rows had the same keys.
    replaced_overlapping: list[str] = field(default_factory=list)


class OverlapError(DataError):
    """A batch's rows have the natural keys of rows already loaded by another batch."""


@dataclass
class TableRows:
    """Good rows for one warehouse table, as a query on the staging database."""

    table: str
    sql: str


@dataclass
class PreparedBatch:
    """Everything one batch writes, computed before the warehouse transaction starts."""

    batch_id: str
    source: str
    file: str
    table_names: tuple[str, ...]
    content_hash: str
    source_format: str
    mapping: str
    rows_read: int
    problems: pd.DataFrame  # row_number, field, reason
    excluded: int
    rows: list[TableRows]
    # (kind, resource type, reason) -> count; kind is 'unmapped' or 'defaulted'.
    notes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    replaces: list[tuple[str, str]] = field(default_factory=list)  # (batch_id, table_name) of older batches
    # Batches from other sources whose rows had the same keys, replaced (--replace-overlapping).
    replaced_overlapping: list[str] = field(default_factory=list)
    synthetic: bool = False  # the file came from caremodels' synthetic generator (synthetic_file)

    @property
    def unmapped(self) -> int:
        return sum(count for (kind, _, _), count in self.notes.items() if kind == "unmapped")


def detect_table(path: Path) -> TableSpec:
    stem = path.name.split(".")[0]
    if stem not in LOADABLE_TABLES:
        raise DataError(
            f"cannot tell which table this file holds: name it after one of {', '.join(LOADABLE_TABLES)},"
            " pass --table, or list its name under files in a column-mapping file",
            file=path,
        )
    return LOADABLE_TABLES[stem]


def read_opt_outs(path: Path) -> frozenset[str]:
    """NHS numbers of people who have opted out (one per line; a header line is allowed)."""
    numbers = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read opt-out file: {type(error).__name__}", file=path) from error
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


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def recorded_result(warehouse: Warehouse, batch_id: str, *, file: str) -> LoadResult:
    """The LoadResult of a batch already in the warehouse (a repeated load changes nothing)."""
    table, read, loaded, quarantined, excluded, unmapped, source_format = warehouse.query(
        "SELECT table_name, rows_read, rows_loaded, rows_quarantined, rows_excluded_opt_out, rows_unmapped, "
        "source_format FROM ingest_batches WHERE batch_id = ?",
        [batch_id],
    )[0]
    return LoadResult(
        file=file,
        table=str(table),
        batch_id=batch_id,
        status="unchanged",
        rows_read=int(read),
        rows_loaded=int(loaded),
        rows_quarantined=int(quarantined),
        rows_excluded_opt_out=int(excluded),
        quarantine_by_reason={},
        rows_unmapped=int(unmapped or 0),
        source_format=str(source_format or ""),
    )


def strict_failure(problems: pd.DataFrame, file: Path | str) -> DataError:
    first = problems.sort_values("row_number", kind="stable").iloc[0]
    return DataError(
        f"{first['reason']} ({len(problems):,} bad row(s); --strict loads nothing)",
        file=file,
        row=int(first["row_number"]),
        field=str(first["field"]) or None,
    )


def opt_out_table(connection: duckdb.DuckDBPyConnection, opt_outs: Iterable[str]) -> str:
    """Register the opt-out NHS numbers in the staging database; returns the table name."""
    connection.execute("CREATE OR REPLACE TABLE opt_outs (nhs_number VARCHAR PRIMARY KEY)")
    numbers = sorted(set(opt_outs))
    if numbers:
        connection.register("_opt_out_list", pa.table({"nhs_number": pa.array(numbers, pa.string())}))
        connection.execute("INSERT INTO opt_outs SELECT nhs_number FROM _opt_out_list")
        connection.unregister("_opt_out_list")
    return "opt_outs"


def good_rows_sql(
    spec: TableSpec, checked: CheckedTable, *, batch_id: str, pseudonyms: str | None
) -> TableRows:
    """The query for a checked table's good, not opted-out rows in warehouse column order.

    ``pseudonyms`` names the staging table (value, person_id) of the NHS numbers to load (opted-out
    people are not in it, so the join leaves them out); None when the rows carry ``person_id``
    already (FHIR) or the table has no people.
    """
    selects = []
    for name, _ in warehouse_columns(spec.name):
        if name == "person_id":
            selects.append("p.person_id" if pseudonyms else "c.person_id")
        elif name == "batch_id":
            selects.append(f"'{batch_id}' AS batch_id")
        else:
            selects.append(f"{warehouse_expression(name, 'c.', table=spec.name)} AS {quote(name)}")
    join = f" JOIN {quote(pseudonyms)} p ON c.nhs_number = p.value" if pseudonyms else ""
    return TableRows(
        table=spec.name,
        sql=f"SELECT {', '.join(selects)} FROM {quote(checked.name)} c{join} WHERE c._problem IS NULL",
    )


def pseudonym_table(
    connection: duckdb.DuckDBPyConnection, checked: CheckedTable, pseudonymiser: Pseudonymiser
) -> str:
    """Create table ``pseudonyms``: each distinct NHS number of the good rows that is not opted
    out, with its pseudonym, computed once per person rather than once per row."""
    numbers = (
        connection.execute(
            f"SELECT DISTINCT nhs_number FROM {quote(checked.name)} WHERE _problem IS NULL "
            "AND nhs_number NOT IN (SELECT nhs_number FROM opt_outs)"
        )
        .arrow()
        .read_all()
    )
    table = pseudonymiser.pseudonym_table(numbers.column(0).to_pylist())
    connection.register("_pseudonym_rows", table)
    try:
        connection.execute("CREATE OR REPLACE TABLE pseudonyms AS SELECT * FROM _pseudonym_rows")
    finally:
        connection.unregister("_pseudonym_rows")
    return "pseudonyms"


def count_opted_out(connection: duckdb.DuckDBPyConnection, checked: CheckedTable) -> int:
    result = connection.execute(
        f"SELECT count(*) FROM {quote(checked.name)} WHERE _problem IS NULL "
        "AND nhs_number IN (SELECT nhs_number FROM opt_outs)"
    ).fetchone()
    return int(result[0]) if result else 0


def existing_batches(warehouse: Warehouse, *, table: str | None, source: str) -> list[tuple[str, str]]:
    """(batch_id, table_name) of batches from the same source: a new version replaces them."""
    if table is None:
        return [
            (str(batch), str(tables))
            for batch, tables in warehouse.query(
                "SELECT batch_id, table_name FROM ingest_batches WHERE source = ?", [source]
            )
        ]
    return [
        (str(batch), str(tables))
        for batch, tables in warehouse.query(
            "SELECT batch_id, table_name FROM ingest_batches WHERE table_name = ? AND source = ?",
            [table, source],
        )
    ]


def write_batches(
    warehouse: Warehouse,
    staging: duckdb.DuckDBPyConnection,
    batches: list[PreparedBatch],
    *,
    pseudonymiser_fingerprint: str,
    replace_overlapping: bool = False,
) -> dict[str, int]:
    """Write prepared batches in one warehouse transaction; returns rows loaded per batch id."""
    loaded: dict[str, int] = {}
    with warehouse.transaction() as connection:
        warehouse.claim_key(pseudonymiser_fingerprint)
        for batch in batches:
            delete_replaced(connection, batch.replaces)
            count = sum(insert_rows(connection, staging, rows) for rows in batch.rows)
            for table in batch.table_names:
                batch.replaced_overlapping += resolve_overlap(
                    connection, table, batch.batch_id, file=batch.file, replace=replace_overlapping
                )
            record_batch(connection, batch, count)
            loaded[batch.batch_id] = count
    return loaded


def key_columns(table: str) -> list[str]:
    """A table's natural key as warehouse columns (the pseudonym in place of the NHS number)."""
    return ["person_id" if name == "nhs_number" else name for name in LOADABLE_TABLES[table].key]


def resolve_overlap(
    connection: duckdb.DuckDBPyConnection, table: str, batch_id: str, *, file: str, replace: bool
) -> list[str]:
    """Inside the load's transaction, after batch ``batch_id``'s rows of ``table`` are inserted: find
    earlier batches holding rows with the same natural keys. Raises OverlapError unless ``replace``,
    when those batches are deleted; returns the ids of the batches replaced."""
    keys = ", ".join(quote(name) for name in key_columns(table))
    overlapping = connection.execute(
        f"""
        SELECT o.batch_id, count(*) AS rows, any_value(b.source), any_value(b.loaded_at)
        FROM {table} o
        JOIN (SELECT DISTINCT {keys} FROM {table} WHERE batch_id = ?) n USING ({keys})
        LEFT JOIN ingest_batches b ON b.batch_id = o.batch_id
        WHERE o.batch_id <> ?
        GROUP BY o.batch_id ORDER BY o.batch_id
        """,
        [batch_id, batch_id],
    ).fetchall()
    if not overlapping:
        return []
    if not replace:
        earlier, rows, source, loaded_at = overlapping[0]
        when = f", loaded {loaded_at:%Y-%m-%d %H:%M}" if loaded_at else ""
        more = f" (and {len(overlapping) - 1} more batch(es))" if len(overlapping) > 1 else ""
        raise OverlapError(
            f"{int(rows):,} row(s) of {table} have the same key ({', '.join(key_columns(table))}) as rows"
            f" already loaded by batch {earlier} from {source or 'an unknown source'}{when}{more}: refused,"
            " so that nothing is counted twice; if this file replaces that batch, load it with"
            " --replace-overlapping",
            file=file,
        )
    replaced = []
    for earlier, *_ in overlapping:
        tables = connection.execute(
            "SELECT table_name FROM ingest_batches WHERE batch_id = ?", [earlier]
        ).fetchone()
        delete_replaced(connection, [(str(earlier), str(tables[0]) if tables else table)])
        replaced.append(str(earlier))
    return replaced


def delete_replaced(connection: duckdb.DuckDBPyConnection, replaces: list[tuple[str, str]]) -> None:
    """Inside the load's transaction: remove the rows of the batches a new version replaces."""
    for old_batch, old_tables in replaces:
        for name in [*filter(None, old_tables.split(",")), "quarantine", "ingest_notes", "ingest_batches"]:
            connection.execute(f"DELETE FROM {name} WHERE batch_id = ?", [old_batch])


def insert_rows(
    connection: duckdb.DuckDBPyConnection, staging: duckdb.DuckDBPyConnection, rows: TableRows
) -> int:
    """Stream a staging query's rows into a warehouse table; returns how many were inserted."""
    reader = staging.execute(rows.sql).to_arrow_reader(1_000_000)
    connection.register("incoming_rows", reader)
    try:
        inserted = connection.execute(f"INSERT INTO {rows.table} SELECT * FROM incoming_rows").fetchone()
    finally:
        connection.unregister("incoming_rows")
    return int(inserted[0]) if inserted else 0


def record_batch(connection: duckdb.DuckDBPyConnection, batch: PreparedBatch, count: int) -> None:
    """Inside the load's transaction: the batch's quarantine, notes and record, with the row accounting
    checked (a failure rolls the whole load back)."""
    quarantine = batch.problems.assign(batch_id=batch.batch_id, file=batch.file)[
        ["batch_id", "file", *_QUARANTINE_COLUMNS]
    ]
    connection.register("incoming_quarantine", quarantine)
    connection.execute("INSERT INTO quarantine SELECT * FROM incoming_quarantine")
    connection.unregister("incoming_quarantine")
    for (kind, resource, reason), rows_noted in sorted(batch.notes.items()):
        connection.execute(
            "INSERT INTO ingest_notes VALUES (?, ?, ?, ?, ?)",
            [batch.batch_id, kind, resource, reason, rows_noted],
        )
    connection.execute(
        "INSERT INTO ingest_batches (batch_id, source, table_name, content_hash, rows_read, rows_loaded, "
        "rows_quarantined, rows_excluded_opt_out, loaded_at, software_version, source_format, "
        "rows_unmapped, mapping, synthetic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            batch.batch_id,
            batch.source,
            ",".join(batch.table_names),
            batch.content_hash,
            batch.rows_read,
            count,
            len(batch.problems),
            batch.excluded,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            __version__,
            batch.source_format,
            batch.unmapped,
            batch.mapping,
            batch.synthetic,
        ],
    )
    if batch.rows_read != count + len(batch.problems) + batch.excluded + batch.unmapped:
        raise CaremodelsError(f"row accounting failed for {batch.source}: this is a bug")


def result_of(batch: PreparedBatch, loaded: int) -> LoadResult:
    notes = {kind: {} for kind in ("unmapped", "defaulted")}  # type: dict[str, dict[str, int]]
    for (kind, resource, reason), count in batch.notes.items():
        notes[kind][f"{resource}: {reason}" if resource else reason] = count
    return LoadResult(
        file=batch.file,
        table=",".join(batch.table_names),
        batch_id=batch.batch_id,
        status="replaced" if batch.replaces else "loaded",
        rows_read=batch.rows_read,
        rows_loaded=loaded,
        rows_quarantined=len(batch.problems),
        rows_excluded_opt_out=batch.excluded,
        quarantine_by_reason={
            str(reason): int(count) for reason, count in batch.problems["reason"].value_counts().items()
        },
        rows_unmapped=batch.unmapped,
        unmapped_by_reason=notes["unmapped"],
        defaulted_by_reason=notes["defaulted"],
        source_format=batch.source_format,
        replaced_overlapping=list(batch.replaced_overlapping),
    )


LOAD_CHUNK_ROWS = 5_000_000
"""Parquet files with more rows are checked and pseudonymised this many rows at a time (each chunk in
memory, never on disk), all in one warehouse transaction, so that memory stays bounded."""


def synthetic_file(path: Path) -> bool:
    """Whether ``path`` was written by caremodels' synthetic generator: a ``manifest.json`` beside
    it (or one folder up, for the FHIR export) names caremodels as the generator and lists the file.
    A file copied away from its manifest is not recognised, so loads of generated data should keep
    the folder the generator wrote."""
    for folder in (path.parent, path.parent.parent):
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or not str(manifest.get("generator", "")).startswith("caremodels"):
            continue
        relative = path.resolve().relative_to(folder.resolve()).as_posix()
        listed = [*dict(manifest.get("files") or {}).values(), *dict(manifest.get("fhir") or {}).values()]
        if relative in {str(name) for name in listed}:
            return True
    return False


def load_file(
    warehouse: Warehouse,
    path: Path,
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str] = frozenset(),
    strict: bool = False,
    table: str | None = None,
    today: dt.date | None = None,
    mapping: LoadedMapping | None = None,
    chunk_rows: int = LOAD_CHUNK_ROWS,
    replace_overlapping: bool = False,
) -> LoadResult:
    """Load one CSV or Parquet file as one batch. With ``strict`` any bad row fails the whole load.

    A Parquet file of more than ``chunk_rows`` rows is checked in chunks of that many rows inside one
    transaction: the load stays atomic, but duplicate keys are then found within a chunk only.
    """
    if not path.exists():
        raise DataError("no such file", file=path)
    if chunk_rows < 1:
        raise CaremodelsError("chunk_rows must be at least 1")
    today = today or dt.date.today()
    if table is None and mapping is not None:
        table = mapping.table_for(path.name)
    spec = LOADABLE_TABLES[table] if table else detect_table(path)
    content_hash = file_hash(path)
    identity = (
        content_hash
        if mapping is None
        else hashlib.sha256(f"{content_hash}:{mapping.content_hash}".encode()).hexdigest()
    )
    # The file's name is part of the batch: the same content under another name is another batch,
    # which the overlap check then refuses (or replaces the earlier one with).
    batch_id = f"{spec.name}-{hashlib.sha256(f'{identity}:{path.name}'.encode()).hexdigest()[:16]}"
    if spec.has_person and warehouse.key_fingerprint() not in (None, pseudonymiser.fingerprint):
        warehouse.claim_key(pseudonymiser.fingerprint)  # raises KeyMismatchError before reading
    existing = existing_batches(warehouse, table=spec.name, source=path.name)
    if any(old == batch_id for old, _ in existing):
        return recorded_result(warehouse, batch_id, file=path.name)
    table_mapping = mapping.for_table(spec.name) if mapping else None
    total = parquet_rows(path)
    ranges: list[tuple[int, int] | None] = (
        [(first, min(first + chunk_rows, total)) for first in range(0, total, chunk_rows)]
        if total is not None and total > chunk_rows
        else [None]
    )

    rows_read = excluded = loaded = 0
    source_format = ""
    problem_parts: list[pd.DataFrame] = []
    with warehouse.transaction() as connection:
        if spec.has_person:
            warehouse.claim_key(pseudonymiser.fingerprint)
        delete_replaced(connection, existing)
        for rows in ranges:
            staging = staging_connection()
            try:
                staged, checked = _stage_and_check(staging, path, spec, table_mapping, today, rows)
                problems = pd.concat(
                    [staged.read_problems.astype({"row_number": "int64"}), problem_frame(staging, checked)],
                    ignore_index=True,
                )
                if staged.field_labels:
                    problems["field"] = problems["field"].replace(staged.field_labels)
                if strict and len(problems):
                    raise strict_failure(problems, path)
                problem_parts.append(problems)
                opt_out_table(staging, opt_outs)
                if spec.has_person:
                    excluded += count_opted_out(staging, checked)
                pseudonyms = pseudonym_table(staging, checked, pseudonymiser) if spec.has_person else None
                loaded += insert_rows(
                    connection,
                    staging,
                    good_rows_sql(spec, checked, batch_id=batch_id, pseudonyms=pseudonyms),
                )
                rows_read += staged.rows_read
                source_format = staged.source_format
            finally:
                staging.close()
        batch = PreparedBatch(
            batch_id=batch_id,
            source=path.name,
            file=path.name,
            table_names=(spec.name,),
            content_hash=content_hash,
            source_format=source_format,
            mapping=mapping.label if mapping else "",
            rows_read=rows_read,
            problems=pd.concat(problem_parts, ignore_index=True).sort_values(
                "row_number", kind="stable", ignore_index=True
            ),
            excluded=excluded,
            rows=[],
            replaces=existing,
            synthetic=synthetic_file(path),
        )
        batch.replaced_overlapping += resolve_overlap(
            connection, spec.name, batch_id, file=path.name, replace=replace_overlapping
        )
        record_batch(connection, batch, loaded)
    return result_of(batch, loaded)


def parquet_rows(path: Path) -> int | None:
    """Rows in a Parquet file from its footer (None for other files, or a footer that cannot be read:
    the staging step then reports the file as unreadable)."""
    if path.suffix.lower() != ".parquet":
        return None
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, ValueError, pa.ArrowException):
        return None


def _stage_and_check(
    staging: duckdb.DuckDBPyConnection,
    path: Path,
    spec: TableSpec,
    mapping: TableMapping | None,
    today: dt.date,
    rows: tuple[int, int] | None,
) -> tuple[StagedSource, CheckedTable]:
    try:
        staged = stage_file(staging, path, spec, mapping, rows=rows)
        checked = check_staged(
            staging,
            staged.view,
            spec,
            typed_columns=staged.typed_columns,
            today=today,
            expected_formats=staged.expected_formats,
        )
    except duckdb.OutOfMemoryException as error:
        # Identifiable rows are never spilled to disk, so a file (or chunk) must fit in memory.
        raise DataError(
            "not enough memory to check this file in memory: split it into smaller files", file=path
        ) from error
    except duckdb.Error as error:
        # The engine's message may quote a value from the file, so only its kind is shown.
        raise DataError(f"cannot read the file ({type(error).__name__})", file=path) from error
    return staged, checked
