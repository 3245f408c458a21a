"""What an evaluation compares: the treated practices of a site or care model type, grouped by site,
and the comparison practices, grouped into pseudo-sites by clinical commissioning group (CCG).

Boundaries: reads reference data only (sites, memberships, practices); the caller says which
practices its data hold. Grouping comparison practices by CCG gives placebo units of about the size
and geography of a real site, which the placebo inference of every method needs.

The comparison pool: one rule, ``DEFAULT_POOL``, for every method and every output (the command
line, the reports, the demo and the dashboard):

- ``same_care_model`` (the default): practices in no site of the same care model type, as in NHS
  England's programme monitoring ("the rest of England");
- ``other_vanguards``: also leave out every other population-based vanguard (MCP, PACS, EHCH), which
  changed care (care homes included) for their own patients, so that the comparisons had no new
  care model at all.

Sites named in ``exclude_sites`` are left out as well. Practices named in ``exclude_practices`` (a
practice that closed, or whose tiny list makes a cell of the panel empty) are left out of the
evaluation altogether: neither treated nor comparison. The pool, with every site left out and why,
is part of each result (``EvaluationResult.comparison_pool``) and is printed wherever it is shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path
from typing import Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from caremodels.errors import CaremodelsError
from caremodels.reference import (
    check_unlisted,
    find_site,
    member_in_month,
    practices,
    site_memberships,
    vanguard_sites,
)
from caremodels.reference.models import MembershipWindow

__all__ = [
    "DEFAULT_POOL",
    "POOL_RULES",
    "ComparisonPool",
    "EvaluationTarget",
    "ExcludedSite",
    "PoolRule",
    "default_start",
    "resolve_target",
]

PoolRule = Literal["same_care_model", "other_vanguards"]
POOL_RULES: tuple[PoolRule, ...] = get_args(PoolRule)
DEFAULT_POOL: PoolRule = "same_care_model"
POOL_DESCRIPTIONS: dict[PoolRule, str] = {
    "same_care_model": "practices in no site of the same care model type (the rest of England)",
    "other_vanguards": "practices in no site of the same care model type and in no other MCP, PACS "
    "or EHCH vanguard",
}
_POPULATION_MODELS = ("MCP", "PACS", "EHCH")


class ExcludedSite(BaseModel):
    model_config = ConfigDict(frozen=True)

    site_id: str
    name: str
    practices: int
    reason: str


class ComparisonPool(BaseModel):
    """Which practices an evaluation compared the target with, and which sites it left out, why."""

    model_config = ConfigDict(frozen=True)

    rule: PoolRule
    description: str
    comparison_practices: int
    comparison_areas: int
    excluded_sites: tuple[ExcludedSite, ...]
    excluded_practices: tuple[str, ...] = ()
    """Practices left out on request (``exclude_practices``): in no group."""

    def summary(self) -> str:
        """One line for every output: the rule, the size, and the sites left out."""
        text = (
            f"comparison pool ({self.rule}): {self.description}; {self.comparison_practices} practices "
            f"in {self.comparison_areas} CCG areas"
        )
        requested = [site.name for site in self.excluded_sites if site.reason == "excluded on request"]
        others = [site.name for site in self.excluded_sites if site.reason != "excluded on request"]
        if others:
            text += f"; {len(others)} other sites left out by the rule"
        if requested:
            text += f"; also left out on request: {', '.join(requested)}"
        if self.excluded_practices:
            text += f"; practices left out on request: {', '.join(self.excluded_practices)}"
        return text


class EvaluationTarget(BaseModel):
    model_config = ConfigDict(frozen=True)

    area: str
    care_model: str
    site_ids: tuple[str, ...]
    # Treated practices present in the data, by site id.
    treated: dict[str, tuple[str, ...]]
    # Comparison practices present in the data, by CCG code (a pseudo-site each).
    controls: dict[str, tuple[str, ...]]
    # First month of the intervention.
    start: dt.date
    pool: ComparisonPool | None = None
    # For treated practices that joined or left on a date (a user's dated membership): the spans
    # their events count for the site. Practices not listed count throughout.
    windows: dict[str, tuple[MembershipWindow, ...]] = Field(default_factory=dict)
    # Warnings about the membership (practices not in the January 2021 list, counted because the
    # data hold them), for the command to print.
    membership_warnings: tuple[str, ...] = ()

    def in_membership(self, counts: pd.DataFrame) -> pd.DataFrame:
        """``counts`` (practice-month rows) without the months a dated treated practice was not a
        member: its events then count neither for the site nor, being of the site, as a comparison."""
        if not self.windows:
            return counts
        months = pd.to_datetime(counts["month"]).dt.date
        outside = pd.Series(False, index=counts.index)
        for code, spans in self.windows.items():
            mine = counts["practice_code"] == code
            if mine.any():
                outside |= mine & ~months.map(lambda month, spans=spans: member_in_month(spans, month))
        return counts[~outside]

    @property
    def treated_practices(self) -> set[str]:
        return {code for codes in self.treated.values() for code in codes}

    @property
    def control_practices(self) -> set[str]:
        return {code for codes in self.controls.values() for code in codes}

    def describe(self) -> dict[str, str]:
        described = {"area": self.area, "care_model": self.care_model}
        if len(self.site_ids) == 1:
            described["site"] = self.site_ids[0]
        return described


def default_start(selected: dt.date) -> dt.date:
    """The first month after a site was selected: the programme's support began then."""
    return dt.date(selected.year + selected.month // 12, selected.month % 12 + 1, 1)


def resolve_target(
    present_practices: Collection[str],
    *,
    site: str | None = None,
    care_model: str | None = None,
    start: dt.date | None = None,
    exclude_sites: Collection[str] = (),
    membership_file: Path | None = None,
    pool: PoolRule = DEFAULT_POOL,
    exclude_practices: Collection[str] = (),
) -> EvaluationTarget:
    """The treated and comparison practices of a site or care model type among ``present_practices``,
    by the comparison ``pool`` rule (see the module docstring). Practices of ``exclude_sites`` (sites
    running something else that would move the comparison) are never comparisons either; practices
    in ``exclude_practices`` are neither treated nor comparisons (each must be in the data)."""
    if pool not in POOL_RULES:
        raise CaremodelsError(f"unknown comparison pool {pool!r} (known: {', '.join(POOL_RULES)})")
    if (site is None) == (care_model is None):
        raise CaremodelsError("give exactly one of a site or a care model type")
    present = set(present_practices)
    dropped = tuple(sorted({code.strip().upper() for code in exclude_practices}))
    absent = [code for code in dropped if code not in present]
    if absent:
        raise CaremodelsError(f"cannot leave out practice {absent[0]}: it has no data here")
    present -= set(dropped)
    memberships = site_memberships(membership_file)
    if site is not None:
        found = find_site(site)
        sites = [found]
        model: str = found.care_model
        area = found.short_name
    else:
        model = str(care_model)
        sites = [candidate for candidate in vanguard_sites() if candidate.care_model == model]
        area = model
    same_model = {
        code
        for candidate in vanguard_sites()
        if candidate.care_model == model
        for code in memberships[candidate.id].practice_codes
    }
    treated = {
        candidate.id: tuple(sorted(set(memberships[candidate.id].practice_codes) & present))
        for candidate in sites
    }
    treated = {site_id: codes for site_id, codes in treated.items() if codes}
    if not treated:
        raise CaremodelsError(f"no practices of {area} are in this data")
    treated_ids = {candidate.id for candidate in sites}
    left_out: dict[str, tuple[str, str]] = {}
    for candidate in vanguard_sites():
        if candidate.id in treated_ids:
            continue
        if candidate.care_model == model:
            left_out[candidate.id] = (candidate.short_name, f"runs the same care model ({model})")
        elif pool == "other_vanguards" and candidate.care_model in _POPULATION_MODELS:
            left_out[candidate.id] = (
                candidate.short_name,
                f"another population-based vanguard ({candidate.care_model})",
            )
    for name in exclude_sites:
        found_site = find_site(name)
        left_out[found_site.id] = (found_site.short_name, "excluded on request")
    excluded = {code for site_id in left_out for code in memberships[site_id].practice_codes}
    ccg_of = {practice.practice_code: practice.ccg_code for practice in practices()}
    controls: dict[str, list[str]] = {}
    for code in sorted(present - same_model - excluded):
        controls.setdefault(ccg_of.get(code, code), []).append(code)
    selected = max(candidate.selected for candidate in sites if candidate.id in treated)
    described = ComparisonPool(
        rule=pool,
        description=POOL_DESCRIPTIONS[pool],
        comparison_practices=sum(len(codes) for codes in controls.values()),
        comparison_areas=len(controls),
        excluded_sites=tuple(
            ExcludedSite(
                site_id=site_id,
                name=name,
                practices=len(set(memberships[site_id].practice_codes) & present),
                reason=reason,
            )
            for site_id, (name, reason) in sorted(left_out.items())
        ),
        excluded_practices=dropped,
    )
    return EvaluationTarget(
        area=area,
        care_model=model,
        site_ids=tuple(sorted(treated)),
        treated=treated,
        controls={group: tuple(codes) for group, codes in controls.items()},
        start=start if start is not None else default_start(selected),
        pool=described,
        windows={
            code: spans
            for candidate in sites
            for code, spans in memberships[candidate.id].windows.items()
            if code in present
        },
        membership_warnings=tuple(
            check_unlisted({candidate.id: memberships[candidate.id] for candidate in sites}, present)
        ),
    )
