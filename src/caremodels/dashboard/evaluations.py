"""The evaluations a site page shows: every method of ``caremodels.evaluation`` that returns an
``EvaluationResult`` from practice-month counts, run for the site against its comparison practices.

The programme's own figure (growth against the rest of England, ``monitoring``) is shown for every
indicator it applies to. The controlled methods (difference in differences, synthetic control) cost
more, so they run for the indicators the programme monitored most closely (``CONTROLLED_INDICATORS``,
those present in the catalogue and the warehouse). A method that cannot run for a site (too few
months before the start, too few comparison areas...) is listed with its reason, never hidden.
A method missing from the installed ``caremodels.evaluation`` is simply not offered.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.evaluation.result import EvaluationResult
from caremodels.indicators import IndicatorDefinition

__all__ = ["CONTROLLED_INDICATORS", "ControlledMethod", "controlled_methods", "run_controlled"]

CONTROLLED_INDICATORS = (
    "emergency_admissions",
    "ae_attendances",
    "care_home_emergency_admissions",
)
"""Emergency admissions (the funding-condition measure), A&E attendances, and for care homes the
residents' emergency admissions: the measures the programme reported on first (May 2017)."""

Runner = Callable[[pd.DataFrame, Any, IndicatorDefinition], EvaluationResult]


@dataclass(frozen=True)
class ControlledMethod:
    name: str
    run: Runner


def controlled_methods() -> list[ControlledMethod]:
    """The controlled methods this installation of caremodels provides."""
    methods: list[ControlledMethod] = []
    try:
        from caremodels.evaluation.did import difference_in_differences
    except ImportError:
        pass
    else:

        def did(counts: pd.DataFrame, target: Any, definition: IndicatorDefinition) -> EvaluationResult:
            return difference_in_differences(counts, target, indicator=definition.id)

        methods.append(ControlledMethod("difference in differences", did))
    try:
        from caremodels.evaluation.synthetic import synthetic_control
    except ImportError:
        pass
    else:

        def synthetic(counts: pd.DataFrame, target: Any, definition: IndicatorDefinition) -> EvaluationResult:
            return synthetic_control(
                counts, target, indicator=definition.id, multiplier=definition.multiplier
            )

        methods.append(ControlledMethod("synthetic control", synthetic))
    return methods


def run_controlled(
    site_id: str,
    present: Collection[str],
    indicators: dict[str, tuple[IndicatorDefinition, pd.DataFrame]],
    methods: list[ControlledMethod],
) -> tuple[list[EvaluationResult], list[tuple[str, str, str]]]:
    """Results, and (method, indicator, reason) for each method that could not run."""
    try:
        from caremodels.evaluation.targets import resolve_target
    except ImportError:
        return [], []
    results: list[EvaluationResult] = []
    skipped: list[tuple[str, str, str]] = []
    try:
        target = resolve_target(present, site=site_id)
    except (CaremodelsError, ValueError) as error:
        return [], [(method.name, "all", str(error)) for method in methods]
    for indicator_id in CONTROLLED_INDICATORS:
        if indicator_id not in indicators:
            continue
        definition, counts = indicators[indicator_id]
        for method in methods:
            try:
                results.append(method.run(counts, target, definition))
            except (CaremodelsError, ValueError, ArithmeticError, KeyError) as error:
                skipped.append((method.name, indicator_id, str(error)))
    return results, skipped
