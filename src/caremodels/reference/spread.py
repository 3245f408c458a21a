"""Reference data for money and spread: NHS England's practice weighted populations by need
component, the budget scope of each care model, and the accountable/integrated care systems wave by
wave with the practices each covered.

Every record is validated into a typed model (``caremodels.reference.models``) when first loaded and
cached; a bad record raises ``ReferenceDataError`` naming the file, the record and the field.

Boundaries: reads only files shipped in ``reference/data`` (sources in SOURCES.md).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping

from caremodels.errors import ReferenceDataError
from caremodels.reference import _records, _validate, data_path, practices
from caremodels.reference.models import (
    NEED_COMPONENTS,
    BudgetScope,
    IntegratedCareSystem,
    NeedComponent,
    WeightedPopulation,
)

__all__ = [
    "NEED_COMPONENTS",
    "WEIGHTED_POPULATIONS_FILE",
    "BudgetScope",
    "IntegratedCareSystem",
    "NeedComponent",
    "WeightedPopulation",
    "budget_scope",
    "budget_scopes",
    "integrated_care_systems",
    "system_practices",
    "weighted_populations",
]

WEIGHTED_POPULATIONS_FILE = "weighted_populations_2024-25.csv"


@functools.cache
def weighted_populations() -> Mapping[str, WeightedPopulation]:
    """NHS England's 2024/25 practice weighted populations, by practice code."""
    path = data_path(WEIGHTED_POPULATIONS_FILE)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    records = _validate(WeightedPopulation, rows, file=path, key="weighted_populations")
    by_code: dict[str, WeightedPopulation] = {}
    for index, record in enumerate(records, start=2):
        if record.practice_code in by_code:
            raise ReferenceDataError("duplicate practice", file=path, row=index, field="practice_code")
        by_code[record.practice_code] = record
    return by_code


@functools.cache
def budget_scopes() -> Mapping[str, BudgetScope]:
    """The need components each budget-holding care model's population budget covers, by model."""
    scopes = _records("budget_scopes.yaml", "scopes", BudgetScope)
    by_model: dict[str, BudgetScope] = {}
    for scope in scopes:
        if scope.care_model in by_model:
            raise ReferenceDataError(
                f"care model {scope.care_model} has two scopes", file=data_path("budget_scopes.yaml")
            )
        by_model[scope.care_model] = scope
    return by_model


def budget_scope(care_model: str) -> BudgetScope:
    scopes = budget_scopes()
    if care_model not in scopes:
        raise ReferenceDataError(
            f"no population budget scope for care model {care_model!r} "
            f"(scopes exist for {', '.join(sorted(scopes))})",
            file=data_path("budget_scopes.yaml"),
        )
    return scopes[care_model]


@functools.cache
def integrated_care_systems() -> tuple[IntegratedCareSystem, ...]:
    """The ACS/ICS designations of 2017-2020 in order of designation. Raises on a repeated id."""
    systems = _records("integrated_care_systems.yaml", "systems", IntegratedCareSystem)
    seen: set[str] = set()
    for system in systems:
        if system.id in seen:
            raise ReferenceDataError(
                f"duplicate system id {system.id!r}", file=data_path("integrated_care_systems.yaml")
            )
        seen.add(system.id)
    return tuple(sorted(systems, key=lambda system: (system.designated, system.id)))


def system_practices(system: IntegratedCareSystem) -> tuple[str, ...]:
    """The practice codes (January 2021 list) a system's geography covers, sorted."""
    return tuple(
        sorted(
            practice.practice_code
            for practice in practices()
            if any(part.includes(practice) for part in system.parts)
        )
    )
