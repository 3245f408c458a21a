"""Published risk scores as reference data: PARR-30's coefficients and the Hospital Frailty Risk
Score's ICD-10 points, read from ``caremodels/reference/data`` and validated into Pydantic models.

Boundaries: reads only shipped reference files; raises ``ReferenceDataError`` naming the file and field.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caremodels.errors import ReferenceDataError
from caremodels.reference import data_path

__all__ = ["HfrsWeight", "Parr30", "Parr30Condition", "hfrs_weights", "parr30"]

PARR30_FILE = "parr30_coefficients.yaml"
HFRS_FILE = "hfrs_icd10_weights.csv"
_ICD10_PREFIX = r"^[A-Z][0-9]{2}[0-9A-Z]?$"


class Parr30Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    coefficient: float
    icd10: tuple[str, ...] = Field(min_length=1)

    @field_validator("icd10")
    @classmethod
    def _codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for code in codes:
            if not re.match(_ICD10_PREFIX, code):
                raise ValueError(f"not an ICD-10 prefix of 3 or 4 characters: {code}")
        return codes


class Parr30(BaseModel):
    """PARR-30's published logistic model (without its per-trust terms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    constant: float
    terms: dict[str, float]
    deprivation_bands: tuple[tuple[float, float], ...] = Field(min_length=1)
    conditions: dict[str, Parr30Condition]

    @field_validator("terms")
    @classmethod
    def _terms(cls, terms: dict[str, float]) -> dict[str, float]:
        expected = {
            "age_squared",
            "emergency_admissions_1y",
            "emergency_admission_30d",
            "index_admission_emergency",
        }
        if set(terms) != expected:
            raise ValueError(f"terms must be exactly {sorted(expected)}")
        return terms

    @field_validator("deprivation_bands")
    @classmethod
    def _bands(cls, bands: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        lows = [low for low, _ in bands]
        if lows != sorted(lows) or lows[0] != 0:
            raise ValueError("deprivation bands must start at 0 and rise")
        return bands


class HfrsWeight(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    icd10_3: str = Field(pattern=r"^[A-Z][0-9]{2}$")
    points: float = Field(gt=0, le=10)
    description: str


@functools.cache
def parr30(path: Path | None = None) -> Parr30:
    path = path or data_path(PARR30_FILE)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Parr30.model_validate(document)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ReferenceDataError(_first_error(error), file=path) from error


@functools.cache
def hfrs_weights(path: Path | None = None) -> tuple[HfrsWeight, ...]:
    """The 109 ICD-10 categories of the Hospital Frailty Risk Score and their points."""
    path = path or data_path(HFRS_FILE)
    weights = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            try:
                weights.append(HfrsWeight.model_validate(row))
            except ValidationError as error:
                raise ReferenceDataError(_first_error(error), file=path, row=row_number) from error
    if len({w.icd10_3 for w in weights}) != len(weights):
        raise ReferenceDataError("an ICD-10 category is listed twice", file=path)
    return tuple(weights)


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}"
    return str(error)
