"""caremodels ingest, caremodels keygen, caremodels warehouse status, caremodels warehouse export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    WAREHOUSE_OPTION,
    cli,
    print_json,
    reporter_of,
)
from caremodels.errors import CaremodelsError, DataError
from caremodels.warehouse.schema import LOADABLE_TABLES

if TYPE_CHECKING:
    from rich.console import Console

    from caremodels.ingest import LoadResult

_TABULAR_SUFFIXES = (".parquet", ".csv")
_FHIR_SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@WAREHOUSE_OPTION
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the pseudonymisation key (default: $CAREMODELS_PSEUDONYMISATION_KEY).",
)
@click.option(
    "--project",
    help="Derive a project-specific key from the master key, so pseudonyms cannot be linked across projects.",
)
@click.option(
    "--opt-outs",
    "opt_outs_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="National Data Opt-out list: NHS numbers, one per line.",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Column-mapping file (YAML) for extracts with other column names or code formats (docs/ingest.md).",
)
@click.option("--strict", is_flag=True, help="Fail the whole load on any bad row instead of quarantining it.")
@click.option(
    "--table",
    type=click.Choice(sorted(LOADABLE_TABLES)),
    help="The table the CSV or Parquet files hold (default: from the mapping file, or each file's name).",
)
@click.option(
    "--replace-overlapping",
    is_flag=True,
    help="When a file's rows have the keys of rows an earlier batch loaded (a re-extract, a renamed copy), "
    "replace that earlier batch instead of refusing the file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the load summary as JSON.")
@click.pass_context
def ingest(
    context: click.Context,
    paths: tuple[Path, ...],
    warehouse_path: Path,
    key_file: Path | None,
    project: str | None,
    opt_outs_file: Path | None,
    mapping_file: Path | None,
    strict: bool,
    table: str | None,
    replace_overlapping: bool,
    as_json: bool,
) -> None:
    """Validate, pseudonymise and load source files into the warehouse.

    PATHS are files or folders: HES-like Parquet or CSV (one batch per file), and FHIR R4 NDJSON
    (.ndjson, .ndjson.gz) or Bundles (.json), loaded together as one export.
    """
    from caremodels.ingest import (
        Pseudonymiser,
        derive_project_key,
        load_fhir,
        load_file,
        load_key,
        load_mapping,
        read_opt_outs,
    )
    from caremodels.warehouse import Warehouse

    tabular, fhir = _expand(paths)
    _refuse_two_files_for_one_table(tabular, table, mapping_file)
    key = load_key(key_file)
    pseudonymiser = Pseudonymiser(derive_project_key(key, project) if project else key)
    opt_outs = read_opt_outs(opt_outs_file) if opt_outs_file else frozenset()
    mapping = load_mapping(mapping_file) if mapping_file else None
    reporter = reporter_of(context)
    results = []
    failures: list[str] = []
    steps = len(tabular) + (1 if fhir else 0)
    with Warehouse(warehouse_path) as warehouse, reporter.step("Loading files", total=steps) as update:
        if warehouse.key_fingerprint() not in (None, pseudonymiser.fingerprint):
            warehouse.claim_key(pseudonymiser.fingerprint)  # one clear error before any file is read
        for index, path in enumerate(tabular):
            try:
                results.append(
                    load_file(
                        warehouse,
                        path,
                        pseudonymiser=pseudonymiser,
                        opt_outs=opt_outs,
                        strict=strict,
                        table=table,
                        mapping=mapping,
                        replace_overlapping=replace_overlapping,
                    )
                )
            except Exception as error:
                # --strict stops at the first bad file; otherwise the other files still load.
                if strict:
                    raise
                failures.append(_failure(path, error))
            update(index + 1, steps)
        if fhir:
            unreadable: list[DataError] = []
            try:
                results += load_fhir(
                    warehouse,
                    fhir,
                    pseudonymiser=pseudonymiser,
                    opt_outs=opt_outs,
                    strict=strict,
                    mapping=mapping,
                    failures=None if strict else unreadable,
                    replace_overlapping=replace_overlapping,
                )
            except Exception as error:
                if strict:
                    raise
                failures.append(_failure(fhir[0].parent, error))
            failures.extend(str(error) for error in unreadable)
            update(steps, steps)
    if as_json:
        print_json([result.__dict__ for result in results])
    else:
        _print_results(reporter.out, results)
        _print_failures(reporter.out, failures)
    if failures:
        for failure in failures[1:]:
            reporter.err.print(f"caremodels: error: {failure}")
        raise CaremodelsError(
            failures[0] + (f" (and {len(failures) - 1} more file(s))" if len(failures) > 1 else "")
        )


def _refuse_two_files_for_one_table(
    tabular: list[Path], table: str | None, mapping_file: Path | None
) -> None:
    """Files with one name in two formats (apc_spells.csv beside apc_spells.parquet) in one call would
    load every row twice: refuse before loading anything. Files given to one table with --table or a
    mapping file are separate extracts, kept apart by the overlap check at load instead."""
    if table is not None or mapping_file is not None:
        return
    by_name: dict[str, list[Path]] = {}
    for path in tabular:
        # apc_spells.csv and apc_spells.parquet are one extract twice; apc_spells.2019.csv and
        # apc_spells.2020.csv are two extracts.
        by_name.setdefault(path.name.rsplit(".", 1)[0].lower(), []).append(path)
    for name, files in by_name.items():
        table = name.split(".")[0]
        if table in LOADABLE_TABLES and len(files) > 1:
            raise CaremodelsError(
                f"{' and '.join(str(file) for file in files)} all hold table {table} (a CSV beside its"
                " Parquet copy?): loading both would count every row twice; load one of them"
            )


def _failure(path: Path, error: Exception) -> str:
    """One line for a file that failed: a DataError names file, line, field and reason itself; any
    other error is a bug, reported by kind only (its message might quote a value from the file)."""
    if isinstance(error, CaremodelsError):
        text = str(error)
        return text if str(path) in text or path.name in text else f"file {path}: {text}"
    return f"file {path}: internal error ({type(error).__name__}): this is a bug; the other files still load"


def _print_failures(out: Console, failures: list[str]) -> None:
    if not failures:
        return
    table = Table("failed: nothing loaded from these", title=f"{len(failures)} file(s) failed")
    for failure in failures:
        table.add_row(failure)
    out.print(table)


def _print_results(out: Console, loads: list[LoadResult]) -> None:
    summary = Table(
        "file", "table", "status", "read", "loaded", "quarantined", "opted out", "unmapped", title="Ingest"
    )
    for result in loads:
        summary.add_row(
            result.file,
            result.table.replace(",", ", ") or "-",
            result.status,
            f"{result.rows_read:,}",
            f"{result.rows_loaded:,}",
            f"{result.rows_quarantined:,}",
            f"{result.rows_excluded_opt_out:,}",
            f"{result.rows_unmapped:,}",
        )
    out.print(summary)
    for result in loads:
        for batch in result.replaced_overlapping:
            out.print(f"  {result.file}: replaced earlier batch {batch} (same keys, --replace-overlapping)")
        for reason, count in result.quarantine_by_reason.items():
            out.print(f"  {result.file}: {count:,} row(s) quarantined: {reason}")
        for reason, count in result.unmapped_by_reason.items():
            out.print(f"  {result.file}: {count:,} record(s) unmapped: {reason}")
        for reason, count in result.defaulted_by_reason.items():
            out.print(f"  {result.file}: {count:,} value(s) defaulted: {reason}")


def _looks_like_fhir_json(path: Path) -> bool:
    """A .json file in a folder is FHIR only if it says so (synth writes manifest.json beside its data)."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        return True  # unreadable (a .json.gz that is not gzip): the loader reports it, never skipped silently
    return b'"resourceType"' in head


def _expand(paths: tuple[Path, ...]) -> tuple[list[Path], list[Path]]:
    """(CSV and Parquet files, FHIR files) named by the arguments, folders opened one level."""
    tabular: list[Path] = []
    fhir: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                name = child.name.lower()
                if name.endswith(_TABULAR_SUFFIXES):
                    tabular.append(child)
                elif name.endswith((".ndjson", ".ndjson.gz")) or (
                    name.endswith((".json", ".json.gz")) and _looks_like_fhir_json(child)
                ):
                    fhir.append(child)
        elif path.exists():
            (fhir if path.name.lower().endswith(_FHIR_SUFFIXES) else tabular).append(path)
        else:
            raise DataError("no such file or folder", file=path)
    if not tabular and not fhir:
        raise CaremodelsError("no .parquet, .csv or FHIR (.ndjson, .json) files to load")
    # Registrations first, so that a partly loaded folder still has denominators for what it has.
    tabular.sort(key=lambda p: (not p.name.startswith("gp_registrations"), p.name))
    return tabular, fhir


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The key file to create (never overwritten).",
)
@click.pass_context
def keygen(context: click.Context, out_file: Path) -> None:
    """Write a new pseudonymisation key: 32 random bytes as 64 hex digits, readable by you only.

    Keep it out of the repository and back it up: pseudonyms made with a lost key cannot be linked
    to new loads. Use it with caremodels ingest --key-file FILE.
    """
    from caremodels.ingest import write_key_file

    write_key_file(out_file)
    reporter_of(context).out.print(f"Wrote a new 256-bit pseudonymisation key to {out_file} (mode 0600)")


@cli.group(context_settings=CONTEXT_SETTINGS)
def warehouse() -> None:
    """Inspect and export the warehouse."""


@warehouse.command("status", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def warehouse_status(context: click.Context, warehouse_path: Path, as_json: bool) -> None:
    """Tables with row counts and distinct people, batches, quarantine and unmapped counts by reason."""
    from caremodels.warehouse import Warehouse

    with Warehouse(warehouse_path, read_only=True) as store:
        status = store.status()
    if as_json:
        print_json(status)
        return
    out = reporter_of(context).out
    tables = Table("table", "rows", "people", title=f"Warehouse {warehouse_path}")
    for name, rows in status["tables"].items():
        people = status["people_by_table"].get(name)
        tables.add_row(name, f"{rows:,}", "-" if people is None else f"{people:,}")
    out.print(tables)
    out.print(f"People (distinct pseudonyms, all tables): {status['people']:,}")
    overlapping = {name: rows for name, rows in status["overlap_by_table"].items() if rows}
    if overlapping:
        for name, rows in overlapping.items():
            out.print(f"Overlap: {rows:,} row(s) of {name} share their key with a row of another batch")
    else:
        out.print("Overlap: none (no key is held by two batches)")
    risk = status["reidentification_risk"]
    if risk["people"]:
        out.print(
            f"Re-identification risk ({risk['people']:,} registered people): "
            f"{risk['unique_on_birth_month_sex_practice']:.1%} unique on (birth month, sex, practice), "
            f"{risk['unique_on_birth_year_sex_practice']:.1%} on (birth year, sex, practice); goal in docs/ingest.md"
        )
    batches = Table(
        "batch",
        "source",
        "table",
        "read",
        "loaded",
        "quarantined",
        "opted out",
        "unmapped",
        "loaded at",
        "version",
        title="Batches",
    )
    for batch in status["batches"]:
        batches.add_row(
            batch["batch_id"],
            batch["source"],
            str(batch["table_name"]).replace(",", ", ") or "-",
            f"{batch['rows_read']:,}",
            f"{batch['rows_loaded']:,}",
            f"{batch['rows_quarantined']:,}",
            f"{batch['rows_excluded_opt_out']:,}",
            f"{batch['rows_unmapped']:,}",
            batch["loaded_at"],
            str(batch["software_version"]),
        )
    out.print(batches)
    for reason, count in status["quarantine_by_reason"].items():
        out.print(f"Quarantined: {count:,} row(s): {reason}")
    for reason, count in status["unmapped_by_reason"].items():
        out.print(f"Unmapped: {count:,} record(s): {reason}")
    for reason, count in status["defaulted_by_reason"].items():
        out.print(f"Defaulted: {count:,} value(s): {reason}")


@warehouse.command("export", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write one Parquet file per table into (read it with Apache Spark).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def warehouse_export(context: click.Context, warehouse_path: Path, out_dir: Path, as_json: bool) -> None:
    """Write every table as Parquet (TABLE.parquet, plus manifest.json) for Apache Spark."""
    from caremodels.warehouse import Warehouse

    with Warehouse(warehouse_path, read_only=True) as store:
        rows = store.export_parquet(out_dir)
    if as_json:
        print_json({"out": str(out_dir), "tables": rows})
        return
    out = reporter_of(context).out
    summary = Table("table", "rows", "file", title=f"Exported to {out_dir}")
    for name, count in rows.items():
        summary.add_row(name, f"{count:,}", f"{name}.parquet")
    out.print(summary)
