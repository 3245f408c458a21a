"""caremodels indicators."""

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


@cli.group(context_settings=CONTEXT_SETTINGS)
def indicators() -> None:
    """The indicator catalogue: list, show and compute indicators."""


@indicators.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def indicators_list(context: click.Context, as_json: bool) -> None:
    """List the indicators in the catalogue."""
    from caremodels.indicators import catalogue

    if as_json:
        print_json([{"id": d.id, "title": d.title, "unit": d.unit} for d in catalogue()])
        return
    table = Table("id", "title", "unit", title="Indicators")
    for definition in catalogue():
        table.add_row(definition.id, definition.title, definition.unit)
    reporter_of(context).out.print(table)


@indicators.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("indicator_id")
def indicators_show(indicator_id: str) -> None:
    """Show one indicator's full definition (JSON)."""
    from caremodels.indicators import find_indicator

    print_json(find_indicator(indicator_id).model_dump(mode="json"))


@indicators.command("compute", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--indicator", "indicator_id", required=True)
@click.option("--level", type=click.Choice(["practice"]), default="practice", show_default=True)
@click.option("--period", type=click.Choice(["month"]), default="month", show_default=True)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Output file: .csv, .parquet or .json.",
)
@click.pass_context
def indicators_compute(
    context: click.Context, warehouse_path: Path, indicator_id: str, level: str, period: str, out_file: Path
) -> None:
    """Compute an indicator at a geography and period, with intervals and disclosure control."""
    from caremodels.indicators.output import compute_to_file

    with reporter_of(context).step(f"Computing {indicator_id}"):
        rows = compute_to_file(warehouse_path, indicator_id, level=level, period=period, out_file=out_file)
    reporter_of(context).out.print(f"{rows:,} rows written to {out_file}")
