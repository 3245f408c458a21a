"""Typed reference records. Every shipped record is validated into one of these when loaded."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CareModelCode = Literal["MCP", "PACS", "EHCH", "UEC", "ACC", "PCH"]
VANGUARD_CARE_MODELS: tuple[CareModelCode, ...] = ("MCP", "PACS", "EHCH", "UEC", "ACC")
PopulationBasis = Literal["registered_list", "area", "provider"]

_PRACTICE_CODE = re.compile(r"^[A-Z][0-9]{5}$")
_CCG_CODE = re.compile(r"^[0-9]{2}[A-Z0-9]$|^[0-9]{3}$")
_TRUST_CODE = re.compile(r"^[A-Z0-9]{3}$")
_POSTCODE_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CareModelType(Record):
    code: CareModelCode
    name: str
    selected: dt.date
    vanguard_count: int = Field(ge=0)
    population_based: bool
    holds_population_budget: bool
    registered_population_min: int | None = None
    registered_population_max: int | None = None
    description: str


class VanguardSite(Record):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    short_name: str
    care_model: Literal["MCP", "PACS", "EHCH", "UEC", "ACC"]
    selected: dt.date
    lead_organisation: str
    population_basis: PopulationBasis
    ccg_codes: tuple[str, ...] = ()
    postcode_districts: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    description: str

    @field_validator("ccg_codes")
    @classmethod
    def _ccg_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not _CCG_CODE.match(code):
                raise ValueError(f"{code!r} is not a CCG code (e.g. 03R)")
        return value

    @field_validator("providers")
    @classmethod
    def _providers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not _TRUST_CODE.match(code):
                raise ValueError(f"{code!r} is not a 3-character NHS trust ODS code")
        return value

    @field_validator("postcode_districts")
    @classmethod
    def _districts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for district in value:
            if not _POSTCODE_DISTRICT.match(district):
                raise ValueError(f"{district!r} is not a postcode district (e.g. FY1)")
        return value

    @model_validator(mode="after")
    def _has_geography(self) -> VanguardSite:
        if self.population_basis == "provider" and not self.providers:
            raise ValueError("a provider-based site needs at least one provider code")
        if self.population_basis != "provider" and not self.ccg_codes:
            raise ValueError(f"a {self.population_basis} site needs at least one CCG code")
        return self


class Enabler(Record):
    number: int = Field(ge=1, le=8)
    name: str


class EhchElement(Record):
    number: int = Field(ge=1, le=7)
    name: str
    sub_elements: tuple[str, ...]


class OperationalStandard(Record):
    code: str
    name: str
    description: str
    threshold: float = Field(gt=0, le=1)


class Practice(Record):
    practice_code: str
    ccg_code: str
    ons_ccg_code: str
    postcode: str
    list_size_2021: int = Field(ge=0)
    imd2019_score: float | None

    @field_validator("practice_code")
    @classmethod
    def _practice_code(cls, value: str) -> str:
        if not _PRACTICE_CODE.match(value):
            raise ValueError(f"{value!r} is not a GP practice ODS code (a letter and five digits)")
        return value

    @property
    def postcode_district(self) -> str:
        return self.postcode.split(" ")[0] if self.postcode else ""


class AdmissionMethod(Record):
    code: str
    group: Literal["elective", "emergency", "maternity", "other"]
    description: str


class StandardPopulationBand(Record):
    age_from: int = Field(ge=0)
    age_to: int | None
    weight: int = Field(gt=0)

    @property
    def label(self) -> str:
        return f"{self.age_from}+" if self.age_to is None else f"{self.age_from}-{self.age_to}"


class DisclosureControl(Record):
    """HES small-number rules: counts from suppress_from to suppress_to are hidden, others rounded."""

    suppress_from: int = Field(ge=1)
    suppress_to: int = Field(ge=0)
    round_to: int = Field(ge=1)


class ProgrammeConstants(Record):
    baseline_financial_year: int
    coverage_goal_share: float = Field(gt=0, le=1)
    coverage_goal_financial_year: int
    programme_end: dt.date
    funding_condition_2017: dict[str, float]


MembershipWindow = tuple[dt.date | None, dt.date | None]
"""A practice's first and last day in a site (either open-ended as None)."""


class SiteMembership(Record):
    """The practices a site serves, whether built in (approximate) or from a user's CSV.

    ``windows``: for a practice that joined or left on a date, the spans it was a member (its
    events count for the site only within them); a practice not in ``windows`` is a member
    throughout. ``unlisted``: practice codes not in the January 2021 practice list (closed or
    merged before then), with the CSV row each came from; a command accepts them only where its
    warehouse holds them (``caremodels.reference.check_unlisted``).
    """

    site_id: str
    practice_codes: tuple[str, ...]
    source: Literal["built-in approximation", "user file"]
    windows: dict[str, tuple[MembershipWindow, ...]] = Field(default_factory=dict)
    unlisted: dict[str, int] = Field(default_factory=dict)
    file: str | None = None


NeedComponent = Literal[
    "general_and_acute",
    "community_services",
    "mental_health",
    "maternity",
    "prescribing",
    "primary_medical_care",
]
NEED_COMPONENTS: tuple[NeedComponent, ...] = (
    "general_and_acute",
    "community_services",
    "mental_health",
    "maternity",
    "prescribing",
    "primary_medical_care",
)


class WeightedPopulation(Record):
    """One practice's registered population and weighted population per need component (NHS England,
    2024/25 allocations; populations of 2022/23). A component's need index is its weighted population
    divided by the registered population."""

    practice_code: str
    ccg_code_2021: str
    icb_code: str
    registered_population: float = Field(ge=0)
    general_and_acute: float = Field(ge=0)
    community_services: float = Field(ge=0)
    mental_health: float = Field(ge=0)
    maternity: float = Field(ge=0)
    health_inequalities: float = Field(ge=0)
    prescribing: float = Field(ge=0)
    core_services: float = Field(ge=0)
    primary_medical_care: float = Field(ge=0)

    def weighted(self, component: NeedComponent) -> float:
        value: float = getattr(self, component)
        return value


class BudgetScope(Record):
    """The need components a care model's population budget covers."""

    care_model: CareModelCode
    components: tuple[NeedComponent, ...] = Field(min_length=1)
    description: str

    @field_validator("components")
    @classmethod
    def _distinct(cls, value: tuple[NeedComponent, ...]) -> tuple[NeedComponent, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a component is listed twice")
        return value


class GeographyPart(Record):
    """Practices drawn from geography: those whose January 2021 CCG code is in ``ccg_codes``,
    narrowed to ``postcode_districts`` when given and leaving out ``exclude_postcode_districts``."""

    ccg_codes: tuple[str, ...] = Field(min_length=1)
    postcode_districts: tuple[str, ...] = ()
    exclude_postcode_districts: tuple[str, ...] = ()

    @field_validator("ccg_codes")
    @classmethod
    def _ccg_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not _CCG_CODE.match(code):
                raise ValueError(f"{code!r} is not a CCG code (e.g. 03R)")
        return value

    @field_validator("postcode_districts", "exclude_postcode_districts")
    @classmethod
    def _districts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for district in value:
            if not _POSTCODE_DISTRICT.match(district):
                raise ValueError(f"{district!r} is not a postcode district (e.g. FY1)")
        return value

    def includes(self, practice: Practice) -> bool:
        district = practice.postcode_district
        return (
            practice.ccg_code in self.ccg_codes
            and (not self.postcode_districts or district in self.postcode_districts)
            and district not in self.exclude_postcode_districts
        )


class IntegratedCareSystem(Record):
    """An accountable (later integrated) care system as designated in one wave, with the practices it
    covers drawn from geography (``parts``). A system that grew appears again in a later wave with
    the practices it gained."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    designated: dt.date
    wave: str
    parts: tuple[GeographyPart, ...] = Field(min_length=1)
    source: str
    note: str = ""
