"""One entry point for every evaluation method: what the command line, the reports, the demo and
the dashboard show for the same question comes from ``evaluate`` (or, where the counts and the
target are already at hand, from the same registry runners it calls).

Boundaries: opens nothing itself; takes an open ``Warehouse``, reads an indicator's practice-by-month
counts through ``caremodels.indicators.practice_month_counts`` (or takes them ready-made), resolves
the site or care model type into treated and comparison practices by one comparison-pool rule
(``caremodels.evaluation.targets``), and runs one method of the registry
(``caremodels.evaluation.methods``). Bad requests (unknown method, a site without practices, too
little data) raise ``CaremodelsError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.evaluation.matched import Design
from caremodels.evaluation.methods import METHODS, Method, MethodInputs, find_method
from caremodels.evaluation.result import EvaluationResult
from caremodels.evaluation.targets import DEFAULT_POOL, EvaluationTarget, PoolRule, resolve_target
from caremodels.indicators import find_indicator, practice_month_band_counts, practice_month_counts
from caremodels.warehouse.store import Warehouse

__all__ = ["METHODS", "Method", "evaluate", "indicator_counts", "target_for"]


def indicator_counts(warehouse: Warehouse, indicator: str) -> pd.DataFrame:
    """Practice-by-month numerator and denominator of an indicator, the denominator in list-size
    units as every method reads it (a month's person-years times 12): the mid-month list size for
    the registered population; for care-home residents, resident-years times 12 (the mean number of
    residents in the month), so that residents' rates come out per resident-year, not 12 times it."""
    definition = find_indicator(indicator)
    counts = practice_month_counts(warehouse, definition)
    if definition.denominator.kind == "care_home_resident_years":
        counts = counts.assign(denominator=counts["denominator"] * 12)
    return counts


def target_for(
    counts: pd.DataFrame,
    *,
    site: str | None = None,
    care_model: str | None = None,
    start: dt.date | None = None,
    exclude_sites: Sequence[str] = (),
    membership_file: Path | None = None,
    pool: PoolRule = DEFAULT_POOL,
    exclude_practices: Sequence[str] = (),
) -> EvaluationTarget:
    return resolve_target(
        set(counts["practice_code"]),
        site=site,
        care_model=care_model,
        start=start,
        exclude_sites=exclude_sites,
        membership_file=membership_file,
        pool=pool,
        exclude_practices=exclude_practices,
    )


def evaluate(
    warehouse: Warehouse,
    *,
    indicator: str,
    method: str,
    site: str | None = None,
    care_model: str | None = None,
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    comparison_months: tuple[dt.date, dt.date] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    design: Design = "new_residents",
    exclude_sites: Sequence[str] = (),
    pool: PoolRule = DEFAULT_POOL,
    counts: pd.DataFrame | None = None,
    membership_file: Path | None = None,
    exclude_practices: Sequence[str] = (),
    bands: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Run one method for a site or care model type; ``counts`` (from ``indicator_counts``) saves
    recomputing the indicator. The result carries the comparison pool it used; practices in
    ``exclude_practices`` are left out of the evaluation (``resolve_target``)."""
    chosen = find_method(method)
    definition = find_indicator(indicator)
    if counts is None:
        counts = indicator_counts(warehouse, indicator)
    target = target_for(
        counts,
        site=site,
        care_model=care_model,
        start=start,
        exclude_sites=exclude_sites,
        membership_file=membership_file,
        pool=pool,
        exclude_practices=exclude_practices,
    )
    if chosen.id == "baseline" and bands is None:
        # Programme monitoring grows a standardised indicator's DSR: it needs the banded counts.
        bands = practice_month_band_counts(warehouse, definition)
    inputs = MethodInputs(
        # A dated membership's practices count for the site only in their months (one rule, here).
        counts=target.in_membership(counts),
        target=target,
        definition=definition,
        warehouse=warehouse,
        baseline_year=baseline_year,
        comparison_year=comparison_year,
        comparison_months=comparison_months,
        end=end,
        design=design,
        bands=bands,
    )
    try:
        result = chosen.run(inputs)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        raise CaremodelsError(f"{method}: {error}") from error
    return result.model_copy(
        update={"comparison_pool": target.pool, "caveats": [*result.caveats, *target.membership_warnings]}
    )
