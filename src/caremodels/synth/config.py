"""Configuration of a synthetic health economy, the planted effects it carries, and the non-causal
factors (such as a transient high year) that make naive before-and-after comparisons mislead.

Effects and non-causal factors are read from one YAML file and validated into ``EffectsFile``; its
JSON Schema is published as ``docs/schemas/effects.schema.json`` (``make docs``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from caremodels.errors import DataError
from caremodels.periods import parse_month

__all__ = [
    "COHORTS",
    "MEASURES",
    "Cohort",
    "Effect",
    "EffectTarget",
    "EffectsFile",
    "Measure",
    "NonCausalFactor",
    "Scale",
    "ServiceEnrolment",
    "SynthConfig",
    "default_effects_path",
    "load_effects",
    "month_offset",
]

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
MEASURES: tuple[Measure, ...] = (
    "emergency_admissions",
    "emergency_bed_days",
    "ae_attendances",
    "first_outpatient",
    "ambulance_incidents",
    "elective_admissions",
    "prescribing_cost",
    "referrals",
)
# all: everyone registered at the target's practices. care_home_residents: while living in a care
# home. extensive_care: while aged 60 or over with two or more long-term conditions (the eligibility
# of the Fylde Coast extensive care service). extensive_care_enrolled: from the day the person was
# enrolled in the site's extensive care service (``ServiceEnrolment``: chosen for recent high use, so
# their use would fall without any effect).
Cohort = Literal["all", "care_home_residents", "extensive_care", "extensive_care_enrolled"]
COHORTS: tuple[Cohort, ...] = ("all", "care_home_residents", "extensive_care", "extensive_care_enrolled")


def month_offset(earlier: dt.date, later: dt.date) -> int:
    """Whole months from the month of ``earlier`` to the month of ``later`` (negative if before)."""
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _month_value(value: object) -> object:
    if isinstance(value, str):
        return parse_month(value[:7])
    if isinstance(value, dt.date):
        return value.replace(day=1)
    return value


class EffectTarget(BaseModel):
    """Who an effect applies to: the practices of one site or of every site of a care model type,
    narrowed to a cohort of their patients."""

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
    """A planted change: the rate of ``measure`` for ``target`` is multiplied by 1 + relative_change.

    ``emergency_bed_days`` multiplies the length of stay of emergency spells, so a site's bed days
    change by the product of its emergency admissions and bed-day factors (fewer admissions already
    mean fewer bed days). ``referrals`` falls through advice and guidance (see ``docs``).
    """

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
        return _month_value(value)

    def multiplier(self, month: dt.date) -> float:
        """Rate multiplier in a month: 1 before start, phased in linearly over ramp_months."""
        months_since = month_offset(self.start, month)
        if months_since < 0:
            return 1.0
        share = 1.0 if self.ramp_months == 0 else min(1.0, (months_since + 1) / self.ramp_months)
        return 1.0 + self.relative_change * share


class NonCausalFactor(BaseModel):
    """A change in a measure's rate that no care model caused, from ``start`` to ``end`` (months,
    inclusive): for example the transient high year for which care homes were chosen. It acts on the
    world with and without the effects alike, so ``truth.json`` reports it apart from the effects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: EffectTarget
    measure: Measure
    relative_change: float = Field(gt=-1.0, le=5.0)
    start: dt.date
    end: dt.date
    reason: Literal["regression_to_the_mean", "case_mix", "coding_change", "other"] = "other"
    note: str = ""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        return _month_value(value)

    @model_validator(mode="after")
    def _period(self) -> NonCausalFactor:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def multiplier(self, month: dt.date) -> float:
        return 1.0 + self.relative_change if self.start <= month <= self.end else 1.0


class ServiceEnrolment(BaseModel):
    """Who a site enrols in its extensive care service, as such services choose: each month from
    ``start`` to ``end``, every registered person not yet enrolled who is ``min_age`` or over, has
    ``min_conditions`` or more long-term conditions and had ``min_emergency_admissions`` or more
    emergency admissions in the ``lookback_months`` before is enrolled on the first of the month, and
    stays enrolled until death or leaving the practice. Chosen for a high recent year, their use would
    fall without any effect (regression to the mean). Enrolment is decided on the emergency
    admissions of the world without the effects, so that both worlds enrol the same people; before any
    effect starts the two worlds are the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str
    start: dt.date
    end: dt.date
    min_age: int = Field(default=60, ge=0, le=110)
    min_conditions: int = Field(default=2, ge=0, le=13)
    min_emergency_admissions: int = Field(default=2, ge=1, le=50)
    lookback_months: int = Field(default=12, ge=1, le=36)
    note: str = ""

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        return _month_value(value)

    @model_validator(mode="after")
    def _period(self) -> ServiceEnrolment:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class EffectsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    effects: tuple[Effect, ...] = ()
    non_causal: tuple[NonCausalFactor, ...] = ()
    enrolments: tuple[ServiceEnrolment, ...] = ()

    @model_validator(mode="after")
    def _enrolled_cohorts(self) -> EffectsFile:
        # An enrolled cohort exists only where a site enrols people; it is decided from drawn events,
        # after the expected counts that non-causal factors change, so those cannot target it.
        sites = {enrolment.site for enrolment in self.enrolments}
        for effect in self.effects:
            if effect.target.cohort != "extensive_care_enrolled":
                continue
            if effect.target.site not in sites:
                raise ValueError(
                    f"an effect on the extensive_care_enrolled cohort needs an enrolment for its site "
                    f"({effect.target.site or effect.target.care_model})"
                )
            # Prescribing is by practice and referrals act through advice and guidance: neither is
            # drawn per person with the enrolment known.
            if effect.measure in ("prescribing_cost", "referrals"):
                raise ValueError(
                    f"an effect on the extensive_care_enrolled cohort cannot change {effect.measure}"
                )
        for factor in self.non_causal:
            if factor.target.cohort == "extensive_care_enrolled":
                raise ValueError("a non-causal factor cannot target the extensive_care_enrolled cohort")
        if len(sites) < len(self.enrolments):
            raise ValueError("at most one enrolment per site")
        return self


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
        if month_offset(self.start, self.end) >= 240:
            raise ValueError("the period is at most 20 years")
        return self
