"""The evaluation methods, as data: one registry that the runner (``caremodels.evaluation.evaluate``),
the command line's ``--method`` choices, the reports and the dashboard all read.

Each ``EvaluationMethod`` has an id, its names (in a sentence, as a title, as a chart label), a
plain-English description for readers of a report, a one-line help for the command line, the level
it works at (practice-month counts or people), the typed model of its diagnostics, and its runner. A
new method is its own module plus one entry here.

Boundaries: no data access of its own; runners call the method modules with the inputs the runner
assembled (``MethodInputs``). The registry is light to import (the command line reads it to build
its options): each runner imports its method's module when it runs, and ``diagnostics`` resolves
the model class when asked.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from caremodels.errors import CaremodelsError

if TYPE_CHECKING:
    import pandas as pd

    from caremodels.evaluation.matched import Design
    from caremodels.evaluation.result import Diagnostics, EvaluationResult
    from caremodels.evaluation.targets import EvaluationTarget
    from caremodels.indicators import IndicatorDefinition
    from caremodels.warehouse.store import Warehouse

__all__ = ["METHODS", "REGISTRY", "EvaluationMethod", "Method", "MethodInputs", "find_method"]

Method = Literal["baseline", "did", "matched", "synthetic"]


@dataclass(frozen=True)
class MethodInputs:
    """What a runner may use: the indicator's practice-month counts, the target, the definition,
    the warehouse (person-level methods read it) and the options of the command line."""

    counts: pd.DataFrame
    target: EvaluationTarget
    definition: IndicatorDefinition
    warehouse: Warehouse | None = None
    baseline_year: int | None = None
    comparison_year: int | None = None
    comparison_months: tuple[dt.date, dt.date] | None = None
    end: dt.date | None = None
    design: Design = "new_residents"
    bands: pd.DataFrame | None = None
    """A standardised indicator's practice-month counts by sex and age band (programme monitoring
    grows its DSR)."""


@dataclass(frozen=True)
class EvaluationMethod:
    id: Method
    name: str
    """In a sentence: "difference in differences"."""
    title: str
    """As a heading: "Difference in differences"."""
    short_name: str
    """As a chart label."""
    description: str
    """Plain English for a report's reader."""
    help: str
    """One line for the command line's --method."""
    level: Literal["practice", "person"]
    diagnostics_model: str
    """Where the typed diagnostics model lives: ``module:Class``."""
    runner: Callable[[MethodInputs], EvaluationResult]

    @property
    def diagnostics(self) -> type[Diagnostics]:
        """The Pydantic model of this method's ``EvaluationResult.diagnostics``."""
        module, _, name = self.diagnostics_model.partition(":")
        model: type[Diagnostics] = getattr(importlib.import_module(module), name)
        return model

    def run(self, inputs: MethodInputs) -> EvaluationResult:
        return self.runner(inputs)


def _baseline(inputs: MethodInputs) -> EvaluationResult:
    from caremodels.evaluation.monitoring import growth_against_rest

    target = inputs.target
    growth = growth_against_rest(
        inputs.counts,
        target.treated_practices,
        indicator=inputs.definition.id,
        area=target.area,
        rest_practices=target.control_practices,
        baseline_year=inputs.baseline_year,
        comparison_year=inputs.comparison_year,
        comparison_months=inputs.comparison_months,
        care_model=target.care_model,
        placebo_areas=target.controls,
        definition=inputs.definition,
        bands=inputs.bands,
        published_as=("site", target.site_ids[0])
        if len(target.site_ids) == 1
        else ("care_model", target.care_model),
    ).result
    return growth.model_copy(
        update={"target": {**growth.target, **target.describe()}, "comparison_pool": target.pool}
    )


def _did(inputs: MethodInputs) -> EvaluationResult:
    from caremodels.evaluation.did import difference_in_differences

    return difference_in_differences(
        inputs.counts, inputs.target, indicator=inputs.definition.id, end=inputs.end
    )


def _synthetic(inputs: MethodInputs) -> EvaluationResult:
    from caremodels.evaluation.synthetic import synthetic_control

    return synthetic_control(
        inputs.counts,
        inputs.target,
        indicator=inputs.definition.id,
        end=inputs.end,
        multiplier=inputs.definition.multiplier,
    )


def _matched(inputs: MethodInputs) -> EvaluationResult:
    from caremodels.evaluation.matched import matched_controls

    if inputs.warehouse is None:
        raise CaremodelsError("matched controls follow people: they need the warehouse")
    if inputs.target.windows:
        # Person-level events are not cut to a practice's membership months yet: refuse rather
        # than count a practice's residents outside the dates the user gave.
        raise CaremodelsError(
            "matched controls do not take a dated membership yet (practices with start_date or "
            "end_date); give those practices without dates to run them"
        )
    return matched_controls(
        inputs.warehouse, inputs.target, indicator=inputs.definition.id, end=inputs.end, design=inputs.design
    )


REGISTRY: dict[str, EvaluationMethod] = {
    method.id: method
    for method in (
        EvaluationMethod(
            id="baseline",
            name="programme monitoring",
            title="Against the rest of England (programme monitoring)",
            short_name="Programme monitoring",
            description=(
                "Programme monitoring, as NHS England did it: how fast the site's rate grew from the baseline "
                "year, against how fast it grew in the comparison practices. It removes national trends but "
                "not differences between the areas. Its interval comes from comparing each comparison area's "
                "growth with the rest in the same way (placebos), so it reflects how much areas' growth "
                "really varies."
            ),
            help="growth from the baseline year against the rest of England (programme monitoring)",
            level="practice",
            diagnostics_model="caremodels.evaluation.monitoring:BaselineDiagnostics",
            runner=_baseline,
        ),
        EvaluationMethod(
            id="did",
            name="difference in differences",
            title="Difference in differences",
            short_name="Difference in differences",
            description=(
                "Difference in differences: every practice is compared with itself before the start and "
                "with every comparison practice month by month, in one count model. The estimate is how much "
                "the site's practices changed beyond what the comparison practices changed. It relies on the "
                "site following the comparison trend had nothing happened; the event-study chart checks that "
                "for the years before the start, and says when that check is too weak to count. The interval "
                "comes from repeating the analysis with each comparison area as a pretend site (placebos), so "
                "it reflects how much areas really vary."
            ),
            help="difference in differences on the practice-by-month panel",
            level="practice",
            diagnostics_model="caremodels.evaluation.did:DidDiagnostics",
            runner=_did,
        ),
        EvaluationMethod(
            id="synthetic",
            name="synthetic control",
            title="Synthetic control",
            short_name="Synthetic control",
            description=(
                "Synthetic control: a weighted mix of comparison areas is chosen to move like the site before "
                "the start; after the start, that mix shows what would have happened to the site. The fit "
                "before the start (RMSPE: the typical gap between the site and its mix) says how far to trust "
                "it; each comparison area is also treated as a pretend site to show how big gaps get by chance."
            ),
            help="synthetic control at site level",
            level="practice",
            diagnostics_model="caremodels.evaluation.synthetic:SyntheticDiagnostics",
            runner=_synthetic,
        ),
        EvaluationMethod(
            id="matched",
            name="matched controls",
            title="Matched controls (care home residents)",
            short_name="Matched controls",
            description=(
                "Matched controls, as the Improvement Analytics Unit evaluated care-home vanguards: people "
                "who moved into the site's care homes are compared with similar people who moved into homes "
                "elsewhere at the same time, matched on age, sex, deprivation, hospital use in the year "
                "before, frailty, long-term conditions and the type of home (residential or nursing). The "
                "balance table shows how similar the two groups are (standardised differences below 0.1 are "
                "the goal). The estimate is the ratio of their rates of the indicator's events over the same "
                "months."
            ),
            help="care home residents against matched residents elsewhere (any indicator of people's events)",
            level="person",
            diagnostics_model="caremodels.evaluation.matched:MatchedDiagnostics",
            runner=_matched,
        ),
    )
}
METHODS: tuple[Method, ...] = get_args(Method)
"""Every method id (``tests/evaluation`` checks that they are the registry's)."""


def find_method(method: str) -> EvaluationMethod:
    if method not in REGISTRY:
        raise CaremodelsError(f"unknown method {method!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[method]
