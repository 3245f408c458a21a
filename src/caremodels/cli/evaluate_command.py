"""caremodels evaluate and caremodels report (caremodels spc is in spc_command)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    WAREHOUSE_OPTION,
    cli,
    financial_year,
    month,
    print_json,
    reporter_of,
)
from caremodels.errors import DataError
from caremodels.periods import month_end

if TYPE_CHECKING:
    from caremodels.evaluation import EvaluationResult

_METHOD_HELP = (
    "baseline: growth from the baseline year against the rest of England (programme monitoring); "
    "did: difference in differences on the practice-by-month panel; matched: care home residents "
    "against matched residents elsewhere; synthetic: synthetic control at site level."
)

_METHOD_NAMES = {
    "baseline": "programme monitoring",
    "did": "difference in differences",
    "matched": "matched controls",
    "synthetic": "synthetic control",
}


def _comparison(value: str | None) -> tuple[int | None, tuple[dt.date, dt.date] | None]:
    """A financial year (2016/17) or a run of months (2016-04..2016-12)."""
    if value is None or ".." not in value:
        return financial_year(value), None
    first, _, last = value.partition("..")
    start, finish = month(first), month(last)
    if start is None or finish is None:
        raise click.BadParameter("give a run of months as YYYY-MM..YYYY-MM")
    return None, (start, finish)


@cli.command(context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--indicator", "indicator_id", default="emergency_admissions", show_default=True)
@click.option("--site", help="A vanguard site (id, name or short name).")
@click.option("--care-model", type=click.Choice(["MCP", "PACS", "EHCH", "UEC", "ACC"]))
@click.option(
    "--funding-conditions",
    is_flag=True,
    help="The 2017 funding condition for every PACS and MCP site (instead of --site/--care-model).",
)
@click.option(
    "--method",
    type=click.Choice(["baseline", "did", "matched", "synthetic"]),
    default="baseline",
    show_default=True,
    help=_METHOD_HELP,
)
@click.option("--baseline", "baseline_year", help="baseline: baseline financial year (default 2014/15).")
@click.option(
    "--comparison",
    "comparison",
    help="baseline: a later financial year (default: the latest complete one) or months YYYY-MM..YYYY-MM.",
)
@click.option(
    "--start", help="did, synthetic, matched: first month of the care model (default: after selection)."
)
@click.option("--end", help="did, synthetic, matched: last month to use (default: the end of the data).")
@click.option(
    "--design",
    type=click.Choice(["new_residents", "all_residents"]),
    default="new_residents",
    show_default=True,
    help="matched: residents who moved in during follow-up, or everyone resident during it.",
)
@click.option(
    "--exclude-site",
    "exclude_sites",
    multiple=True,
    help="A site whose practices must not serve as comparisons (it runs something else); repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def evaluate(
    context: click.Context,
    warehouse_path: Path,
    indicator_id: str,
    site: str | None,
    care_model: str | None,
    funding_conditions: bool,
    method: str,
    baseline_year: str | None,
    comparison: str | None,
    start: str | None,
    end: str | None,
    design: str,
    exclude_sites: tuple[str, ...],
    as_json: bool,
) -> None:
    """Evaluate a site or care model type on an indicator with one method."""
    from caremodels.evaluation import evaluate as run_evaluation
    from caremodels.evaluation import funding_conditions as run_funding_conditions
    from caremodels.evaluation import indicator_counts
    from caremodels.warehouse import Warehouse

    chosen = sum(1 for given in (site is not None, care_model is not None, funding_conditions) if given)
    if chosen != 1:
        raise click.UsageError("give exactly one of --site, --care-model or --funding-conditions")
    comparison_year, comparison_months = _comparison(comparison)
    last_month = month(end)
    reporter = reporter_of(context)
    with Warehouse(warehouse_path, read_only=True) as store:
        # Progress goes to stderr (silenced by --quiet), so --json output stays clean on stdout.
        with reporter.step(f"Counting {indicator_id} by practice and month"):
            counts = indicator_counts(store, indicator_id)
        if funding_conditions:
            try:
                with reporter.step("Evaluating the 2017 funding condition for every PACS and MCP site"):
                    results = [
                        growth.result
                        for growth in run_funding_conditions(
                            counts,
                            indicator=indicator_id,
                            baseline_year=financial_year(baseline_year),
                            comparison_year=comparison_year,
                            comparison_months=comparison_months,
                        )
                    ]
            except ValueError as error:
                raise DataError(str(error), file=warehouse_path) from error
        else:
            with reporter.step(f"Running {_METHOD_NAMES[method]} for {site or care_model}"):
                results = [
                    run_evaluation(
                        store,
                        indicator=indicator_id,
                        method=method,  # type: ignore[arg-type]
                        site=site,
                        care_model=care_model,
                        baseline_year=financial_year(baseline_year),
                        comparison_year=comparison_year,
                        comparison_months=comparison_months,
                        start=month(start),
                        end=month_end(last_month) if last_month else None,
                        design=design,  # type: ignore[arg-type]
                        exclude_sites=exclude_sites,
                        counts=counts,
                    )
                ]
    if as_json:
        documents = [result.model_dump(mode="json") for result in results]
        print_json(documents if funding_conditions else documents[0])
        return
    out = reporter.out
    for result in results:
        for line in describe_result(result):
            out.print(line)


def _ratio(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) else "n/a"


def describe_result(result: EvaluationResult) -> list[str]:
    """Plain-text lines for an ``EvaluationResult``: what was compared, the estimate, diagnostics."""
    estimate = result.estimate
    periods = "; ".join(f"{name} {value}" for name, value in result.periods.items())
    lines = [
        f"{result.target.get('area', '')}: {result.indicator}, method {result.method} ({periods})",
        f"  rate ratio {_ratio(estimate.rate_ratio)} (95% CI {_ratio(estimate.ci_low)} to "
        f"{_ratio(estimate.ci_high)}); change {estimate.percent_change:+.1f}%"
        + (f"; p = {estimate.p_value:.3f}" if estimate.p_value is not None else ""),
    ]
    diagnostics = result.diagnostics
    if "growth" in diagnostics:
        lines.append(
            f"  growth {diagnostics['growth']:+.1%}; rest of England {diagnostics['rest_growth']:+.1%}; "
            f"difference {diagnostics['difference_percentage_points']:+.1f} points"
        )
    condition = diagnostics.get("funding_condition_2017")
    if condition:
        lines.append(
            f"  2017 funding condition (growth {condition['required_points_below_rest']:.0f} or more percentage points below the rest of England): "
            + ("met" if condition["met"] else "not met")
        )
    if "pre_trend" in diagnostics and diagnostics["pre_trend"].get("tested"):
        lines.append(f"  pre-trend test: p = {diagnostics['pre_trend']['p_value']:.3f}")
    if "inference" in diagnostics:
        inference = diagnostics["inference"]
        spread = inference.get("dispersion_over_poisson", inference.get("dispersion_over_robust"))
        lines.append(
            f"  inference: {inference['method']}; {inference['placebos']} placebos"
            + (f", spread {spread:.2f} times the model's" if spread is not None else "")
        )
    if "fit" in diagnostics:
        fit = diagnostics["fit"]
        lines.append(
            f"  fit before the start: RMSPE {fit['pre_rmspe']:.2f} ({fit['unit']}); post/pre ratio "
            f"{fit['post_pre_ratio']:.2f}, placebo rank p = {fit['rank_p_value']:.3f}"
        )
    if "balance" in diagnostics:
        lines.append(
            f"  matched {diagnostics['matched_treated']} of {diagnostics['treated_residents']} residents; "
            f"largest |SMD| {diagnostics['max_abs_smd_before']:.2f} before, "
            f"{diagnostics['max_abs_smd_after']:.2f} after matching (goal < {diagnostics['balance_goal']})"
        )
    lines += [f"  caveat: {caveat}" for caveat in result.caveats]
    return lines


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
@click.option(
    "--indicator",
    "indicator_ids",
    multiple=True,
    help="Indicator to report (repeatable; default: emergency admissions).",
)
@click.pass_context
def report(
    context: click.Context, warehouse_path: Path, site: str, out_file: Path, indicator_ids: tuple[str, ...]
) -> None:
    """Write a printable evaluation report for a site (HTML): its own before-and-after figure beside
    each controlled estimate, the methods in plain English, diagnostics and charts."""
    from caremodels.reports import write_site_report

    written = write_site_report(warehouse_path, site, out_file, indicators=list(indicator_ids) or None)
    reporter_of(context).out.print(f"report written to {written}")
