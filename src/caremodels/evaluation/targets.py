"""What an evaluation compares: the treated practices of a site or care model type, grouped by site,
and the comparison practices, grouped into pseudo-sites by clinical commissioning group (CCG).

Boundaries: reads reference data only (sites, memberships, practices); the caller says which
practices its data hold. Comparison practices are those in no site of the same care model type, as
in NHS England's programme monitoring ("the rest of England"). Grouping them by CCG gives placebo
units of about the size and geography of a real site, which the placebo inference of the
difference-in-differences and synthetic control methods needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from caremodels.errors import CaremodelsError
from caremodels.reference import find_site, practices, site_memberships, vanguard_sites

__all__ = ["EvaluationTarget", "default_start", "resolve_target"]


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
) -> EvaluationTarget:
    """The treated and comparison practices of a site or care model type among ``present_practices``.
    Practices of ``exclude_sites`` (sites running something else that would move the comparison)
    are never comparisons."""
    if (site is None) == (care_model is None):
        raise CaremodelsError("give exactly one of a site or a care model type")
    present = set(present_practices)
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
    excluded = {code for name in exclude_sites for code in memberships[find_site(name).id].practice_codes}
    ccg_of = {practice.practice_code: practice.ccg_code for practice in practices()}
    controls: dict[str, list[str]] = {}
    for code in sorted(present - same_model - excluded):
        controls.setdefault(ccg_of.get(code, code), []).append(code)
    selected = max(candidate.selected for candidate in sites if candidate.id in treated)
    return EvaluationTarget(
        area=area,
        care_model=model,
        site_ids=tuple(sorted(treated)),
        treated=treated,
        controls={group: tuple(codes) for group, codes in controls.items()},
        start=start if start is not None else default_start(selected),
    )
