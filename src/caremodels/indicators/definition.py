"""Indicator definitions: declarative YAML validated into typed models. No SQL in definitions.

The JSON Schema of a definition is published as ``docs/schemas/indicator.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caremodels.errors import ReferenceDataError

__all__ = [
    "Denominator",
    "Filter",
    "Governance",
    "IndicatorDefinition",
    "Numerator",
    "catalogue",
    "find_indicator",
    "load_definition",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Filter(_Model):
    """Keep events whose ``field`` is one of ``values``, or in a named group of reference codes."""

    field: str
    values: tuple[str, ...] = ()
    admission_method_group: Literal["elective", "emergency", "maternity", "other"] | None = None


class Numerator(_Model):
    table: Literal["apc_spells"]
    date_field: str = Field(description="The event date that places an event in a period.")
    filters: tuple[Filter, ...] = ()


class Denominator(_Model):
    kind: Literal["registered_population"]


class Governance(_Model):
    source: str
    author: str
    checked_by: str
    review_date: dt.date


class IndicatorDefinition(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    numerator: Numerator
    denominator: Denominator
    standardisation: Literal["none", "esp2013"] = "none"
    direction_of_improvement: Literal["lower", "higher", "neither"]
    unit: str
    multiplier: int = Field(gt=0)
    governance: Governance


def load_definition(path: Path) -> IndicatorDefinition:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return IndicatorDefinition.model_validate(document)
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"cannot read indicator definition: {error}", file=path) from error
    except ValidationError as error:
        first = error.errors()[0]
        raise ReferenceDataError(
            first["msg"], file=path, field=".".join(str(part) for part in first["loc"])
        ) from error


@functools.cache
def catalogue() -> tuple[IndicatorDefinition, ...]:
    """Every shipped indicator definition, sorted by id."""
    folder = Path(str(resources.files("caremodels.indicators") / "definitions"))
    definitions = [load_definition(path) for path in sorted(folder.glob("*.yaml"))]
    ids = [definition.id for definition in definitions]
    if len(set(ids)) != len(ids):
        raise ReferenceDataError("two indicator definitions share an id", file=folder)
    return tuple(sorted(definitions, key=lambda definition: definition.id))


def find_indicator(indicator_id: str) -> IndicatorDefinition:
    for definition in catalogue():
        if definition.id == indicator_id:
            return definition
    known = ", ".join(definition.id for definition in catalogue())
    raise ReferenceDataError(f"no indicator {indicator_id!r} (known: {known})")
