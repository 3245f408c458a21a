"""Site-page sections for money and spread, and the overview's coverage lenses.

Each section calls the library function the command line calls, so a page shows the number the
command prints: the population budget is ``caremodels.budget.population_budget`` (as ``caremodels
budget population --site``), the staff survey is ``caremodels.surveys.survey_results`` (as
``caremodels survey results``), and the coverage lenses are ``caremodels.programme.coverage``'s
``coverage_lenses`` and ``lens_coverage`` (as ``caremodels programme coverage``).

The national envelope and the survey files are the user's (``ProgrammeInputs``, given to
``create_app``); without them the sections say what to supply rather than showing anything made up.

Boundaries: reads reference data and the user's files through the budget, survey and programme
layers; never the warehouse or the care record; writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from caremodels.budget import PopulationBudget, load_envelope, membership_of_site, population_budget
from caremodels.dashboard.charts import Series, line_chart
from caremodels.errors import CaremodelsError
from caremodels.periods import financial_year_label
from caremodels.programme.coverage import LensCoverage, coverage_lenses, lens_coverage
from caremodels.reference import find_site, programme_constants
from caremodels.surveys import (
    SurveyResults,
    counts_from_csv,
    counts_from_responses,
    load_questionnaires,
    load_responses,
    survey_results,
)

__all__ = [
    "BudgetSection",
    "ProgrammeInputs",
    "SurveyFiles",
    "SurveySection",
    "coverage_chart",
    "coverage_trajectories",
    "site_budget",
    "site_surveys",
]


@dataclass(frozen=True)
class SurveyFiles:
    """A site's staff survey: a FHIR Questionnaire with its QuestionnaireResponses, or a CSV of counts."""

    questionnaire: Path | None = None
    responses: Path | None = None
    counts: Path | None = None


@dataclass(frozen=True)
class ProgrammeInputs:
    """The user's files behind the money and spread sections."""

    budget_envelope: Path | None = None
    """YAML of the national envelope per component (docs/examples/budget/national_envelope.yaml)."""
    budget_year: int | None = None
    """Financial year of the budget (default: the latest year the envelope holds)."""
    surveys: Mapping[str, SurveyFiles] = field(default_factory=dict)
    """Staff surveys by site id."""


@dataclass(frozen=True)
class BudgetSection:
    budget: PopulationBudget | None
    reason: str | None = None


@dataclass(frozen=True)
class SurveySection:
    results: SurveyResults | None
    reason: str | None = None


def _envelope_years(path: Path) -> list[int]:
    import yaml

    from caremodels.periods import parse_financial_year

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return sorted(parse_financial_year(str(label)) for label in (document.get("years") or {}))


def site_budget(site_id: str, inputs: ProgrammeInputs) -> BudgetSection:
    """The site's population budget (its care model's scope, registered population only), as
    ``caremodels budget population --site SITE --year YEAR --envelope FILE`` gives it."""
    if find_site(site_id).population_basis == "provider":
        return BudgetSection(
            None,
            "A population budget is for a registered list: this site is a group of hospital trusts "
            "with no registered population of its own.",
        )
    if inputs.budget_envelope is None:
        return BudgetSection(
            None,
            "No national envelope was given to the dashboard: start it with --budget-envelope FILE "
            "(see docs/budgets.md) to show the site's need-weighted budget.",
        )
    try:
        years = (
            [inputs.budget_year]
            if inputs.budget_year is not None
            else _envelope_years(inputs.budget_envelope)
        )
        if not years:
            return BudgetSection(None, f"{inputs.budget_envelope.name} holds no financial year")
        envelope = load_envelope(inputs.budget_envelope, years[-1])
        return BudgetSection(population_budget(membership_of_site(site_id), envelope))
    except CaremodelsError as error:
        return BudgetSection(None, str(error))


def site_surveys(site_id: str, inputs: ProgrammeInputs) -> SurveySection:
    """The site's staff survey results, as ``caremodels survey results`` gives them."""
    files = inputs.surveys.get(site_id)
    if files is None:
        return SurveySection(
            None,
            "No staff survey is recorded for this site: give one to the dashboard with "
            "--site-survey SITE=FILE (see docs/budgets.md).",
        )
    try:
        if files.counts is not None:
            return SurveySection(survey_results(counts_from_csv(files.counts)))
        if files.questionnaire is None or files.responses is None:
            return SurveySection(
                None, "a survey needs its questionnaire and its responses, or a CSV of counts"
            )
        counted = counts_from_responses(
            load_questionnaires(files.questionnaire), load_responses(files.responses)
        )
        return SurveySection(survey_results(counted))
    except CaremodelsError as error:
        return SurveySection(None, str(error))


def coverage_trajectories() -> list[LensCoverage]:
    """Every built-in coverage lens's population and share of England per financial year, with its
    projection at the current pace (``caremodels programme coverage --json``)."""
    return [lens_coverage(lens) for lens in coverage_lenses().values()]


def coverage_chart(trajectories: list[LensCoverage], names: tuple[str, ...]) -> str:
    """A line chart of the chosen lenses' shares of England, each with its projection, against the
    goal (50% by 2020/21)."""
    constants = programme_constants()

    def start(label: str) -> dt.date:
        return dt.date(int(label[:4]), 4, 1)

    series = []
    for lens in trajectories:
        if lens.name not in names:
            continue
        series.append(Series(lens.title, [(start(year.financial_year), year.share) for year in lens.years]))
        if lens.projection.years:
            last = lens.years[-1]
            projected = [(start(last.financial_year), last.share)]
            projected += [(start(label), share) for label, share in lens.projection.years]
            series.append(Series(f"{lens.title} (projected)", projected))
    goal = financial_year_label(constants.coverage_goal_financial_year)
    return line_chart(
        series,
        title=f"Share of England covered by new care models, by lens, against {constants.coverage_goal_share:.0%} by {goal}",
        description="Each lens's share of England's registered population by financial year, with its projection "
        "at the pace of its last years. The same figures are in the table below.",
        y_label="Share of England's registered population",
        chart_id="coverage-lenses-chart",
    )
