"""Shared analysis steps used by the command line, the demo and the dashboard: practice groups for a
care model or site within a warehouse, and the growth comparison against the rest of England."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.evaluation.monitoring import GrowthComparison, growth_against_rest
from caremodels.indicators import find_indicator, practice_month_counts
from caremodels.programme import practices_of_care_model
from caremodels.reference import find_site, site_memberships
from caremodels.warehouse.store import Warehouse

__all__ = ["compare_with_rest", "indicator_counts"]


def indicator_counts(warehouse: Warehouse, indicator_id: str) -> pd.DataFrame:
    return practice_month_counts(warehouse, find_indicator(indicator_id))


def compare_with_rest(
    counts: pd.DataFrame,
    *,
    indicator_id: str,
    care_model: str | None = None,
    site: str | None = None,
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    membership_file: Path | None = None,
) -> GrowthComparison:
    """Growth of a care model type or a site against the rest of England (the practices in the
    warehouse outside every site of that care model type)."""
    present = set(counts["practice_code"])
    if site is not None:
        found = find_site(site)
        area_practices = set(site_memberships(membership_file)[found.id].practice_codes) & present
        model: str = found.care_model
        area = found.short_name
    elif care_model is not None:
        model, area = care_model, care_model
        area_practices = practices_of_care_model(care_model, membership_file) & present
    else:
        raise CaremodelsError("give a care model type or a site")
    rest = present - practices_of_care_model(model, membership_file)
    if not area_practices:
        raise CaremodelsError(f"no practices of {area} are in this warehouse")
    try:
        return growth_against_rest(
            counts,
            area_practices,
            indicator=indicator_id,
            area=area,
            rest_practices=rest,
            baseline_year=baseline_year,
            comparison_year=comparison_year,
            care_model=model,
        )
    except ValueError as error:
        raise CaremodelsError(str(error)) from error
