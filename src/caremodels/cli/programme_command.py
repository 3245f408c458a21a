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
    site_membership_option,
)


@cli.group(context_settings=CONTEXT_SETTINGS)
def programme() -> None:
    """The national programme: vanguard sites and coverage of England."""


@programme.command("sites", context_settings=CONTEXT_SETTINGS)
@site_membership_option("membership", "--membership")
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
    "--lens",
    "lens_name",
    default=None,
    help="One lens (vanguards, vanguards-mcp ... vanguards-acc, ics-waves, primary-care-homes, "
    "adopted-sites, combined); default: every lens.",
)
@click.option(
    "--care-models",
    default="MCP,PACS",
    show_default=True,
    help="Comma-separated care model types the 'vanguards' lens counts.",
)
@site_membership_option("membership", "--membership")
@click.option(
    "--primary-care-homes",
    "pch_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="CSV of site,practice_code,start_date[,end_date]: primary care home sites (30,000-50,000 each).",
)
@click.option(
    "--sites",
    "sites_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML of sites that adopted a care model (name, care_model, start, practices).",
)
@click.option("--members", is_flag=True, help="Print the lens's membership table instead (needs --lens).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def programme_coverage(
    context: click.Context,
    lens_name: str | None,
    care_models: str,
    membership: Path | None,
    pch_file: Path | None,
    sites_file: Path | None,
    members: bool,
    as_json: bool,
) -> None:
    """Population covered by new care models per financial year, lens by lens, against 50% of
    England by 2020/21, with a projection at the current pace."""
    from caremodels.errors import CaremodelsError
    from caremodels.periods import financial_year_label
    from caremodels.programme.coverage import available_lens_names, coverage_lenses, lens_coverage
    from caremodels.reference import programme_constants

    models = [model.strip().upper() for model in care_models.split(",") if model.strip()]
    unknown = set(models) - {"MCP", "PACS", "EHCH", "UEC", "ACC"}
    if unknown:
        raise click.BadParameter(
            f"unknown care model type(s): {', '.join(sorted(unknown))}", param_hint="--care-models"
        )
    if lens_name is not None and lens_name not in available_lens_names():
        raise click.BadParameter(
            f"no lens {lens_name!r} (choose from {', '.join(available_lens_names())})", param_hint="--lens"
        )
    lenses = coverage_lenses(
        vanguard_models=models,
        membership_file=membership,
        primary_care_homes_file=pch_file,
        adopted_sites_file=sites_file,
    )
    if lens_name is not None and lens_name not in lenses:
        option = "--primary-care-homes" if lens_name == "primary-care-homes" else "--sites"
        raise CaremodelsError(f"lens {lens_name} needs its file: give it with {option}")
    if members:
        if lens_name is None:
            raise click.BadParameter("--members needs --lens", param_hint="--members")
        rows = [member.model_dump(mode="json") for member in lenses[lens_name].members]
        if as_json:
            print_json(rows)
            return
        table = Table("practice", "member", "start", "end", "source", title=f"Members of {lens_name}")
        for row in rows:
            table.add_row(row["practice_code"], row["member"], row["start"], row["end"] or "", row["source"])
        reporter_of(context).out.print(table)
        return
    constants = programme_constants()
    chosen = [lenses[lens_name]] if lens_name else list(lenses.values())
    results = [lens_coverage(lens) for lens in chosen]
    if as_json:
        print_json(
            {
                "goal": {
                    "share": constants.coverage_goal_share,
                    "financial_year": financial_year_label(constants.coverage_goal_financial_year),
                },
                "vanguard_care_models": models,
                "lenses": [result.model_dump(mode="json") for result in results],
            }
        )
        return
    for result in results:
        table = Table("financial year", "covered", "England", "share", "", title=result.title)
        for year in result.years:
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
        projection = result.projection
        if projection.goal_reached_in:
            line = f"  the goal is reached in {projection.goal_reached_in}"
        else:
            line = "  at the current pace the goal is not reached"
        reporter_of(context).out.print(f"{line} (pace {projection.pace_per_year:+.1%} of England a year)")
    reporter_of(context).out.print(
        "Each █ is 2.5% of England's registered population; the goal is 20 blocks."
    )


@programme.command("support", context_settings=CONTEXT_SETTINGS)
@click.argument("log_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--every-site", is_flag=True, help="List every vanguard site, including those with no support.")
@click.option("--entries", is_flag=True, help="Print every entry of the log instead of the summaries.")
@click.option(
    "--groups-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write group,practice_code for the sites that received --enabler and the others (for --groups).",
)
@click.option("--enabler", "enabler_text", help="The enabler (number or name) for --groups-out.")
@site_membership_option("membership", "--membership")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def programme_support(
    context: click.Context,
    log_file: Path,
    every_site: bool,
    entries: bool,
    groups_out: Path | None,
    enabler_text: str | None,
    membership: Path | None,
    as_json: bool,
) -> None:
    """The support log: which site received what support under the eight national enablers, when,
    and what it asked for."""
    from caremodels.programme.support import (
        enabler_support,
        find_enabler,
        outcome_groups,
        site_support,
        support_log,
        write_outcome_groups,
    )

    log = support_log(log_file)
    if groups_out is not None:
        if enabler_text is None:
            raise click.UsageError("--groups-out needs --enabler")
        number = find_enabler(enabler_text).number
        written = write_outcome_groups(outcome_groups(log, number, membership_file=membership), groups_out)
        reporter_of(context).out.print(f"{written} practice rows written to {groups_out}")
        return
    if entries:
        if as_json:
            print_json([entry.model_dump(mode="json") for entry in log])
            return
        table = Table("site", "enabler", "date", "asked for", "received", title="Support log")
        for entry in log:
            table.add_row(
                entry.site_name,
                f"{entry.enabler_number} {entry.enabler_name}",
                entry.date.isoformat(),
                entry.asked_for,
                entry.received or "(not received)",
            )
        reporter_of(context).out.print(table)
        return
    sites = site_support(log, every_site=every_site)
    by_enabler = enabler_support(log)
    if as_json:
        print_json(
            {
                "sites": [site.model_dump(mode="json") for site in sites],
                "enablers": [enabler.model_dump(mode="json") for enabler in by_enabler],
            }
        )
        return
    table = Table(
        "site", "care model", "entries", "received", "unmet", "enablers received", title="Support by site"
    )
    for site in sites:
        table.add_row(
            site.site_name,
            site.care_model,
            str(site.entries),
            str(site.received),
            str(site.unmet_requests),
            ", ".join(str(number) for number in site.enablers_received),
        )
    reporter_of(context).out.print(table)
    enabler_table = Table("enabler", "sites received", "asked, not received", title="Support by enabler")
    for enabler in by_enabler:
        enabler_table.add_row(
            f"{enabler.number} {enabler.name}",
            str(len(enabler.sites_received)),
            str(len(enabler.sites_asked_not_received)),
        )
    reporter_of(context).out.print(enabler_table)
