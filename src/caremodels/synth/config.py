"""Configuration of a synthetic health economy, and the planted effects it carries.

Effects are read from YAML and validated into ``EffectsFile``; its JSON Schema is published as
``docs/schemas/effects.schema.json`` (``make docs``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from caremodels.errors import DataError
from caremodels.periods import parse_month

Scale = Literal["tiny", "region", "england"]
Measure = Literal[
    "emergency_admissions",
    "emergency_bed_days",
    "ae_attendances",
    "first_outpatient",
    "ambulance_incidents",
    "elective_admissions",
    "prescribing_cost",
    "referrals",
]
Cohort = Literal["all", "care_home_residents"]


class EffectTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    care_model: Literal["MCP", "PACS", "EHCH", "UEC", "ACC"] | None = None
    site: str | None = None
    cohort: Cohort = "all"

    @model_validator(mode="after")
    def _one_of(self) -> EffectTarget:
        if (self.care_model is None) == (self.site is None):
            raise ValueError("give exactly one of care_model or site")
        return self


class Effect(BaseModel):
    """A planted change: the rate of ``measure`` for ``target`` is multiplied by 1 + relative_change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: EffectTarget
    measure: Measure
    relative_change: float = Field(gt=-1.0, le=5.0)
    start: dt.date
    ramp_months: int = Field(default=0, ge=0, le=60)
    note: str = ""

    @field_validator("start", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_month(value[:7])
        return value

    def multiplier(self, month: dt.date) -> float:
        """Rate multiplier in a month: 1 before start, phased in linearly over ramp_months."""
        months_since = (month.year - self.start.year) * 12 + month.month - self.start.month
        if months_since < 0:
            return 1.0
        share = 1.0 if self.ramp_months == 0 else min(1.0, (months_since + 1) / self.ramp_months)
        return 1.0 + self.relative_change * share


class EffectsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    effects: tuple[Effect, ...] = ()


def load_effects(path: Path) -> EffectsFile:
    """Read and validate an effects YAML file; errors name the file and the field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read effects file: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    try:
        return EffectsFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise DataError(first["msg"], file=path, field=field) from error


def default_effects_path() -> Path:
    return Path(__file__).with_name("default_effects.yaml")


class SynthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: Scale = "tiny"
    fraction: float = Field(default=1.0, gt=0, le=1)
    seed: int = 20150310
    start: dt.date = dt.date(2013, 4, 1)
    end: dt.date = dt.date(2020, 3, 1)
    effects: EffectsFile = EffectsFile()

    @model_validator(mode="after")
    def _period(self) -> SynthConfig:
        if self.start.day != 1 or self.end.day != 1:
            raise ValueError("start and end are months (first day of the month)")
        if self.end < self.start:
            raise ValueError("end is before start")
        return self
