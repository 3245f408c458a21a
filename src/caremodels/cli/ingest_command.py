"""caremodels ingest, caremodels warehouse status, caremodels warehouse export."""

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
from caremodels.warehouse.schema import SOURCE_TABLES

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
    type=click.Choice(sorted(SOURCE_TABLES)),
    help="The table the CSV or Parquet files hold (default: from the mapping file, or each file's name).",
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
    key = load_key(key_file)
    pseudonymiser = Pseudonymiser(derive_project_key(key, project) if project else key)
    opt_outs = read_opt_outs(opt_outs_file) if opt_outs_file else frozenset()
    mapping = load_mapping(mapping_file) if mapping_file else None
    reporter = reporter_of(context)
    results = []
    failures: list[str] = []
    steps = len(tabular) + (1 if fhir else 0)
    with Warehouse(warehouse_path) as warehouse, reporter.step("Loading files", total=steps) as update:
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
                    )
                )
            except DataError as error:
                # --strict stops at the first bad file; otherwise the other files still load.
                if strict:
                    raise
                failures.append(str(error))
            update(index + 1, steps)
        if fhir:
            try:
                results += load_fhir(
                    warehouse,
                    fhir,
                    pseudonymiser=pseudonymiser,
                    opt_outs=opt_outs,
                    strict=strict,
                    mapping=mapping,
                )
            except DataError as error:
                if strict:
                    raise
                failures.append(str(error))
            update(steps, steps)
    if as_json:
        print_json([result.__dict__ for result in results])
    else:
        _print_results(reporter.out, results)
    if failures:
        for failure in failures[1:]:
            reporter.err.print(f"caremodels: error: {failure}")
        raise CaremodelsError(
            failures[0] + (f" (and {len(failures) - 1} more file(s))" if len(failures) > 1 else "")
        )


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
        return False
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
