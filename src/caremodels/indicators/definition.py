"""Indicator definitions: declarative YAML validated into typed models. No SQL in definitions.

A definition says which events are counted (``numerator``: a warehouse table, the date that places
an event in a period, conditions on its fields, optionally a linked event of the same person and the
care-home cohort), what they are counted against (``denominator``: the registered population,
care-home resident-years, or other events), and how the statistic is formed (a rate or a
proportion, crude or directly standardised to ESP2013 by age and sex). Validation checks every field
name against the canonical warehouse schema, so a definition that loads can be computed by every
engine. The JSON Schema is published as ``docs/schemas/indicator.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from caremodels.errors import ReferenceDataError
from caremodels.indicators.codelists import code_lists
from caremodels.indicators.tables import EVENT_TABLES, EventTableName, field_type
from caremodels.reference import did_you_mean, operational_standards
from caremodels.warehouse.schema import SOURCE_TABLES

__all__ = [
    "AdmissionMethodGroup",
    "CareHomeResidentYears",
    "Condition",
    "Denominator",
    "EventDenominator",
    "EventSelection",
    "Governance",
    "IndicatorDefinition",
    "LinkedEvent",
    "Numerator",
    "RegisteredPopulation",
    "catalogue",
    "find_indicator",
    "load_definition",
]

AdmissionMethodGroup = Literal["elective", "emergency", "maternity", "other"]
Topic = Literal[
    "admitted patient care",
    "A&E",
    "outpatients",
    "ambulance",
    "care homes",
    "prescribing",
    "referrals",
    "deaths",
]
_NUMERIC = ("integer", "float")
_DATES = ("date", "timestamp")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Model):
    """Keep the events whose ``field`` passes one test. Give exactly one of: ``in`` (one of these
    values), ``not_in`` (none of these values; a missing value passes), ``admission_method_groups``
    (HES admission method codes of these groups), ``code_list`` (starts with a code of a shipped
    list), ``min``/``max`` (a number within these inclusive bounds), or ``present`` (the field is
    filled in, or is missing). A missing value fails every test except ``not_in`` and
    ``present: false``."""

    field: str
    in_: tuple[str, ...] | None = Field(default=None, alias="in", min_length=1)
    not_in: tuple[str, ...] | None = Field(default=None, min_length=1)
    admission_method_groups: tuple[AdmissionMethodGroup, ...] | None = Field(default=None, min_length=1)
    code_list: str | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        tests = [
            self.in_ is not None,
            self.not_in is not None,
            self.admission_method_groups is not None,
            self.code_list is not None,
            self.min is not None or self.max is not None,
            self.present is not None,
        ]
        if sum(tests) != 1:
            raise ValueError(
                f"condition on {self.field!r} needs exactly one of in, not_in, "
                "admission_method_groups, code_list, min/max or present"
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"condition on {self.field!r} has min above max")
        return self


class LinkedEvent(_Model):
    """Keep an event only if the same person has a linked event: a row of ``table`` passing
    ``where`` whose ``linked_date`` falls between ``min_days`` and ``max_days`` days (inclusive)
    after this event's ``this_date`` (negative days mean before). An event never links to itself."""

    description: str
    table: EventTableName
    where: tuple[Condition, ...] = ()
    this_date: str
    linked_date: str
    min_days: int
    max_days: int

    @model_validator(mode="after")
    def _window(self) -> LinkedEvent:
        if self.min_days > self.max_days:
            raise ValueError("linked event window has min_days above max_days")
        return self


class EventSelection(_Model):
    """Which events of a table are counted, and the date that places each in a month."""

    table: EventTableName
    date: str = Field(description="The event date or time that places an event in a period.")
    cohort: Literal["all_patients", "care_home_residents"] = Field(
        default="all_patients",
        description=(
            "all_patients: every event, at the practice recorded on the event. care_home_residents: only "
            "events on a day the person was resident in a care home, at the practice aligned with the home."
        ),
    )
    where: tuple[Condition, ...] = ()
    linked: LinkedEvent | None = None


class Numerator(EventSelection):
    measure: Literal["count", "bed_days", "sum"] = Field(
        default="count",
        description=(
            "count: one per event. bed_days: the spell's days from admission to discharge (admitted "
            "patient care only). sum: the total of the numeric field sum_of."
        ),
    )
    sum_of: str | None = None


class RegisteredPopulation(_Model):
    """People registered with the area's practices on the 15th of each month (mid-month list
    size), averaged over the months of a period; optionally only those of an age at mid-month."""

    kind: Literal["registered_population"]
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)


class CareHomeResidentYears(_Model):
    """Days that people spent resident in care homes aligned with the area's practices, in
    years (days / 365.25)."""

    kind: Literal["care_home_resident_years"]


class EventDenominator(EventSelection):
    """A count of events (attendances, referrals, requests, spells...)."""

    kind: Literal["events"]


Denominator = Annotated[
    RegisteredPopulation | CareHomeResidentYears | EventDenominator, Field(discriminator="kind")
]


class Governance(_Model):
    source: str
    author: str
    checked_by: str
    review_date: dt.date
    notes: str = ""


class IndicatorDefinition(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    description: str
    topic: Topic
    numerator: Numerator
    denominator: Denominator
    statistic: Literal["rate", "proportion"] = Field(
        default="rate",
        description=(
            "rate: numerator / denominator x multiplier (Byar's or exact Poisson interval for counts, "
            "Dobson's for a standardised rate, none for bed days or sums). proportion: numerator events "
            "are a subset of the denominator events (Wilson interval)."
        ),
    )
    standardisation: Literal["none", "esp2013"] = Field(
        default="none",
        description="esp2013: directly standardised by five-year age band (to 90+) and sex to ESP2013.",
    )
    direction_of_improvement: Literal["lower", "higher", "neither"]
    unit: str
    multiplier: int = Field(gt=0)
    standard: str | None = Field(
        default=None,
        description=(
            "Code of the operational standard the value is held to (reference/data/"
            "operational_standards.yaml, e.g. ae_4_hour); its threshold times the multiplier is the "
            "target of SPC charts and their assurance icon."
        ),
    )
    governance: Governance

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorDefinition:
        _check_selection(self.numerator, "numerator")
        _check_measure(self.numerator)
        if isinstance(self.denominator, EventDenominator):
            _check_selection(self.denominator, "denominator")
        if isinstance(self.denominator, RegisteredPopulation):
            low, high = self.denominator.min_age, self.denominator.max_age
            if low is not None and high is not None and low > high:
                raise ValueError("denominator min_age is above max_age")
        if self.statistic == "proportion":
            _check_proportion(self)
        if self.standardisation == "esp2013":
            _check_standardisable(self)
        if self.standard is not None and self.standard not in {one.code for one in operational_standards()}:
            known = ", ".join(sorted(one.code for one in operational_standards()))
            raise ValueError(f"standard {self.standard!r} is not an operational standard (known: {known})")
        return self

    @property
    def target(self) -> float | None:
        """The value the standard asks for, on the indicator's scale (e.g. 95.0 for 95% with
        multiplier 100), or None without a standard."""
        if self.standard is None:
            return None
        threshold = next(one.threshold for one in operational_standards() if one.code == self.standard)
        return threshold * self.multiplier

    @property
    def interval_method(self) -> Literal["byar_or_exact", "dobson", "wilson", "none"]:
        """How the confidence interval is computed (see ``caremodels.stats``)."""
        if self.statistic == "proportion":
            return "wilson"
        if self.numerator.measure != "count":
            return "none"
        return "dobson" if self.standardisation == "esp2013" else "byar_or_exact"


def _check_condition(table: str, condition: Condition, where: str) -> None:
    try:
        kind = field_type(table, condition.field)
    except KeyError:
        raise ValueError(f"{where}: {table} has no field {condition.field!r}") from None
    if (condition.min is not None or condition.max is not None) and kind not in _NUMERIC:
        raise ValueError(f"{where}: min/max need a numeric field, {condition.field!r} is {kind}")
    if condition.admission_method_groups is not None and condition.field != "admission_method":
        raise ValueError(f"{where}: admission_method_groups applies to admission_method only")
    if condition.code_list is not None:
        if condition.code_list not in code_lists():
            raise ValueError(f"{where}: no code list {condition.code_list!r}")
        if code_lists()[condition.code_list].field != condition.field:
            raise ValueError(f"{where}: code list {condition.code_list!r} is not for {condition.field!r}")
    values = condition.in_ or condition.not_in or ()
    if values and EVENT_TABLES[table].derived_field(condition.field) is None:
        allowed = SOURCE_TABLES[table].column(condition.field).codes
        unknown = [value for value in values if allowed and value not in allowed]
        if unknown:
            raise ValueError(f"{where}: {condition.field} has no code(s) {', '.join(unknown)}")


def _check_date(table: str, name: str, where: str) -> None:
    try:
        kind = field_type(table, name)
    except KeyError:
        raise ValueError(f"{where}: {table} has no field {name!r}") from None
    if kind not in _DATES:
        raise ValueError(f"{where}: {name!r} is not a date or time")


def _check_selection(selection: EventSelection, where: str) -> None:
    _check_date(selection.table, selection.date, f"{where}.date")
    for condition in selection.where:
        _check_condition(selection.table, condition, f"{where}.where")
    if selection.cohort == "care_home_residents" and not EVENT_TABLES[selection.table].has_person:
        raise ValueError(f"{where}: {selection.table} has no people, so no care-home cohort")
    linked = selection.linked
    if linked is not None:
        if not (EVENT_TABLES[selection.table].has_person and EVENT_TABLES[linked.table].has_person):
            raise ValueError(f"{where}.linked: both tables must hold people")
        _check_date(selection.table, linked.this_date, f"{where}.linked.this_date")
        _check_date(linked.table, linked.linked_date, f"{where}.linked.linked_date")
        for condition in linked.where:
            _check_condition(linked.table, condition, f"{where}.linked.where")


def _check_measure(numerator: Numerator) -> None:
    if numerator.measure == "bed_days" and numerator.table != "apc_spells":
        raise ValueError("numerator: bed_days can only be measured on apc_spells")
    if numerator.measure == "sum":
        if numerator.sum_of is None:
            raise ValueError("numerator: measure sum needs sum_of")
        if field_type(numerator.table, numerator.sum_of) not in _NUMERIC:
            raise ValueError(f"numerator: sum_of {numerator.sum_of!r} is not numeric")
    elif numerator.sum_of is not None:
        raise ValueError("numerator: sum_of is only for measure sum")


def _check_proportion(definition: IndicatorDefinition) -> None:
    numerator, denominator = definition.numerator, definition.denominator
    if not isinstance(denominator, EventDenominator):
        raise ValueError("a proportion needs an events denominator")
    same = (numerator.table, numerator.date, numerator.cohort) == (
        denominator.table,
        denominator.date,
        denominator.cohort,
    )
    if not same or numerator.measure != "count":
        raise ValueError("a proportion counts events of the denominator's table, date and cohort")
    # Every denominator condition must also hold for the numerator, so numerator <= denominator.
    if not set(denominator.where) <= set(numerator.where):
        raise ValueError("a proportion's numerator must repeat every condition of its denominator")
    if denominator.linked is not None and denominator.linked != numerator.linked:
        raise ValueError("a proportion's numerator must repeat its denominator's linked event")


def _check_standardisable(definition: IndicatorDefinition) -> None:
    numerator = definition.numerator
    columns = {column.name for column in SOURCE_TABLES[numerator.table].columns}
    if definition.statistic != "rate" or numerator.measure != "count":
        raise ValueError("standardisation applies to rates of counted events")
    if not isinstance(definition.denominator, RegisteredPopulation):
        raise ValueError("standardisation needs the registered population as denominator")
    if not {"age", "sex"} <= columns or numerator.cohort != "all_patients":
        raise ValueError(f"standardisation needs age and sex on the events ({numerator.table} lacks them)")


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
    for path, definition in zip(sorted(folder.glob("*.yaml")), definitions, strict=True):
        if path.stem != definition.id:
            raise ReferenceDataError(f"the file name must be the id {definition.id!r}", file=path)
    return tuple(sorted(definitions, key=lambda definition: definition.id))


def find_indicator(indicator_id: str) -> IndicatorDefinition:
    for definition in catalogue():
        if definition.id == indicator_id:
            return definition
    wanted = indicator_id.strip().casefold().replace("-", "_").replace(" ", "_")
    for definition in catalogue():
        if wanted in (definition.id, definition.title.casefold()):
            return definition
    ids = [definition.id for definition in catalogue()]
    suggestion = did_you_mean(wanted, ids) or did_you_mean(
        indicator_id, [definition.title for definition in catalogue()]
    )
    if suggestion:
        raise ReferenceDataError(
            f"no indicator {indicator_id!r}{suggestion}; see: caremodels indicators list"
        )
    raise ReferenceDataError(f"no indicator {indicator_id!r} (known: {', '.join(ids)})")
