"""caremodels risk fit | validate | score: risk stratification on the warehouse."""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from caremodels.cli.common import CONTEXT_SETTINGS, WAREHOUSE_OPTION, cli, print_json, reporter_of

if TYPE_CHECKING:
    import pandas as pd

_INDEX_HELP = "Index date (YYYY-MM-DD): features to this day, the outcome in the year after it."


INDEX_TYPE = click.DateTime(formats=["%Y-%m-%d"])
IMPORT_OPTION = click.option(
    "--import-score",
    "imports",
    multiple=True,
    metavar="NAME=FILE",
    help="A licensed score (ACG or other) as data: a CSV of person_id,score, fitted and validated beside "
    "the others (never bundled).",
)


def _imports(values: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    from caremodels.risk import read_imported_scores

    imported = {}
    for value in values:
        name, separator, file = value.partition("=")
        if not separator or not name.isidentifier() or not file:
            raise click.BadParameter(f"give NAME=FILE (NAME letters, digits, _), not {value!r}")
        imported[f"imported_{name}"] = read_imported_scores(Path(file))
    return imported


@cli.group(context_settings=CONTEXT_SETTINGS)
def risk() -> None:
    """Risk stratification: fit, validate (as a paper would report it) and score."""


@risk.command("fit", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--index-date", type=INDEX_TYPE, default="2017-03-31", show_default=True, help=_INDEX_HELP)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Model file (JSON)."
)
@IMPORT_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def risk_fit(
    context: click.Context,
    warehouse_path: Path,
    index_date: dt.datetime,
    out: Path,
    imports: tuple[str, ...],
    as_json: bool,
) -> None:
    """Fit every model on the year after the index date and save the coefficients."""
    from caremodels.risk import fit

    day = index_date.date()
    models = fit(warehouse_path, day, imported=_imports(imports))
    models.save(out)
    if as_json:
        print_json(models.to_json())
        return
    reporter_of(context).out.print(
        f"Fitted {len(models.models)} models on {models.people:,} people registered on {day.isoformat()} "
        f"(outcome rate {models.outcome_rate:.1%}); written to {out}"
    )


def _oracle(synth_dir: Path, key_file: Path | None, project: str | None, year: int) -> pd.DataFrame:
    """The oracle for the outcome year, with NHS numbers replaced by the warehouse's pseudonyms here,
    at the command line, so that the risk package never sees one."""
    import pyarrow as pa

    from caremodels.ingest import Pseudonymiser
    from caremodels.ingest.pseudonymise import derive_project_key, load_key
    from caremodels.synth.oracle import read_oracle

    key = load_key(key_file)
    if project:
        key = derive_project_key(key, project)
    table = read_oracle(synth_dir, year)
    pseudonyms = Pseudonymiser(key).pseudonym_table(table.column("nhs_number").to_pylist())
    joined = table.join(pseudonyms, "nhs_number", "value").select(
        ["person_id", "expected_emergency_admissions"]
    )
    frame: pd.DataFrame = pa.Table.from_batches(joined.to_batches(), joined.schema).to_pandas()
    return frame


def _financial_year_after(day: dt.date) -> int:
    following = day + dt.timedelta(days=1)
    return following.year if following.month >= 4 else following.year - 1


@risk.command("validate", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--index-date", type=INDEX_TYPE, default="2018-03-31", show_default=True, help=_INDEX_HELP)
@click.option(
    "--models",
    "models_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Model file from `risk fit` (default: fit on the year before the index date).",
)
@click.option(
    "--oracle",
    "oracle_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A synthetic economy's folder: report its oracle's AUROC (the best achievable) beside the models.",
)
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Pseudonymisation key (with --oracle).",
)
@click.option("--project", help="Project the warehouse's key was derived for (with --oracle).")
@click.option("--caseload", "caseload_size", type=click.IntRange(min=1), help="Caseload size (people).")
@click.option(
    "--caseload-share",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.02,
    show_default=True,
    help="Caseload as a share of the people validated (without --caseload).",
)
@click.option("--bootstrap", "replicates", type=click.IntRange(min=10), default=200, show_default=True)
@click.option("--seed", type=int, default=20150310, show_default=True, help="Seed of the bootstrap.")
@click.option(
    "--report", "report_path", type=click.Path(path_type=Path, dir_okay=False), help="Write an HTML report."
)
@click.option(
    "--figures",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write the plots as SVG files here.",
)
@IMPORT_OPTION
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def risk_validate(
    context: click.Context,
    warehouse_path: Path,
    index_date: dt.datetime,
    models_path: Path | None,
    oracle_dir: Path | None,
    key_file: Path | None,
    project: str | None,
    caseload_size: int | None,
    caseload_share: float,
    replicates: int,
    seed: int,
    report_path: Path | None,
    figures: Path | None,
    imports: tuple[str, ...],
    as_json: bool,
) -> None:
    """Temporal validation: AUROC with bootstrap interval, calibration, O/E by decile, Brier, caseload."""
    import numpy as np

    from caremodels.risk import FittedModels, validate, write_report

    day = index_date.date()
    models = FittedModels.load(models_path) if models_path else None
    oracle = _oracle(oracle_dir, key_file, project, _financial_year_after(day)) if oracle_dir else None
    result = validate(
        warehouse_path,
        day,
        np.random.default_rng(seed),
        models=models,
        oracle=oracle,
        caseload_share=caseload_share,
        caseload_size=caseload_size,
        replicates=replicates,
        imported=_imports(imports),
    )
    if report_path is not None:
        command = "caremodels " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
        write_report(result, report_path, command=command, figures=figures)
    if as_json:
        print_json(result)
        return
    _print_validation(context, result, report_path)


def _print_validation(context: click.Context, result: dict[str, Any], report_path: Path | None) -> None:
    table = Table(
        "model",
        "AUROC (95% CI)",
        "slope",
        "intercept",
        "Brier",
        "sensitivity",
        "PPV",
        title=f"Validation on {result['people']:,} people registered on {result['validation_index_date']} "
        f"(trained to {result['training_index_date']}); caseload {result['caseload_size']:,}",
    )
    entries = list(result["models"].items()) + ([("oracle", result["oracle"])] if result["oracle"] else [])
    for name, summary in entries:
        lower, upper = summary["auroc_interval"]
        table.add_row(
            name,
            f"{summary['auroc']:.3f} ({lower:.3f}-{upper:.3f})",
            f"{summary['calibration_slope']:.2f}",
            f"{summary['calibration_intercept']:.2f}",
            f"{summary['brier']:.4f}",
            f"{summary['caseload']['sensitivity']:.1%}",
            f"{summary['caseload']['ppv']:.1%}",
        )
    out = reporter_of(context).out
    out.print(table)
    if report_path is not None:
        out.print(f"Report written to {report_path}")


@risk.command("score", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option(
    "--models", "models_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option(
    "--index-date", type=INDEX_TYPE, default="2019-03-31", show_default=True, help="Features to this day."
)
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Scores (Parquet)."
)
@click.option("--tier-model", default="cpm", show_default=True, help="The model whose risk sets the tiers.")
@click.option("--memory-limit", help="DuckDB memory limit, e.g. 6GB (spills to disk beyond it).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def risk_score(
    context: click.Context,
    warehouse_path: Path,
    models_path: Path,
    index_date: dt.datetime,
    out: Path,
    tier_model: str,
    memory_limit: str | None,
    as_json: bool,
) -> None:
    """Score everyone registered on the index date: each model's risk, risk tier and Bridges to Health
    segment, by person_id (pseudonym) only."""
    from caremodels.risk import FittedModels, score

    summary = score(
        warehouse_path,
        index_date.date(),
        FittedModels.load(models_path),
        out,
        tier_model=tier_model,
        memory_limit=memory_limit,
    )
    if as_json:
        print_json(summary.to_json())
        return
    out_console = reporter_of(context).out
    out_console.print(
        f"Scored {summary.people:,} people registered on {summary.index_date}; written to {out}"
    )
    for tier, count in summary.by_tier.items():
        out_console.print(f"  tier {tier}: {count:,}")
    for segment, count in summary.by_segment.items():
        out_console.print(f"  segment {segment}: {count:,}")


@risk.command("list", context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option(
    "--models", "models_path", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True
)
@click.option(
    "--month", type=click.DateTime(formats=["%Y-%m"]), required=True, help="The list's month (YYYY-MM)."
)
@click.option(
    "--per-practice", type=click.IntRange(min=1), default=50, show_default=True, help="People per practice."
)
@click.option("--model", default="cpm", show_default=True, help="The model that ranks.")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="The list (Parquet)."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def risk_list_command(
    context: click.Context,
    warehouse_path: Path,
    models_path: Path,
    month: dt.datetime,
    per_practice: int,
    model: str,
    out: Path,
    as_json: bool,
) -> None:
    """The monthly extensive care risk list: each practice's people of highest risk on the first of the
    month, ranked, with the drivers of their risk, by person_id (pseudonym) only. The care record
    re-identifies it for each patient's own practice (care-record load-risk-list)."""
    from caremodels.risk import FittedModels
    from caremodels.risk.caseload import risk_list, write_risk_list

    listed = risk_list(
        warehouse_path,
        month.date().replace(day=1),
        FittedModels.load(models_path),
        per_practice=per_practice,
        model=model,
    )
    write_risk_list(listed, out)
    practices = int(listed["practice_code"].nunique())
    if as_json:
        print_json({"out": str(out), "people": len(listed), "practices": practices, "model": model})
        return
    reporter_of(context).out.print(
        f"Listed {len(listed):,} people at {practices:,} practices for {month:%Y-%m}; written to {out}"
    )
