"""caremodels budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    SiteMembership,
    cli,
    financial_year,
    print_json,
    reporter_of,
    site_membership_options,
)
from caremodels.reference.spread import NEED_COMPONENTS, NeedComponent


@cli.group(context_settings=CONTEXT_SETTINGS)
def budget() -> None:
    """Population budgets, the cost of activity against them, and system control totals."""


def _budget_options(command: Any) -> Any:
    options = [
        click.option("--site", help="A vanguard site (id, name or short name)."),
        click.option(
            "--membership",
            "membership_file",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="CSV of group,practice_code: a budget for each group (instead of --site).",
        ),
        click.option("--year", "year_text", required=True, help="Financial year, e.g. 2016/17."),
        click.option(
            "--envelope",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            required=True,
            help="YAML of the national envelope per component (docs/examples/budget/national_envelope.yaml).",
        ),
        click.option(
            "--care-model",
            type=click.Choice(["MCP", "PACS"]),
            help="Budget scope for a --membership group (a site uses its own care model).",
        ),
        click.option(
            "--components",
            help=f"Comma-separated components instead of the scope: {', '.join(NEED_COMPONENTS)}.",
        ),
        click.option(
            "--unregistered-warehouse",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="Take the unregistered estimate from this warehouse's unregistered_population table.",
        ),
        click.option(
            "--unregistered-csv",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="Take the unregistered estimate from a CSV (area_code,financial_year,registered_population,unregistered_estimate).",
        ),
        click.option(
            "--unregistered-area",
            help="Area code of the estimate (default: the site id or group name).",
        ),
        click.option("--json", "as_json", is_flag=True),
    ]
    for option in reversed(options):
        command = option(command)
    return site_membership_options(command)


def _budgets(
    site: str | None,
    membership_file: Path | None,
    site_membership: SiteMembership,
    year_text: str,
    envelope_file: Path,
    care_model: str | None,
    components: str | None,
    unregistered_warehouse: Path | None,
    unregistered_csv: Path | None,
    unregistered_area: str | None,
) -> list[Any]:
    from caremodels.budget import (
        load_envelope,
        membership_of_site,
        population_budget,
        read_memberships,
        unregistered_from_csv,
        unregistered_from_warehouse,
    )

    if (site is None) == (membership_file is None):
        raise click.UsageError("give exactly one of --site or --membership")
    if membership_file is not None and site_membership.exclude_practices:
        raise click.UsageError(
            "--exclude-practice leaves a practice out of a --site; edit the --membership CSV instead"
        )
    if unregistered_warehouse and unregistered_csv:
        raise click.UsageError("give at most one of --unregistered-warehouse and --unregistered-csv")
    year = financial_year(year_text)
    if year is None:
        raise click.BadParameter("required", param_hint="--year")
    chosen: list[NeedComponent] | None = None
    if components:
        names = [part.strip() for part in components.split(",") if part.strip()]
        unknown = set(names) - set(NEED_COMPONENTS)
        if unknown:
            raise click.BadParameter(
                f"unknown component(s): {', '.join(sorted(unknown))}", param_hint="--components"
            )
        chosen = [component for name in names for component in NEED_COMPONENTS if component == name]
    envelope = load_envelope(envelope_file, year)
    if site is not None:
        memberships = [membership_of_site(site, site_membership.file, site_membership.exclude_practices)]
    elif membership_file is not None:
        memberships = read_memberships(membership_file, care_model)
    else:  # excluded above; kept so the two options cannot drift apart
        raise click.UsageError("give exactly one of --site or --membership")
    results = []
    for membership in memberships:
        area = unregistered_area or membership.name
        estimate = None
        if unregistered_warehouse is not None:
            estimate = unregistered_from_warehouse(unregistered_warehouse, area, year)
        elif unregistered_csv is not None:
            estimate = unregistered_from_csv(unregistered_csv, area, year)
        results.append(population_budget(membership, envelope, components=chosen, unregistered=estimate))
    return results


def _print_budget(context: click.Context, result: Any) -> None:
    out = reporter_of(context).out
    table = Table(
        "component",
        "need index",
        "price per head",
        "registered budget",
        "budget",
        title=f"Population budget: {result.membership} ({result.care_model or 'no care model'}), {result.financial_year}",
    )
    for line in result.components:
        table.add_row(
            line.component,
            f"{line.need_index:.3f}",
            f"£{line.price_per_head:,.2f}",
            f"£{line.registered_budget:,.0f}",
            f"£{line.budget:,.0f}",
        )
    out.print(table)
    waterfall = Table("step", "people", "£", "running £", title="From registered head count to budget")
    for step in result.waterfall:
        waterfall.add_row(
            step.step,
            "" if step.people is None else f"{step.people:,.0f}",
            f"£{step.pounds:,.0f}",
            f"£{step.running_pounds:,.0f}",
        )
    out.print(waterfall)
    out.print(
        f"Populations of {result.weighted_population_year} carried to {result.financial_year} along "
        f"England's list growth (x{result.list_growth:.4f})."
    )
    if result.practices_without_weighted_population:
        out.print(
            f"{len(result.practices_without_weighted_population)} practice(s) have no weighted population "
            "in NHS England's 2024/25 file and are left out: "
            + ", ".join(result.practices_without_weighted_population)
        )


@budget.command("population", context_settings=CONTEXT_SETTINGS)
@_budget_options
@click.pass_context
def budget_population(
    context: click.Context,
    site: str | None,
    membership_file: Path | None,
    year_text: str,
    envelope: Path,
    care_model: str | None,
    components: str | None,
    unregistered_warehouse: Path | None,
    unregistered_csv: Path | None,
    unregistered_area: str | None,
    as_json: bool,
    membership: SiteMembership,
) -> None:
    """A site's (or each group's) need-weighted population budget for a financial year, by component,
    with the waterfall from registered head count."""
    results = _budgets(
        site,
        membership_file,
        membership,
        year_text,
        envelope,
        care_model,
        components,
        unregistered_warehouse,
        unregistered_csv,
        unregistered_area,
    )
    if as_json:
        print_json([result.model_dump(mode="json") for result in results])
        return
    for result in results:
        _print_budget(context, result)


@budget.command("activity", context_settings=CONTEXT_SETTINGS)
@_budget_options
@click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The DuckDB warehouse the activity is counted from.",
)
@click.option(
    "--tariff",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="YAML of unit costs per indicator and the risk share (docs/examples/budget/tariff.yaml).",
)
@click.pass_context
def budget_activity(
    context: click.Context,
    site: str | None,
    membership_file: Path | None,
    year_text: str,
    envelope: Path,
    care_model: str | None,
    components: str | None,
    unregistered_warehouse: Path | None,
    unregistered_csv: Path | None,
    unregistered_area: str | None,
    as_json: bool,
    warehouse_path: Path,
    tariff: Path,
    membership: SiteMembership,
) -> None:
    """Target budget against the tariff-priced cost of the activity in the warehouse, with the gain or
    loss share."""
    from caremodels.budget import activity_comparison, load_tariff

    if membership.exclude_practices:
        # The activity is counted by the indicator engine over the site's membership: leaving a
        # practice out of the target alone would compare budgets and costs of different practices.
        raise click.UsageError(
            "--exclude-practice is not available for budget activity; give a --membership CSV of the "
            "practices to compare instead"
        )
    priced = load_tariff(tariff)
    results = _budgets(
        site,
        membership_file,
        membership,
        year_text,
        envelope,
        care_model,
        components,
        unregistered_warehouse,
        unregistered_csv,
        unregistered_area,
    )
    comparisons = [
        activity_comparison(
            result,
            priced,
            warehouse_path,
            level="site" if site is not None else "group",
            code=result.membership,
            groups_file=membership_file,
            site_membership_file=membership.file,
        )
        for result in results
    ]
    if as_json:
        print_json([comparison.model_dump(mode="json") for comparison in comparisons])
        return
    out = reporter_of(context).out
    for comparison in comparisons:
        table = Table(
            "component",
            "target",
            "actual",
            "variance",
            title=f"Target against activity: {comparison.membership}, {comparison.financial_year}",
        )
        for item in comparison.components:
            table.add_row(
                item.component,
                f"£{item.target:,.0f}",
                "suppressed" if item.actual is None else f"£{item.actual:,.0f}",
                "" if item.variance is None else f"£{item.variance:+,.0f}",
            )
        out.print(table)
        lines = Table("indicator", "count", "unit cost", "cost", title="Activity priced")
        for line in comparison.lines:
            lines.add_row(
                line.indicator,
                "suppressed" if line.count is None else f"{line.count:,}",
                f"£{line.unit_cost:,.2f}",
                "" if line.cost is None else f"£{line.cost:,.0f}",
            )
        out.print(lines)
        out.print(
            f"Registered population in the warehouse: {comparison.warehouse_registered_population:,.0f}"
        )
        if comparison.not_measured:
            out.print("Not measured (no tariff line): " + ", ".join(comparison.not_measured))
        if comparison.variance is not None:
            out.print(
                f"{comparison.outcome}: £{comparison.variance:+,.0f}; provider's share £{comparison.provider_share:+,.0f}, "
                f"commissioner's £{comparison.commissioner_share:+,.0f}"
            )


@budget.command("system", context_settings=CONTEXT_SETTINGS)
@click.argument("system_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The DuckDB warehouse the activity and A&E waits are counted from.",
)
@click.option(
    "--tariff",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="YAML of unit costs per indicator (docs/examples/budget/tariff.yaml).",
)
@click.option(
    "--standards-csv",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Published counts for RTT, diagnostics and cancer: standard,month,organisation_code,numerator,denominator.",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def budget_system(
    context: click.Context,
    system_file: Path,
    warehouse_path: Path,
    tariff: Path,
    standards_csv: Path | None,
    as_json: bool,
) -> None:
    """An accountable care system's activity cost by month against its combined control total, and
    the four operational standards, with Making Data Count icons."""
    from caremodels.budget import load_tariff
    from caremodels.budget.system import (
        load_standard_counts,
        load_system,
        operational_standards_of,
        system_control_total,
    )

    system = load_system(system_file)
    control = system_control_total(system, load_tariff(tariff), warehouse_path)
    counts = load_standard_counts(standards_csv) if standards_csv is not None else ()
    standards = operational_standards_of(system, warehouse_path, counts)
    if as_json:
        print_json(
            {
                "system": system.model_dump(mode="json"),
                "control_total": control.model_dump(mode="json"),
                "standards": [standard.model_dump(mode="json") for standard in standards],
            }
        )
        return
    out = reporter_of(context).out
    table = Table(
        "month",
        "control total",
        "activity cost",
        "variance",
        title=f"{control.system}: control total, {control.financial_year}",
    )
    for month in control.months:
        table.add_row(
            month.month.strftime("%Y-%m"),
            f"£{month.control_total:,.0f}",
            "suppressed" if month.activity_cost is None else f"£{month.activity_cost:,.0f}",
            "" if month.variance is None else f"£{month.variance:+,.0f}",
        )
    out.print(table)
    out.print(
        f"Year: control total £{control.control_total_at_warehouse_population:,.0f} at the warehouse's population, "
        f"activity {'suppressed' if control.activity_cost is None else f'£{control.activity_cost:,.0f}'}; variation {control.variation_icon}, assurance {control.assurance_icon}"
    )
    standards_table = Table(
        "standard", "threshold", "latest", "variation", "assurance", "source", title="Operational standards"
    )
    for standard in standards:
        standards_table.add_row(
            standard.name,
            f"{standard.threshold:.0%}",
            "no data" if standard.latest is None else f"{standard.latest:.1%}",
            standard.variation_icon or "",
            standard.assurance_icon or "",
            standard.source or standard.caveats[-1],
        )
    out.print(standards_table)
    for standard in standards:
        if not standard.computable_from_warehouse:
            out.print(f"{standard.name}: {standard.caveats[0]}")
