"""caremodels programme."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    cli,
    print_json,
    reporter_of,
)


@cli.group(context_settings=CONTEXT_SETTINGS)
def programme() -> None:
    """The national programme: vanguard sites and coverage of England."""


@programme.command("sites", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--membership",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV of site,practice_code replacing the built-in membership of the sites it lists.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def programme_sites(context: click.Context, membership: Path | None, as_json: bool) -> None:
    """List the 50 vanguard sites with their care model type and registered population."""
    from caremodels.programme import site_summaries

    sites = site_summaries(membership)
    if as_json:
        print_json([site.model_dump(mode="json") for site in sites])
        return
    table = Table(title="Vanguard sites")
    table.add_column("site", no_wrap=True)  # the name a user types in --site: never cut or wrapped
    for heading, width in (
        ("care model", 5),
        ("selected", 10),
        ("basis", 8),
        ("practices", 5),
        ("registered (2021)", 9),
    ):
        table.add_column(heading, min_width=width, overflow="fold")
    for site in sites:
        population = (
            "hospital-based"
            if site.population_basis == "provider"
            else f"{site.registered_population_2021:,}"
        )
        table.add_row(
            site.short_name,
            site.care_model,
            site.selected.isoformat(),
            site.population_basis,
            str(site.practices),
            population,
        )
    reporter_of(context).out.print(table)


@programme.command("coverage", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--care-models",
    default="MCP,PACS",
    show_default=True,
    help="Comma-separated care model types that count as coverage.",
)
@click.option("--membership", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def programme_coverage(
    context: click.Context, care_models: str, membership: Path | None, as_json: bool
) -> None:
    """Population covered by new care models per financial year, against 50% of England by 2020/21."""
    from caremodels.programme import coverage

    models = [model.strip().upper() for model in care_models.split(",") if model.strip()]
    unknown = set(models) - {"MCP", "PACS", "EHCH", "UEC", "ACC"}
    if unknown:
        raise click.BadParameter(
            f"unknown care model type(s): {', '.join(sorted(unknown))}", param_hint="--care-models"
        )
    years = coverage(care_models=models, membership_file=membership)
    if as_json:
        print_json({"care_models": models, "years": [year.model_dump(mode="json") for year in years]})
        return
    table = Table(
        "financial year", "covered", "England", "share", "", title=f"Coverage by {', '.join(models)}"
    )
    for year in years:
        bar = "█" * round(year.share * 40)
        goal = f"  goal {year.goal_share:.0%}" if year.goal_share else ""
        table.add_row(
            year.financial_year,
            f"{year.covered_population:,}",
            f"{year.england_population:,}",
            f"{year.share:.1%}",
            f"{bar}{goal}",
        )
    reporter_of(context).out.print(table)
    reporter_of(context).out.print(
        "Each █ is 2.5% of England's registered population; the goal is 20 blocks."
    )
