"""One entry point for every evaluation method, as the command line, the reports and the demo call it.

Boundaries: opens nothing itself; takes an open ``Warehouse``, reads an indicator's practice-by-month
counts through ``caremodels.indicators.practice_month_counts`` (or takes them ready-made), resolves
the site or care model type into treated and comparison practices, and runs one method. Bad
requests (unknown method, a site without practices, too little data) raise ``CaremodelsError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.evaluation.did import difference_in_differences
from caremodels.evaluation.matched import Design, matched_controls
from caremodels.evaluation.monitoring import growth_against_rest
from caremodels.evaluation.result import EvaluationResult
from caremodels.evaluation.synthetic import synthetic_control
from caremodels.evaluation.targets import EvaluationTarget, resolve_target
from caremodels.indicators import find_indicator, practice_month_counts
from caremodels.warehouse.store import Warehouse

__all__ = ["METHODS", "Method", "evaluate", "indicator_counts", "target_for"]

Method = Literal["baseline", "did", "matched", "synthetic"]
METHODS: tuple[Method, ...] = get_args(Method)


def indicator_counts(warehouse: Warehouse, indicator: str) -> pd.DataFrame:
    """Practice-by-month numerator and denominator of an indicator."""
    return practice_month_counts(warehouse, find_indicator(indicator))


def target_for(
    counts: pd.DataFrame,
    *,
    site: str | None = None,
    care_model: str | None = None,
    start: dt.date | None = None,
    exclude_sites: Sequence[str] = (),
    membership_file: Path | None = None,
) -> EvaluationTarget:
    return resolve_target(
        set(counts["practice_code"]),
        site=site,
        care_model=care_model,
        start=start,
        exclude_sites=exclude_sites,
        membership_file=membership_file,
    )


def evaluate(
    warehouse: Warehouse,
    *,
    indicator: str,
    method: Method,
    site: str | None = None,
    care_model: str | None = None,
    baseline_year: int | None = None,
    comparison_year: int | None = None,
    comparison_months: tuple[dt.date, dt.date] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    design: Design = "new_residents",
    exclude_sites: Sequence[str] = (),
    counts: pd.DataFrame | None = None,
    membership_file: Path | None = None,
) -> EvaluationResult:
    """Run one method for a site or a care model type; ``counts`` saves recomputing the indicator."""
    if method not in METHODS:
        raise CaremodelsError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if counts is None:
        counts = indicator_counts(warehouse, indicator)
    target = target_for(
        counts,
        site=site,
        care_model=care_model,
        start=start,
        exclude_sites=exclude_sites,
        membership_file=membership_file,
    )
    try:
        if method == "baseline":
            growth = growth_against_rest(
                counts,
                target.treated_practices,
                indicator=indicator,
                area=target.area,
                rest_practices=target.control_practices,
                baseline_year=baseline_year,
                comparison_year=comparison_year,
                comparison_months=comparison_months,
                care_model=target.care_model,
                placebo_areas=target.controls,
            ).result
            return growth.model_copy(update={"target": {**growth.target, **target.describe()}})
        if method == "did":
            return difference_in_differences(counts, target, indicator=indicator, end=end)
        if method == "synthetic":
            return synthetic_control(counts, target, indicator=indicator, end=end)
        return matched_controls(warehouse, target, indicator=indicator, end=end, design=design)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        raise CaremodelsError(f"{method}: {error}") from error
