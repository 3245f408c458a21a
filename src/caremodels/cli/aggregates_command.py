"""caremodels aggregates load: published aggregate statistics (no patients) into the warehouse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from caremodels.cli.common import CONTEXT_SETTINGS, WAREHOUSE_OPTION, cli, print_json, reporter_of


@cli.group(context_settings=CONTEXT_SETTINGS)
def aggregates() -> None:
    """Published aggregate statistics (NHS England's A&E statistics, ...) as a source beside the events."""


@aggregates.command("load", context_settings=CONTEXT_SETTINGS)
@click.argument("source", type=click.Choice(["ae"], case_sensitive=False))
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@WAREHOUSE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the load summary as JSON.")
@click.pass_context
def load(context: click.Context, source: str, csv_file: Path, warehouse_path: Path, as_json: bool) -> None:
    """Load SOURCE's CSV_FILE into its own warehouse table.

    ae: NHS England's monthly A&E attendances and emergency admissions by provider, month and department
    type (columns period, org_code, type, attendances, breaches, admissions), into published_ae_monthly.
    Chart trusts' 4-hour performance from it with `caremodels spc --warehouse W --aggregate ae-4-hour`.
    """
    from caremodels.ingest.aggregates import load_aggregate

    result = load_aggregate(source.lower(), csv_file, warehouse_path)
    if as_json:
        print_json(dataclasses.asdict(result))
        return
    out = reporter_of(context).out
    verb = "loaded" if result.status == "loaded" else "unchanged (this file was loaded before):"
    out.print(
        f"{csv_file.name}: {verb} {result.rows_loaded:,} of {result.rows_read:,} rows into {result.table}"
        + (f", replacing {result.rows_replaced:,}" if result.rows_replaced else "")
        + (f"; {result.rows_quarantined:,} quarantined" if result.rows_quarantined else "")
    )
    for reason, count in result.quarantine_by_reason.items():
        out.print(f"  quarantined {count:,}: {reason}")
