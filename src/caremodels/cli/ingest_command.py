"""caremodels ingest."""

from __future__ import annotations

from pathlib import Path

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


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@WAREHOUSE_OPTION
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="File holding the pseudonymisation key (default: $CAREMODELS_PSEUDONYMISATION_KEY).",
)
@click.option(
    "--opt-outs",
    "opt_outs_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="National Data Opt-out list: NHS numbers, one per line.",
)
@click.option("--strict", is_flag=True, help="Fail the whole load on any bad row instead of quarantining it.")
@click.option(
    "--table",
    type=click.Choice(sorted(SOURCE_TABLES)),
    help="The table the files hold (default: from each file's name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the load summary as JSON.")
@click.pass_context
def ingest(
    context: click.Context,
    paths: tuple[Path, ...],
    warehouse_path: Path,
    key_file: Path | None,
    opt_outs_file: Path | None,
    strict: bool,
    table: str | None,
    as_json: bool,
) -> None:
    """Validate, pseudonymise and load source files (HES-like Parquet or CSV) into the warehouse."""
    from caremodels.ingest import Pseudonymiser, load_file, load_key, read_opt_outs
    from caremodels.warehouse import Warehouse

    files = _expand(paths)
    pseudonymiser = Pseudonymiser(load_key(key_file))
    opt_outs = read_opt_outs(opt_outs_file) if opt_outs_file else frozenset()
    reporter = reporter_of(context)
    results = []
    with Warehouse(warehouse_path) as warehouse, reporter.step("Loading files", total=len(files)) as update:
        for index, path in enumerate(files):
            results.append(
                load_file(
                    warehouse,
                    path,
                    pseudonymiser=pseudonymiser,
                    opt_outs=opt_outs,
                    strict=strict,
                    table=table,
                )
            )
            update(index + 1, len(files))
    if as_json:
        print_json([result.__dict__ for result in results])
        return
    summary = Table("file", "table", "status", "read", "loaded", "quarantined", "opted out", title="Ingest")
    for result in results:
        summary.add_row(
            result.file,
            result.table,
            result.status,
            f"{result.rows_read:,}",
            f"{result.rows_loaded:,}",
            f"{result.rows_quarantined:,}",
            f"{result.rows_excluded_opt_out:,}",
        )
    reporter.out.print(summary)
    for result in results:
        for reason, count in result.quarantine_by_reason.items():
            reporter.out.print(f"  {result.file}: {count:,} row(s) quarantined: {reason}")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".csv"))
        elif path.exists():
            files.append(path)
        else:
            raise DataError("no such file or folder", file=path)
    if not files:
        raise CaremodelsError("no .parquet or .csv files to load")
    # Registrations first, so that a partly loaded folder still has denominators for what it has.
    return sorted(files, key=lambda p: (not p.name.startswith("gp_registrations"), p.name))


@cli.group(context_settings=CONTEXT_SETTINGS)
def warehouse() -> None:
    """Inspect the warehouse."""


@warehouse.command("status", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def warehouse_status(context: click.Context, warehouse_path: Path, as_json: bool) -> None:
    """Tables with row counts, distinct people, batches and quarantine counts by reason."""
    from caremodels.warehouse import Warehouse

    with Warehouse(warehouse_path, read_only=True) as store:
        status = store.status()
    if as_json:
        print_json(status)
        return
    out = reporter_of(context).out
    tables = Table("table", "rows", title=f"Warehouse {warehouse_path}")
    for name, rows in status["tables"].items():
        tables.add_row(name, f"{rows:,}")
    out.print(tables)
    out.print(f"People (distinct pseudonyms): {status['people']:,}")
    batches = Table(
        "batch", "source", "read", "loaded", "quarantined", "opted out", "loaded at", title="Batches"
    )
    for batch in status["batches"]:
        batches.add_row(
            batch["batch_id"],
            batch["source"],
            f"{batch['rows_read']:,}",
            f"{batch['rows_loaded']:,}",
            f"{batch['rows_quarantined']:,}",
            f"{batch['rows_excluded_opt_out']:,}",
            batch["loaded_at"],
        )
    out.print(batches)
    for reason, count in status["quarantine_by_reason"].items():
        out.print(f"Quarantined: {count:,} row(s): {reason}")
