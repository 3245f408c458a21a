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


class SiteMembership(Record):
    """The practices a site serves, whether built in (approximate) or from a user's CSV."""

    site_id: str
    practice_codes: tuple[str, ...]
    source: Literal["built-in approximation", "user file"]
