"""The programme view: the vanguard sites with their populations, and coverage of England by new
care models per financial year against the goal of 50% by 2020/21.

Populations are registered list sizes of January 2021 (the shipped practice list) scaled along
England's registered-population path (``caremodels.reference.list_growth``), over the approximate
site membership (``caremodels.reference.site_memberships``). Coverage is counted lens by lens
(``caremodels.programme.coverage``): a practice counts in a financial year when a member that
includes it had started by 1 October of that year, so nothing is covered before the first vanguards
of March 2015. ``coverage`` is the vanguards lens: by default the population-based care models (MCP
and PACS, whose providers hold a population budget for the whole registered list); other types can be
added, each practice counted once however many sites it belongs to. The support log
(``caremodels.programme.support``) records what national support each site received.

Boundaries: a secondary-use, national view: reads reference data and users' files; never the
synthetic generator or the care record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from caremodels.programme.coverage import (
    CoverageLens,
    LensCoverage,
    coverage_lenses,
    lens_coverage,
    scaled_population,
    vanguards_lens,
)
from caremodels.reference import practices, site_memberships, vanguard_sites

__all__ = [
    "DEFAULT_COVERAGE_MODELS",
    "CoverageLens",
    "CoverageYear",
    "LensCoverage",
    "SiteSummary",
    "coverage",
    "coverage_lenses",
    "lens_coverage",
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
            # A practice of a user's membership missing from the January 2021 list (closed or merged
            # before then) has no 2021 list size: it adds nothing to a 2021 population.
            registered_population_2021=sum(
                sizes.get(code, 0) for code in memberships[site.id].practice_codes
            ),
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
    """The vanguards lens (``caremodels.programme.coverage``) for the chosen care model types."""
    lens = lens_coverage(
        vanguards_lens(care_models, membership_file=membership_file),
        first_year=first_year,
        last_year=last_year,
    )
    return [
        CoverageYear(
            financial_year=year.financial_year,
            england_population=year.england_population,
            covered_population=year.covered_population,
            share=year.share,
            goal_share=year.goal_share,
        )
        for year in lens.years
    ]
