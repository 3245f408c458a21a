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
    SiteMembership,
    cli,
    financial_year,
    month,
    print_json,
    reporter_of,
    site_membership_options,
)
from caremodels.errors import DataError
from caremodels.evaluation.methods import REGISTRY
from caremodels.evaluation.targets import DEFAULT_POOL, POOL_DESCRIPTIONS, POOL_RULES
from caremodels.periods import month_end

if TYPE_CHECKING:
    from caremodels.evaluation import EvaluationResult

# The methods, their help and the comparison pools come from the evaluation layer's registry.
_METHOD_HELP = "; ".join(f"{method.id}: {method.help}" for method in REGISTRY.values()) + "."
_POOL_HELP = (
    "Which practices may be comparisons: "
    + "; ".join(f"{rule}: {POOL_DESCRIPTIONS[rule]}" for rule in POOL_RULES)
    + ". The result prints the pool and every site it left out."
)


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
    type=click.Choice(list(REGISTRY)),
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
@click.option(
    "--pool",
    type=click.Choice(list(POOL_RULES)),
    default=DEFAULT_POOL,
    show_default=True,
    help=_POOL_HELP,
)
@site_membership_options
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
    pool: str,
    as_json: bool,
    membership: SiteMembership,
) -> None:
    """Evaluate a site or care model type on an indicator with one method. Matched controls take any
    catalogue indicator of people's events (for example ambulance_conveyances)."""
    from caremodels.evaluation import evaluate as run_evaluation
    from caremodels.evaluation import funding_conditions as run_funding_conditions
    from caremodels.evaluation import indicator_counts
    from caremodels.indicators import find_indicator, practice_month_band_counts
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
                            membership_file=membership.file,
                            exclude_practices=membership.exclude_practices,
                            bands=practice_month_band_counts(store, find_indicator(indicator_id)),
                        )
                    ]
            except ValueError as error:
                raise DataError(str(error), file=warehouse_path) from error
        else:
            with reporter.step(f"Running {REGISTRY[method].name} for {site or care_model}"):
                results = [
                    run_evaluation(
                        store,
                        indicator=indicator_id,
                        method=method,
                        site=site,
                        care_model=care_model,
                        baseline_year=financial_year(baseline_year),
                        comparison_year=comparison_year,
                        comparison_months=comparison_months,
                        start=month(start),
                        end=month_end(last_month) if last_month else None,
                        design=design,  # type: ignore[arg-type]
                        exclude_sites=exclude_sites,
                        pool=pool,  # type: ignore[arg-type]
                        counts=counts,
                        membership_file=membership.file,
                        exclude_practices=membership.exclude_practices,
                    )
                ]
    # What leaves the tool, as JSON or text, has its diagnostics' counts controlled.
    results = [result.published() for result in results]
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
    lines += _diagnostic_lines(result)
    if result.comparison_pool is not None:
        pool = result.comparison_pool
        lines.append(f"  {pool.summary()}")
        for excluded in pool.excluded_sites:
            if excluded.practices:
                lines.append(
                    f"    left out: {excluded.name} ({excluded.practices} practices): {excluded.reason}"
                )
    lines += [f"  caveat: {caveat}" for caveat in result.caveats]
    return lines


def _diagnostic_lines(result: EvaluationResult) -> list[str]:
    """Each method's diagnostics, read from its typed model."""
    from caremodels.evaluation.did import DidDiagnostics
    from caremodels.evaluation.matched import MatchedDiagnostics
    from caremodels.evaluation.monitoring import BaselineDiagnostics
    from caremodels.evaluation.synthetic import SyntheticDiagnostics

    d = result.diagnostics
    lines: list[str] = []
    if isinstance(d, BaselineDiagnostics):
        lines.append(
            f"  growth {d.growth:+.1%}; comparison practices {d.rest_growth:+.1%}; "
            f"difference {d.difference_percentage_points:+.1f} points"
        )
        if d.funding_condition_2017 is not None:
            condition = d.funding_condition_2017
            lines.append(
                f"  2017 funding condition (growth {condition.required_points_below_rest:g} or more percentage "
                f"points below the rest of England): {condition.statement}"
            )
    if isinstance(d, DidDiagnostics):
        lines.append(f"  pre-trend test: {d.pre_trend.verdict}")
        if d.pre_trend.minimum_detectable_trend_percent_per_year is not None:
            lines.append(
                "  pre-trend test finds a steady trend of "
                f"{d.pre_trend.minimum_detectable_trend_percent_per_year:.1f}% a year 80% of the time"
            )
    if isinstance(d, DidDiagnostics | SyntheticDiagnostics) or (
        isinstance(d, BaselineDiagnostics) and d.inference is not None
    ):
        inference = d.inference
        if inference is not None:
            spread = inference.dispersion_over_poisson
            lines.append(
                f"  inference: {inference.method}; {inference.placebos} placebos"
                + (f", spread {spread:.2f} times the model's" if math.isfinite(spread) else "")
            )
    if isinstance(d, SyntheticDiagnostics):
        fit = d.fit
        lines.append(
            f"  fit before the start: RMSPE {fit.pre_rmspe:.2f} ({fit.unit}); post/pre ratio "
            f"{fit.post_pre_ratio:.2f}, placebo rank p = {fit.rank_p_value:.3f}"
        )
    if isinstance(d, MatchedDiagnostics):
        spread = d.inference.dispersion_over_robust
        lines.append(
            f"  inference: {d.inference.method}; {d.inference.placebos} placebos"
            + (f", spread {spread:.2f} times the model's" if math.isfinite(spread) else "")
        )
        lines.append(
            f"  matched {d.matched_treated} of {d.treated_residents} residents; "
            f"largest |SMD| {d.max_abs_smd_before:.2f} before, "
            f"{d.max_abs_smd_after:.2f} after matching (goal < {d.balance_goal}); rates "
            f"{d.treated_rate:.3f} against {d.matched_comparison_rate:.3f} {d.rate_unit}"
        )
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
    help="Indicator to report (repeatable; default: emergency admissions, and for a care home site "
    "its residents' emergency admissions).",
)
@click.option(
    "--pool",
    type=click.Choice(list(POOL_RULES)),
    default=DEFAULT_POOL,
    show_default=True,
    help=_POOL_HELP,
)
@site_membership_options
@click.pass_context
def report(
    context: click.Context,
    warehouse_path: Path,
    site: str,
    out_file: Path,
    indicator_ids: tuple[str, ...],
    pool: str,
    membership: SiteMembership,
) -> None:
    """Write a printable evaluation report for a site (HTML): its own before-and-after figure beside
    each controlled estimate, the methods in plain English, diagnostics and charts."""
    from caremodels.reports import write_site_report

    written = write_site_report(
        warehouse_path,
        site,
        out_file,
        indicators=list(indicator_ids) or None,
        pool=pool,  # type: ignore[arg-type]
        membership_file=membership.file,
        exclude_practices=membership.exclude_practices,
    )
    reporter_of(context).out.print(f"report written to {written}")
