"""FHIR R4 loader: bulk-export NDJSON (plain or gzip) and Bundles (JSON), or resources from a database,
into the canonical tables.

Three parts: resource access (``caremodels.reference.fhir``, shared with the writers), the pure
mapping from resources to canonical rows (``caremodels.ingest.fhir_mapping``), and this loader,
which reads files (``load_fhir``) or takes resources as dicts (``load_fhir_resources``, for the
operational store) and passes both through the same validation, opt-outs, pseudonymisation,
quarantine and atomic batch write.

A set of FHIR files is loaded together (references between them are resolved across files), one
batch per file, all in one warehouse transaction. Every resource read is accounted for in its
file's batch: loaded as a row, quarantined (with file, row = line or Bundle entry, field, reason),
excluded by a National Data Opt-out, or counted as unmapped by reason. A file that cannot be read at
all (missing, named .gz but not gzip) fails alone (``check_readable``); a line longer than
``MAX_LINE_BYTES`` or nested deeper than ``MAX_RESOURCE_DEPTH`` is quarantined unparsed.

Boundaries: identifiable values (NHS numbers, local identifiers) stay in memory and become
pseudonyms before rows are staged; nothing here writes to disk except through ``write_batches``.
The resources of one call are held in memory while they are mapped.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from caremodels.errors import DataError
from caremodels.ingest.fhir_mapping import FileOutcome, ResourceRecord, condition_map, map_resources
from caremodels.ingest.load import (
    LoadResult,
    PreparedBatch,
    TableRows,
    existing_batches,
    file_hash,
    good_rows_sql,
    recorded_result,
    result_of,
    strict_failure,
    synthetic_file,
    write_batches,
)
from caremodels.ingest.mapping import FhirOptions, LoadedMapping
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.ingest.validate import check_staged, problem_frame, quote, staging_connection, text_expression
from caremodels.reference.fhir import MAX_RESOURCE_DEPTH
from caremodels.warehouse.schema import SOURCE_TABLES
from caremodels.warehouse.store import Warehouse

__all__ = [
    "MAX_LINE_BYTES",
    "check_readable",
    "condition_map",
    "is_fhir_file",
    "load_fhir",
    "load_fhir_resources",
]

MAX_LINE_BYTES = 16 * 1024 * 1024
"""An NDJSON line (one resource) longer than this is quarantined without being parsed."""
_FHIR_FORMAT = "a FHIR date or dateTime"
_Record = ResourceRecord


def is_fhir_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".ndjson", ".ndjson.gz", ".json", ".json.gz"))


_GZIP_MAGIC = b"\x1f\x8b"


def check_readable(path: Path) -> None:
    """Refuse, before anything is read, a FHIR file that cannot be read at all: missing, unreadable,
    named ``.gz`` but not gzip-compressed, or gzip-compressed but not named ``.gz``."""
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
    except FileNotFoundError as error:
        raise DataError("no such file", file=path) from error
    except OSError as error:
        raise DataError(f"cannot read the file ({type(error).__name__})", file=path) from error
    compressed = path.name.lower().endswith(".gz")
    if compressed and head != _GZIP_MAGIC:
        raise DataError(
            "the file is named .gz but is not gzip-compressed: rename it without .gz, or compress it",
            file=path,
        )
    if not compressed and head == _GZIP_MAGIC:
        raise DataError("the file is gzip-compressed but not named .gz: add .gz to its name", file=path)


def _open_text_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        yield from handle


def _read_records(path: Path) -> Iterator[_Record]:
    """Every resource in a file, with its row (NDJSON line, or Bundle entry number)."""
    name = path.name
    lower = name.lower()
    if lower.endswith((".ndjson", ".ndjson.gz")):
        row = 0
        try:
            for line in _open_text_lines(path):
                row += 1
                if not line.strip():
                    continue
                yield _parse_line(name, row, line)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            yield _Record(name, row + 1, None, ("", "file truncated (the compressed stream ends early)"))
        return
    try:
        opener = gzip.open if lower.endswith(".gz") else open
        with opener(path, "rb") as handle:
            document = json.loads(handle.read())
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, json.JSONDecodeError):
        yield _Record(name, 1, None, ("", "not valid JSON (truncated or corrupted file)"))
        return
    except RecursionError:
        yield _Record(name, 1, None, ("", "nested too deeply to read (not a FHIR Bundle)"))
        return
    if not isinstance(document, dict) or "resourceType" not in document:
        yield _Record(name, 1, None, ("resourceType", "not a FHIR resource (no resourceType)"))
        return
    if document["resourceType"] != "Bundle":
        yield _Record(name, 1, document)
        return
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        yield _Record(name, 1, None, ("Bundle.entry", "must be an array of entries"))
        return
    for index, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            yield _Record(name, index, None, ("entry.resource", "Bundle entry without a resource"))
        else:
            full_url = entry.get("fullUrl")
            yield _Record(name, index, resource, full_url=full_url if isinstance(full_url, str) else None)


def _parse_line(name: str, row: int, line: bytes) -> _Record:
    if len(line) > MAX_LINE_BYTES:
        return _Record(name, row, None, ("", f"line longer than {MAX_LINE_BYTES:,} bytes (not parsed)"))
    try:
        resource = json.loads(line.decode("utf-8"))
    except RecursionError:
        return _Record(
            name, row, None, ("", f"nested more than {MAX_RESOURCE_DEPTH} levels deep (not a FHIR resource)")
        )
    except UnicodeDecodeError:
        return _Record(name, row, None, ("", "not valid UTF-8 text"))
    except json.JSONDecodeError:
        return _Record(name, row, None, ("", "not valid JSON (truncated or malformed line)"))
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return _Record(name, row, None, ("resourceType", "not a FHIR resource (no resourceType)"))
    return _Record(name, row, resource)


def _group_name(paths: list[Path]) -> str:
    """The export's name: the folder holding its files (their common folder)."""
    common = Path(os.path.commonpath([str(path.resolve().parent) for path in paths]))
    return common.name or "fhir"


@dataclass
class _Source:
    """One batch to be: a file, or the resources of one ``load_fhir_resources`` call."""

    name: str  # the file name (or source name) the quarantine names
    source: str  # ingest_batches.source
    batch_id: str
    content_hash: str
    source_format: str
    records: list[ResourceRecord]
    previous: list[tuple[str, str]]
    synthetic: bool = False


def load_fhir(
    warehouse: Warehouse,
    paths: list[Path],
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str] = frozenset(),
    strict: bool = False,
    today: dt.date | None = None,
    mapping: LoadedMapping | None = None,
    failures: list[DataError] | None = None,
    replace_overlapping: bool = False,
) -> list[LoadResult]:
    """Load a set of FHIR files (one export) as one batch per file, in one transaction.

    A file that cannot be read at all (``check_readable``) raises DataError; with a ``failures`` list
    it is appended there instead and the other files load without it.
    """
    readable = []
    for path in paths:
        try:
            check_readable(path)
        except DataError as error:
            if failures is None:
                raise
            failures.append(error)
        else:
            readable.append(path)
    paths = readable
    if not paths:
        return []
    if warehouse.key_fingerprint() not in (None, pseudonymiser.fingerprint):
        warehouse.claim_key(pseudonymiser.fingerprint)  # raises KeyMismatchError before reading
    paths = sorted(paths, key=lambda path: path.name)
    group = _group_name(paths)
    hashes = {path: file_hash(path) for path in paths}
    group_hash = hashlib.sha256(
        "".join(f"{path.name}:{hashes[path]};" for path in paths).encode()
        + (mapping.content_hash.encode() if mapping else b"")
    ).hexdigest()
    batch_ids = {
        path: "fhir-" + hashlib.sha256(f"{group_hash}:{path.name}".encode()).hexdigest()[:16]
        for path in paths
    }
    sources = {path: f"{group}/{path.name}" for path in paths}
    previous = {path: existing_batches(warehouse, table=None, source=sources[path]) for path in paths}
    if all(any(old == batch_ids[path] for old, _ in previous[path]) for path in paths):
        return [recorded_result(warehouse, batch_ids[path], file=path.name) for path in paths]
    batches = [
        _Source(
            name=path.name,
            source=sources[path],
            batch_id=batch_ids[path],
            content_hash=hashes[path],
            source_format="fhir-ndjson" if ".ndjson" in path.name.lower() else "fhir-json",
            records=list(_read_records(path)),
            previous=previous[path],
            synthetic=synthetic_file(path),
        )
        for path in paths
    ]
    return _load_sources(
        warehouse,
        batches,
        pseudonymiser=pseudonymiser,
        opt_outs=opt_outs,
        strict=strict,
        today=today,
        mapping=mapping,
        replace_overlapping=replace_overlapping,
    )


def load_fhir_resources(
    warehouse: Warehouse,
    resources: Iterable[Any],
    source_name: str,
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str] = frozenset(),
    strict: bool = False,
    today: dt.date | None = None,
    mapping: LoadedMapping | None = None,
    replace_overlapping: bool = False,
) -> LoadResult:
    """Load FHIR resources given as dicts (parsed JSON, e.g. read from the operational store) as one
    batch named ``source_name``, through the same checks, opt-outs, pseudonymisation and quarantine as
    files. A resource's row is its position in ``resources`` (the first is row 1). Loading the same
    resources under the same name again changes nothing; other resources under that name replace
    the earlier batch."""
    records: list[ResourceRecord] = []
    digest = hashlib.sha256()
    for row, resource in enumerate(resources, start=1):
        if not isinstance(resource, dict) or "resourceType" not in resource:
            records.append(
                _Record(source_name, row, None, ("resourceType", "not a FHIR resource (no resourceType)"))
            )
            digest.update(b"?;")
            continue
        records.append(_Record(source_name, row, resource))
        try:
            digest.update(json.dumps(resource, sort_keys=True, default=str).encode() + b";")
        except (TypeError, ValueError, RecursionError):
            digest.update(f"unserialisable:{row};".encode())
    if mapping is not None:
        digest.update(mapping.content_hash.encode())
    content_hash = digest.hexdigest()
    batch_id = "fhir-" + hashlib.sha256(f"{content_hash}:{source_name}".encode()).hexdigest()[:16]
    previous = existing_batches(warehouse, table=None, source=source_name)
    if any(old == batch_id for old, _ in previous):
        return recorded_result(warehouse, batch_id, file=source_name)
    if warehouse.key_fingerprint() not in (None, pseudonymiser.fingerprint):
        warehouse.claim_key(pseudonymiser.fingerprint)
    source = _Source(source_name, source_name, batch_id, content_hash, "fhir-resources", records, previous)
    [result] = _load_sources(
        warehouse,
        [source],
        pseudonymiser=pseudonymiser,
        opt_outs=opt_outs,
        strict=strict,
        today=today,
        mapping=mapping,
        replace_overlapping=replace_overlapping,
    )
    return result


def _load_sources(
    warehouse: Warehouse,
    sources: list[_Source],
    *,
    pseudonymiser: Pseudonymiser,
    opt_outs: frozenset[str],
    strict: bool,
    today: dt.date | None,
    mapping: LoadedMapping | None,
    replace_overlapping: bool,
) -> list[LoadResult]:
    today = today or dt.date.today()
    options = mapping.mapping.fhir if mapping else FhirOptions()
    outcomes: list[FileOutcome] = map_resources(
        [(source.name, source.records) for source in sources],
        pseudonymiser=pseudonymiser,
        opt_outs=opt_outs,
        options=options,
    )
    staging = staging_connection()
    try:
        batches = []
        for index, (source, outcome) in enumerate(zip(sources, outcomes, strict=True)):
            problems = [pd.DataFrame(outcome.problems, columns=["row_number", "field", "reason"])]
            rows: list[TableRows] = []
            for table in sorted(outcome.rows):
                spec = SOURCE_TABLES[table]
                staged = f"staged_{index}_{table}"
                _stage_rows(staging, staged, table, outcome.rows[table])
                checked = check_staged(
                    staging,
                    staged,
                    spec,
                    typed_columns={},
                    today=today,
                    expected_formats={
                        column.name: _FHIR_FORMAT
                        for column in spec.columns
                        if column.type in ("date", "timestamp")
                    },
                    person_column="person_id",
                    result=f"checked_{index}_{table}",
                )
                problems.append(problem_frame(staging, checked))
                rows.append(good_rows_sql(spec, checked, batch_id=source.batch_id, pseudonyms=None))
            all_problems = pd.concat(problems, ignore_index=True).astype({"row_number": "int64"})
            all_problems = all_problems.sort_values("row_number", kind="stable", ignore_index=True)
            if strict and len(all_problems):
                raise strict_failure(all_problems, source.name)
            batches.append(
                PreparedBatch(
                    batch_id=source.batch_id,
                    source=source.source,
                    file=source.name,
                    table_names=tuple(sorted(outcome.rows)),
                    content_hash=source.content_hash,
                    source_format=source.source_format,
                    mapping=mapping.label if mapping else "",
                    rows_read=outcome.rows_read,
                    problems=all_problems,
                    excluded=outcome.excluded,
                    rows=rows,
                    notes=dict(outcome.notes),
                    replaces=source.previous,
                    synthetic=source.synthetic,
                )
            )
        loaded = write_batches(
            warehouse,
            staging,
            batches,
            pseudonymiser_fingerprint=pseudonymiser.fingerprint,
            replace_overlapping=replace_overlapping,
        )
    finally:
        staging.close()
    return [result_of(batch, loaded[batch.batch_id]) for batch in batches]


def _stage_rows(connection: Any, name: str, table: str, rows: list[dict[str, Any]]) -> None:
    spec = SOURCE_TABLES[table]
    columns = ["_row", "person_id", *(column.name for column in spec.columns if column.name != "nhs_number")]
    frame = pd.DataFrame(rows, columns=columns).astype({"_row": "int64"})
    for column in columns[1:]:
        frame[column] = frame[column].astype("string")
    connection.register("_fhir_rows", frame)
    try:
        selects = ["_row", "person_id"] + [
            f"{text_expression(quote(column.name), column)} AS {quote(column.name)}"
            for column in spec.columns
            if column.name != "nhs_number"
        ]
        connection.execute(
            f"CREATE OR REPLACE TABLE {quote(name)} AS SELECT {', '.join(selects)} FROM _fhir_rows"
        )
    finally:
        connection.unregister("_fhir_rows")
