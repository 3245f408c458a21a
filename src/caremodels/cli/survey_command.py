"""caremodels survey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from caremodels.cli.common import CONTEXT_SETTINGS, cli, print_json, reporter_of


@cli.group(context_settings=CONTEXT_SETTINGS)
def survey() -> None:
    """Staff surveys: agreement with each statement, by team and over repeat surveys."""


def _inputs(command: Any) -> Any:
    options = [
        click.option(
            "--questionnaire",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="FHIR Questionnaire JSON (a resource, a list or a Bundle; one per survey run).",
        ),
        click.option(
            "--responses",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="FHIR QuestionnaireResponses (JSON Bundle or list, or NDJSON).",
        ),
        click.option(
            "--counts",
            type=click.Path(path_type=Path, dir_okay=False, exists=True),
            help="Instead: a CSV of survey,survey_date,team,link_id,text,agree,answered.",
        ),
        click.option(
            "--agree",
            default="agree,strongly-agree",
            show_default=True,
            help="Comma-separated answer codes that count as agreeing.",
        ),
        click.option("--json", "as_json", is_flag=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _results(questionnaire: Path | None, responses: Path | None, counts: Path | None, agree: str) -> Any:
    from caremodels.surveys import (
        counts_from_csv,
        counts_from_responses,
        load_questionnaires,
        load_responses,
        survey_results,
    )

    codes = tuple(code.strip() for code in agree.split(",") if code.strip())
    if counts is not None:
        if questionnaire or responses:
            raise click.UsageError("give either --counts or --questionnaire with --responses")
        return survey_results(counts_from_csv(counts), agree_codes=codes)
    if questionnaire is None or responses is None:
        raise click.UsageError("give --questionnaire and --responses (or --counts)")
    surveys = load_questionnaires(questionnaire)
    counted = counts_from_responses(surveys, load_responses(responses), agree_codes=codes)
    return survey_results(counted, agree_codes=codes)


def _percent(value: float | None) -> str:
    return "suppressed" if value is None else f"{value:.0%}"


@survey.command("results", context_settings=CONTEXT_SETTINGS)
@_inputs
@click.option("--team", help="Only this team (or 'all' for the whole survey).")
@click.pass_context
def survey_results_command(
    context: click.Context,
    questionnaire: Path | None,
    responses: Path | None,
    counts: Path | None,
    agree: str,
    as_json: bool,
    team: str | None,
) -> None:
    """Share agreeing with each statement, with a 95% Wilson interval and the respondents; small
    team counts suppressed."""
    results = _results(questionnaire, responses, counts, agree)
    rows = [row for row in results.results if team is None or row.team == team]
    if as_json:
        print_json(
            {**results.model_dump(mode="json"), "results": [row.model_dump(mode="json") for row in rows]}
        )
        return
    table = Table("survey", "team", "statement", "agree", "95% CI", "respondents", title="Staff survey")
    for row in rows:
        interval = "" if row.ci_low is None else f"{row.ci_low:.0%} to {row.ci_high:.0%}"
        table.add_row(
            row.survey.rsplit("|", 1)[-1],
            row.team,
            row.text,
            _percent(row.share_agreeing),
            interval,
            "" if row.respondents is None else str(row.respondents),
        )
    reporter_of(context).out.print(table)


@survey.command("compare", context_settings=CONTEXT_SETTINGS)
@_inputs
@click.option("--earlier", required=True, help="The earlier survey (url|version, or just the version).")
@click.option("--later", required=True, help="The later survey.")
@click.pass_context
def survey_compare_command(
    context: click.Context,
    questionnaire: Path | None,
    responses: Path | None,
    counts: Path | None,
    agree: str,
    as_json: bool,
    earlier: str,
    later: str,
) -> None:
    """Change in agreement between two runs of a survey, statement by statement and team by team."""
    from caremodels.surveys import compare_surveys

    results = _results(questionnaire, responses, counts, agree)
    names = sorted({row.survey for row in results.results})

    def resolve(text: str) -> str:
        matches = [name for name in names if name == text or name.rsplit("|", 1)[-1] == text]
        if len(matches) != 1:
            raise click.BadParameter(f"no single survey {text!r} (surveys: {', '.join(names)})")
        return matches[0]

    changes = compare_surveys(results, resolve(earlier), resolve(later))
    if as_json:
        print_json([change.model_dump(mode="json") for change in changes])
        return
    table = Table(
        "team", "statement", "earlier", "later", "change", "intervals overlap", title="Repeat surveys"
    )
    for change in changes:
        table.add_row(
            change.team,
            change.text,
            _percent(change.earlier.share_agreeing),
            _percent(change.later.share_agreeing),
            "" if change.change is None else f"{change.change:+.0%}",
            "" if change.intervals_overlap is None else ("yes" if change.intervals_overlap else "no"),
        )
    reporter_of(context).out.print(table)
