"""caremodels evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    WAREHOUSE_OPTION,
    cli,
    financial_year,
    print_json,
    reporter_of,
)
from caremodels.errors import DataError


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
        baseline_year=financial_year(baseline_year),
        comparison_year=financial_year(comparison_year),
    )
    if as_json:
        print_json(comparison.result.model_dump(mode="json"))
        return
    out = reporter_of(context).out
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
        print_json([result.model_dump(mode="json") for result in results])
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
            _fmt(document.get("centre")),
            _fmt(document.get("lower_limit")),
            _fmt(document.get("upper_limit")),
            str(special),
            str(document.get("variation_icon")),
            str(document.get("assurance_icon")),
        )
    reporter_of(context).out.print(table)


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
    reporter_of(context).out.print(f"report written to {out_file}")
