"""The programme view: the vanguard sites with their populations, and coverage of England by new
care models per financial year against the goal of 50% by 2020/21.

Populations are registered list sizes of January 2021 (the shipped practice list) scaled to each
financial year along England's registered-population path (``caremodels.synth.economy.list_scale_at``), over the approximate site membership
(``caremodels.reference.site_memberships``). A site counts towards coverage from the financial year
in which it was selected. By default coverage counts the population-based care models (MCP and
PACS, whose providers hold a population budget for the whole registered list); other types can be
added, each practice counted once however many sites it belongs to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from caremodels.periods import financial_year, financial_year_label
from caremodels.reference import (
    practices,
    programme_constants,
    site_memberships,
    vanguard_sites,
)
from caremodels.synth.economy import list_scale_at

__all__ = [
    "DEFAULT_COVERAGE_MODELS",
    "CoverageYear",
    "SiteSummary",
    "coverage",
    "practices_of_care_model",
    "scaled_population",
    "site_summaries",
]

DEFAULT_COVERAGE_MODELS = ("MCP", "PACS")


class SiteSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    short_name: str
    care_model: str
    selected: dt.date
    population_basis: str
    practices: int
    registered_population_2021: int
    membership_source: str


class CoverageYear(BaseModel):
    model_config = ConfigDict(frozen=True)

    financial_year: str
    england_population: int
    covered_population: int
    share: float
    goal_share: float | None


def scaled_population(population_2021: float, year: int) -> float:
    """A January 2021 list size scaled to the middle (1 October) of financial year ``year``, with the
    same national registered-population path as the synthetic generator (57.1 million in mid-2015,
    growing 0.8% a year)."""
    return population_2021 * list_scale_at(dt.date(year, 10, 1))


def site_summaries(membership_file: Path | None = None) -> list[SiteSummary]:
    sizes = {practice.practice_code: practice.list_size_2021 for practice in practices()}
    memberships = site_memberships(membership_file)
    return [
        SiteSummary(
            id=site.id,
            name=site.name,
            short_name=site.short_name,
            care_model=site.care_model,
            selected=site.selected,
            population_basis=site.population_basis,
            practices=len(memberships[site.id].practice_codes),
            registered_population_2021=sum(sizes[code] for code in memberships[site.id].practice_codes),
            membership_source=memberships[site.id].source,
        )
        for site in vanguard_sites()
    ]


def practices_of_care_model(care_model: str, membership_file: Path | None = None) -> set[str]:
    memberships = site_memberships(membership_file)
    return {
        code
        for site in vanguard_sites()
        if site.care_model == care_model
        for code in memberships[site.id].practice_codes
    }


def coverage(
    *,
    care_models: Collection[str] = DEFAULT_COVERAGE_MODELS,
    first_year: int = 2014,
    last_year: int | None = None,
    membership_file: Path | None = None,
) -> list[CoverageYear]:
    constants = programme_constants()
    last_year = last_year if last_year is not None else constants.coverage_goal_financial_year
    sizes = {practice.practice_code: practice.list_size_2021 for practice in practices()}
    england_2021 = sum(sizes.values())
    memberships = site_memberships(membership_file)
    years = []
    for year in range(first_year, last_year + 1):
        covered_codes = {
            code
            for site in vanguard_sites()
            if site.care_model in care_models and financial_year(site.selected) <= year
            for code in memberships[site.id].practice_codes
        }
        covered = scaled_population(sum(sizes[code] for code in covered_codes), year)
        england = scaled_population(england_2021, year)
        years.append(
            CoverageYear(
                financial_year=financial_year_label(year),
                england_population=round(england),
                covered_population=round(covered),
                share=covered / england,
                goal_share=constants.coverage_goal_share
                if year == constants.coverage_goal_financial_year
                else None,
            )
        )
    return years
