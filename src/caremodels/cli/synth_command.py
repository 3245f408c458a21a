"""caremodels synth: generate a synthetic health economy (thin: parses, calls caremodels.synth, prints)."""

from __future__ import annotations

from pathlib import Path

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    cli,
    reporter_of,
)
from caremodels.periods import parse_month


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
    help="YAML file of planted effects and non-causal factors (replaces the defaults; "
    "schema in docs/schemas/effects.schema.json).",
)
@click.option("--no-effects", is_flag=True, help="Plant no effects and no non-causal factors.")
@click.option(
    "--format", "file_format", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@click.option("--fhir", is_flag=True, help="Also write a FHIR R4 NDJSON export of a sample of patients.")
@click.option(
    "--fhir-patients",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="About how many patients the FHIR export holds (with --fhir).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Processes generating practices in parallel (the files are the same for any number).",
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
    fhir: bool,
    fhir_patients: int,
    workers: int,
    out_dir: Path,
) -> None:
    """Generate a synthetic health economy with known, planted care-model effects.

    Writes one HES-like file per table, truth.json (the effects and the events with and without
    them), unregistered_population.csv and manifest.json; see docs/synthetic-data.md.
    """
    from caremodels.synth import EffectsFile, SynthConfig, default_effects_path, generate, load_effects

    if effects_file and no_effects:
        raise click.UsageError("give --effects or --no-effects, not both")
    try:
        start_month, end_month = parse_month(start), parse_month(end)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    if end_month < start_month:
        raise click.BadParameter(f"--end {end} is before --start {start}")
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
    reporter = reporter_of(context)
    with reporter.step("Generating practices", total=None) as update:
        result = generate(
            config,
            out_dir,
            file_format="csv" if file_format == "csv" else "parquet",
            progress=update,
            fhir_patients=fhir_patients if fhir else 0,
            workers=workers,
        )
    reporter.out.print(
        f"{result.people:,} people at {result.practices} practices; "
        + ", ".join(f"{count:,} {table}" for table, count in result.events.items())
        + f"; written to {out_dir}"
    )
