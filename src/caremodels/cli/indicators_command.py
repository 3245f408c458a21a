"""caremodels indicators: list, show and compute the indicator catalogue."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    cli,
    month,
    print_json,
    reporter_of,
    site_membership_option,
)
from caremodels.indicators.geography import LEVELS
from caremodels.indicators.periods import PERIOD_KINDS


@cli.group(context_settings=CONTEXT_SETTINGS)
def indicators() -> None:
    """The indicator catalogue: list, show and compute indicators."""


@indicators.command("list", context_settings=CONTEXT_SETTINGS)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def indicators_list(context: click.Context, as_json: bool) -> None:
    """List the indicators in the catalogue."""
    from caremodels.indicators import catalogue

    rows = [
        {
            "id": d.id,
            "topic": d.topic,
            "title": d.title,
            "unit": d.unit,
            "statistic": d.statistic,
            "standardisation": d.standardisation,
            "interval": d.interval_method,
        }
        for d in catalogue()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Indicators ({len(rows)})")
    table.add_column("id", no_wrap=True)  # the id is what a user types next: never cut or wrapped
    for heading, width in (("topic", 8), ("title", 16), ("unit", 8)):
        table.add_column(heading, min_width=width, overflow="fold")
    for row in rows:
        table.add_row(row["id"], row["topic"], row["title"], row["unit"])
    reporter_of(context).out.print(table)


@indicators.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("indicator_id")
def indicators_show(indicator_id: str) -> None:
    """Show one indicator's full definition (JSON), with how its interval is computed."""
    from caremodels.indicators import find_indicator

    definition = find_indicator(indicator_id)
    print_json(
        {
            **definition.model_dump(mode="json", by_alias=True, exclude_none=True),
            "interval_method": definition.interval_method,
        }
    )


@indicators.command("compute", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--warehouse",
    "warehouse",
    required=True,
    help="The DuckDB warehouse file; for --engine spark also a folder or URI of <table>.parquet files.",
)
@click.option(
    "--indicator",
    "indicator_ids",
    required=True,
    multiple=True,
    help="Indicator id (repeat for several, or 'all' for the whole catalogue).",
)
@click.option("--level", type=click.Choice(LEVELS), default="practice", show_default=True)
@click.option("--period", type=click.Choice(PERIOD_KINDS), default="month", show_default=True)
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="Query engine.",
)
@click.option("--spark-master", help="Spark master URL for --engine spark (default local[*]).")
@click.option(
    "--groups",
    "groups_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV of practice groups (columns group,practice_code) for --level pcn or group.",
)
@site_membership_option()
@click.option("--from", "first_month", help="First month to include (YYYY-MM).")
@click.option("--to", "last_month", help="Last month to include (YYYY-MM).")
@click.option(
    "--disclosure",
    "disclosure_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML disclosure policy (docs/disclosure-control.md: suppress_from, suppress_to, round_to, exempt_national, secondary_suppression, control_complements, significant_figures); default HES rules.",
)
@click.option(
    "--rate-basis",
    type=click.Choice(["per-year", "per-period"]),
    default="per-year",
    show_default=True,
    help="Rates over person-time per year (annualised, as Fingertips) or per period (per month, quarter...).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Output file: .csv, .parquet or .json.",
)
@click.pass_context
def indicators_compute(
    context: click.Context,
    warehouse: str,
    indicator_ids: tuple[str, ...],
    level: str,
    period: str,
    engine: str,
    spark_master: str | None,
    groups_file: Path | None,
    site_membership_file: Path | None,
    first_month: str | None,
    last_month: str | None,
    disclosure_file: Path | None,
    rate_basis: str,
    out_file: Path,
) -> None:
    """Compute indicators at a geography and period, with intervals and disclosure control.

    Columns written: indicator_id, title, level, code, name, period, period_start, period_end,
    numerator, denominator, denominator_unit, value, ci_low, ci_high, unit, suppressed. Rates over
    person-time are annual unless --rate-basis per-period; the unit column says which. Only
    complete periods within the data are reported.
    """
    from caremodels.indicators.disclosure import load_disclosure_policy
    from caremodels.indicators.output import compute_to_file

    if level in ("pcn", "group") and groups_file is None:
        raise click.UsageError(
            f"--level {level} needs --groups CSV (columns group,practice_code)"
            + ("; PCN membership is not shipped with caremodels" if level == "pcn" else "")
        )
    policy = load_disclosure_policy(disclosure_file) if disclosure_file else None
    chosen: str | list[str] = "all" if "all" in indicator_ids else list(indicator_ids)
    reporter = reporter_of(context)
    with reporter.step(f"Computing {', '.join(indicator_ids)} by {level} and {period} on {engine}"):
        rows = compute_to_file(
            warehouse,
            chosen,
            level=level,
            period=period,
            out_file=out_file,
            engine=engine,
            spark_master=spark_master,
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            first_month=month(first_month),
            last_month=month(last_month),
            policy=policy,
            rate_basis="per_year" if rate_basis == "per-year" else "per_period",
        )
    reporter.out.print(f"{rows:,} rows written to {out_file} (counts disclosure-controlled)")
    if level == "provider":
        from caremodels.indicators import catalogue, find_indicator
        from caremodels.indicators.geography import provider_level_note

        asked = list(catalogue()) if chosen == "all" else [find_indicator(one) for one in indicator_ids]
        for definition in asked:
            countable, note = provider_level_note(definition)
            reporter.info(f"{definition.id}: {'' if countable else 'not at provider level: '}{note}")
