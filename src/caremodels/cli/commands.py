"""The commands. Each is thin: it parses options, calls the package that does the work, and prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from caremodels import __version__
from caremodels.cli.console import Reporter
from caremodels.errors import CaremodelsError, DataError
from caremodels.periods import parse_financial_year, parse_month
from caremodels.warehouse.schema import SOURCE_TABLES

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
WAREHOUSE_OPTION = click.option(
    "--warehouse",
    "warehouse_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The DuckDB warehouse file.",
)


def _reporter(context: click.Context) -> Reporter:
    reporter = context.find_object(Reporter)
    return reporter if reporter is not None else Reporter()


def _print_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, default=str))


def _financial_year(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_financial_year(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="caremodels", message="%(prog)s %(version)s")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or messages; results only.")
@click.option("--debug", is_flag=True, help="Show a traceback when something fails.")
@click.pass_context
def cli(context: click.Context, quiet: bool, debug: bool) -> None:
    """caremodels: run, measure and spread new models of integrated health and social care.

    Start with `caremodels demo`: it builds a synthetic health economy, loads it, computes the
    indicators, evaluates the care models and serves the dashboard at http://127.0.0.1:8000.
    """
    del debug  # handled in caremodels.cli.main, before any command runs
    context.obj = Reporter(quiet=quiet)


# --- demo --------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("caremodels-demo"),
    show_default=True,
    help="Folder for the synthetic files, the warehouse and the results.",
)
@click.option(
    "--scale",
    type=click.Choice(["tiny", "region"]),
    default="tiny",
    show_default=True,
    help="Size of the synthetic economy.",
)
@click.option("--seed", type=int, default=20150310, show_default=True, help="Random seed.")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the dashboard at the end.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.pass_context
def demo(
    context: click.Context, out_dir: Path, scale: str, seed: int, serve: bool, host: str, port: int
) -> None:
    """Build a demo health economy, load it, compute, evaluate, and serve the dashboard."""
    from caremodels.demo import run_demo

    reporter = _reporter(context)
    summary = run_demo(out_dir, scale=scale, seed=seed, reporter=reporter)
    for line in summary.lines:
        reporter.out.print(line)
    if serve:
        _serve(summary.warehouse, host, port, reporter)


# --- synth -------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--scale",
    type=click.Choice(["tiny", "region", "england"]),
    default="tiny",
    show_default=True,
    help="tiny: a few practices (seconds); region: about 2 million people; england: every practice.",
)
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Sample this fraction of the scale's practices, keeping some of every site.",
)
@click.option("--seed", type=int, default=20150310, show_default=True)
@click.option("--start", default="2013-04", show_default=True, help="First month (YYYY-MM).")
@click.option("--end", default="2020-03", show_default=True, help="Last month (YYYY-MM).")
@click.option(
    "--effects",
    "effects_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML file of planted effects (replaces the defaults).",
)
@click.option("--no-effects", is_flag=True, help="Plant no effects.")
@click.option(
    "--format", "file_format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write the files into.",
)
@click.pass_context
def synth(
    context: click.Context,
    scale: str,
    fraction: float,
    seed: int,
    start: str,
    end: str,
    effects_file: Path | None,
    no_effects: bool,
    file_format: str,
    out_dir: Path,
) -> None:
    """Generate a synthetic health economy with known, planted care-model effects."""
    from caremodels.synth import EffectsFile, SynthConfig, default_effects_path, generate, load_effects

    if effects_file and no_effects:
        raise click.UsageError("give --effects or --no-effects, not both")
    try:
        start_month, end_month = parse_month(start), parse_month(end)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    effects = EffectsFile() if no_effects else load_effects(effects_file or default_effects_path())
    config = SynthConfig.model_validate(
        {
            "scale": scale,
            "fraction": fraction,
            "seed": seed,
            "start": start_month,
            "end": end_month,
            "effects": effects,
        }
    )
    reporter = _reporter(context)
    with reporter.step("Generating practices", total=None) as update:
        result = generate(config, out_dir, file_format=file_format, progress=update)
    reporter.out.print(
        f"{result.people:,} people at {result.practices} practices; "
        + ", ".join(f"{count:,} {table}" for table, count in result.events.items())
        + f"; written to {out_dir}"
    )


# --- ingest and warehouse ---------------------------------------------------------------------


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
    reporter = _reporter(context)
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
        _print_json([result.__dict__ for result in results])
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
        _print_json(status)
        return
    out = _reporter(context).out
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


# --- indicators --------------------------------------------------------------------------------


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
        _print_json([{"id": d.id, "title": d.title, "unit": d.unit} for d in catalogue()])
        return
    table = Table("id", "title", "unit", title="Indicators")
    for definition in catalogue():
        table.add_row(definition.id, definition.title, definition.unit)
    _reporter(context).out.print(table)


@indicators.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("indicator_id")
def indicators_show(indicator_id: str) -> None:
    """Show one indicator's full definition (JSON)."""
    from caremodels.indicators import find_indicator

    _print_json(find_indicator(indicator_id).model_dump(mode="json"))


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

    with _reporter(context).step(f"Computing {indicator_id}"):
        rows = compute_to_file(warehouse_path, indicator_id, level=level, period=period, out_file=out_file)
    _reporter(context).out.print(f"{rows:,} rows written to {out_file}")


# --- evaluation, SPC and reports ---------------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--indicator", "indicator_id", default="emergency_admissions", show_default=True)
@click.option("--site", help="A vanguard site (id, name or short name).")
@click.option("--care-model", type=click.Choice(["MCP", "PACS", "EHCH", "UEC", "ACC"]))
@click.option(
    "--method",
    type=click.Choice(["baseline"]),
    default="baseline",
    show_default=True,
    help="baseline: growth from the baseline year against the rest of England.",
)
@click.option("--baseline", "baseline_year", help="Baseline financial year (default 2014/15).")
@click.option("--comparison", "comparison_year", help="Comparison financial year (default: latest complete).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def evaluate(
    context: click.Context,
    warehouse_path: Path,
    indicator_id: str,
    site: str | None,
    care_model: str | None,
    method: str,
    baseline_year: str | None,
    comparison_year: str | None,
    as_json: bool,
) -> None:
    """Evaluate a site or care model type on an indicator."""
    from caremodels.analysis import compare_with_rest, indicator_counts
    from caremodels.warehouse import Warehouse

    if (site is None) == (care_model is None):
        raise click.UsageError("give exactly one of --site or --care-model")
    del method  # only "baseline" so far
    with Warehouse(warehouse_path, read_only=True) as store:
        counts = indicator_counts(store, indicator_id)
    comparison = compare_with_rest(
        counts,
        indicator_id=indicator_id,
        care_model=care_model,
        site=site,
        baseline_year=_financial_year(baseline_year),
        comparison_year=_financial_year(comparison_year),
    )
    if as_json:
        _print_json(comparison.result.model_dump(mode="json"))
        return
    out = _reporter(context).out
    estimate = comparison.result.estimate
    out.print(
        f"{comparison.area}: {indicator_id}, {comparison.baseline.financial_year} to "
        f"{comparison.comparison.financial_year}"
    )
    out.print(
        f"  growth {comparison.growth:+.1%}; rest of England {comparison.rest_growth:+.1%}; "
        f"difference {comparison.difference_percentage_points:+.1f} points"
    )
    out.print(
        f"  ratio of growth {estimate.rate_ratio:.3f} (95% CI {estimate.ci_low:.3f} to {estimate.ci_high:.3f})"
    )
    condition = comparison.result.diagnostics.get("funding_condition_2017")
    if condition:
        out.print(
            f"  2017 funding condition ({condition['required_points_below_rest']:.0f} points below): "
            + ("met" if condition["met"] else "not met")
        )
    for caveat in comparison.result.caveats:
        out.print(f"  caveat: {caveat}")


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--value", "value_column", required=True, help="Column holding the measure.")
@click.option("--date", "date_column", required=True, help="Column holding the date (ISO).")
@click.option("--group", "group_column", help="Column to split the series by (one chart each).")
@click.option("--target", type=float, help="Target for the assurance icon.")
@click.option(
    "--improvement",
    type=click.Choice(["increase", "decrease", "neither"]),
    default="decrease",
    show_default=True,
)
@click.option("--trend-length", type=click.IntRange(6, 7), default=7, show_default=True)
@click.option("--shift-length", type=click.IntRange(6, 7), default=7, show_default=True)
@click.option("--rebase", multiple=True, help="Date (ISO) from which limits are recalculated; repeatable.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def spc(
    context: click.Context,
    csv_file: Path,
    value_column: str,
    date_column: str,
    group_column: str | None,
    target: float | None,
    improvement: str,
    trend_length: int,
    shift_length: int,
    rebase: tuple[str, ...],
    as_json: bool,
) -> None:
    """Statistical process control (XmR) charts as in Making Data Count."""
    import pandas as pd

    from caremodels.evaluation.spc import spc as run_spc

    try:
        frame = pd.read_csv(csv_file)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise DataError(f"cannot read CSV: {error}", file=csv_file) from error
    for column in (value_column, date_column, group_column):
        if column and column not in frame.columns:
            raise DataError(f"no column {column!r}", file=csv_file, field=column)
    try:
        results = run_spc(
            frame,
            value=value_column,
            date=date_column,
            group=group_column,
            target=target,
            improvement=improvement,  # type: ignore[arg-type]
            trend_length=trend_length,
            shift_length=shift_length,
            rebase=list(rebase) or None,
        )
    except ValueError as error:
        raise DataError(str(error), file=csv_file) from error
    if as_json:
        _print_json([result.model_dump(mode="json") for result in results])
        return
    table = Table(
        "group", "points", "mean", "lower", "upper", "special causes", "variation", "assurance", title="SPC"
    )
    for result in results:
        document = result.model_dump(mode="json")
        points = document.get("points", [])
        special = sum(1 for point in points if point.get("special_cause_rule"))
        table.add_row(
            str(document.get("group") or "all"),
            str(len(points)),
            _fmt(document.get("mean")),
            _fmt(document.get("lower_limit")),
            _fmt(document.get("upper_limit")),
            str(special),
            str(document.get("variation_icon")),
            str(document.get("assurance_icon")),
        )
    _reporter(context).out.print(table)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


@cli.command(context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--site", required=True, help="A vanguard site (id, name or short name).")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="HTML file to write.",
)
@click.pass_context
def report(context: click.Context, warehouse_path: Path, site: str, out_file: Path) -> None:
    """Write a printable evaluation report for a site (HTML)."""
    from caremodels.reports import write_site_report

    write_site_report(warehouse_path, site, out_file)
    _reporter(context).out.print(f"report written to {out_file}")


# --- serve -------------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.pass_context
def serve(context: click.Context, warehouse_path: Path, host: str, port: int) -> None:
    """Serve the dashboard (and its JSON API at /api, documented at /docs)."""
    _serve(warehouse_path, host, port, _reporter(context))


def _serve(warehouse_path: Path, host: str, port: int, reporter: Reporter) -> None:
    import uvicorn

    from caremodels.dashboard import create_app

    with reporter.step("Preparing the dashboard"):
        app = create_app(warehouse_path)
    reporter.info(f"Dashboard at http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning" if reporter.quiet else "info")


# --- programme ---------------------------------------------------------------------------------


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
        _print_json([site.model_dump(mode="json") for site in sites])
        return
    table = Table(
        "site", "care model", "selected", "basis", "practices", "registered (2021)", title="Vanguard sites"
    )
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
    _reporter(context).out.print(table)


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
        _print_json({"care_models": models, "years": [year.model_dump(mode="json") for year in years]})
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
    _reporter(context).out.print(table)
    _reporter(context).out.print("Each █ is 2.5% of England's registered population; the goal is 20 blocks.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())
