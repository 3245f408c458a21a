"""The evaluations a site page shows: every method of ``caremodels.evaluation`` that returns an
``EvaluationResult`` from practice-month counts, run for the site against its comparison practices.

The programme's own figure (growth against the rest of England, ``monitoring``) is shown for every
indicator it applies to. The controlled methods (difference in differences, synthetic control) cost
more, so they run for the indicators the programme monitored most closely (``CONTROLLED_INDICATORS``,
those present in the catalogue and the warehouse). A method that cannot run for a site (too few
months before the start, too few comparison areas...) is listed with its reason, never hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.evaluation.claims import BeforeAfterVersusMatched, before_after_versus_matched
from caremodels.evaluation.methods import REGISTRY, EvaluationMethod, MethodInputs
from caremodels.evaluation.result import EvaluationResult
from caremodels.evaluation.targets import EvaluationTarget, resolve_target
from caremodels.indicators import IndicatorDefinition
from caremodels.warehouse.store import Warehouse

_LOG = logging.getLogger(__name__)

__all__ = [
    "CARE_HOME_INDICATOR",
    "CONTROLLED_INDICATORS",
    "ControlledMethod",
    "care_home_comparison",
    "controlled_methods",
    "run_controlled",
]

CONTROLLED_INDICATORS = (
    "emergency_admissions",
    "ae_attendances",
    "care_home_emergency_admissions",
)
"""Emergency admissions (the funding-condition measure), A&E attendances, and for care homes the
residents' emergency admissions: the measures the programme reported on first (May 2017)."""

Runner = Callable[[pd.DataFrame, EvaluationTarget, IndicatorDefinition], EvaluationResult]


@dataclass(frozen=True)
class ControlledMethod:
    name: str
    run: Runner


def _registry_runner(method: EvaluationMethod) -> Runner:
    def run(
        counts: pd.DataFrame, target: EvaluationTarget, definition: IndicatorDefinition
    ) -> EvaluationResult:
        return method.run(MethodInputs(counts=counts, target=target, definition=definition))

    return run


def controlled_methods() -> list[ControlledMethod]:
    """The controlled methods a site page shows, in the order it shows them: the practice-level
    methods of the evaluation registry other than programme monitoring, run by the registry's own
    runners (what ``caremodels evaluate`` runs)."""
    return [
        ControlledMethod(method.name, _registry_runner(method))
        for method in REGISTRY.values()
        if method.level == "practice" and method.id != "baseline"
    ]


CARE_HOME_INDICATOR = "care_home_emergency_admissions"
"""What an enhanced health in care homes site's matched comparison measures: its residents'
emergency admissions (counted per person, on the days they lived in a home)."""


def care_home_comparison(
    warehouse_path: Path, site_id: str, *, membership_file: Path | None = None
) -> tuple[BeforeAfterVersusMatched | None, str]:
    """The site's own before-and-after figure for its care home residents beside the matched-control
    estimate (``caremodels.evaluation.before_after_versus_matched``), or None and the reason it could
    not be run. Person-level, so it reads the warehouse itself (read-only)."""
    try:
        with Warehouse(warehouse_path, read_only=True) as warehouse:
            warehouse.connection.execute("SET enable_progress_bar = false")
            return before_after_versus_matched(warehouse, site_id, membership_file=membership_file), ""
    except duckdb.Error as error:
        # A lock or I/O error names local paths and process ids: logged for the operator, never published.
        _LOG.error(
            "care-home comparison for %s could not read the warehouse: %s", site_id, type(error).__name__
        )
        return None, "the warehouse could not be read when this was prepared (see the server log)"
    except (CaremodelsError, ValueError, ArithmeticError, KeyError) as error:
        return None, str(error)


def run_controlled(
    site_id: str,
    present: Collection[str],
    indicators: dict[str, tuple[IndicatorDefinition, pd.DataFrame]],
    methods: list[ControlledMethod],
    *,
    membership_file: Path | None = None,
) -> tuple[list[EvaluationResult], list[tuple[str, str, str]]]:
    """Results, and (method, indicator, reason) for each method that could not run. The site's
    practices are those of ``membership_file`` if given (as ``caremodels evaluate`` takes it)."""
    results: list[EvaluationResult] = []
    skipped: list[tuple[str, str, str]] = []
    try:
        target = resolve_target(present, site=site_id, membership_file=membership_file)
    except (CaremodelsError, ValueError) as error:
        return [], [(method.name, "all", str(error)) for method in methods]
    for indicator_id in CONTROLLED_INDICATORS:
        if indicator_id not in indicators:
            continue
        definition, counts = indicators[indicator_id]
        for method in methods:
            try:
                # The same cut to a dated membership's months as caremodels.evaluation.evaluate makes.
                result = method.run(target.in_membership(counts), target, definition)
                results.append(
                    result.model_copy(update={"caveats": [*result.caveats, *target.membership_warnings]})
                )
            except (CaremodelsError, ValueError, ArithmeticError, KeyError) as error:
                skipped.append((method.name, indicator_id, str(error)))
    return results, skipped
