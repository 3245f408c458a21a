"""Results the vanguard sites reported themselves (``reported_results.yaml``, with its source),
validated when first read. The site page shows each one beside the warehouse's own measure."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caremodels.errors import ReferenceDataError
from caremodels.reference import find_site

__all__ = ["ReportedResult", "reported_results", "reported_results_source"]

_PATH = Path(__file__).with_name("reported_results.yaml")


class ReportedResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str
    measure: str
    reported: str
    reported_value: float = Field(gt=-1, lt=5)
    reported_period: str
    reported_cohort: str
    kind: Literal["change", "share"]
    indicator: str
    baseline_year: int = Field(ge=2010, le=2030)
    comparison_year: int = Field(ge=2010, le=2030)
    note: str


@functools.cache
def _document() -> dict[str, object]:
    try:
        loaded = yaml.safe_load(_PATH.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"cannot read reported results: {error}", file=_PATH) from error
    if not isinstance(loaded, dict) or not isinstance(loaded.get("results"), list):
        raise ReferenceDataError("expected a mapping with a list under 'results'", file=_PATH)
    return loaded


@functools.cache
def reported_results() -> tuple[ReportedResult, ...]:
    """Every reported result; raises ``ReferenceDataError`` naming the record and field if one is invalid."""
    records = _document()["results"]
    if not isinstance(records, list):
        raise ReferenceDataError("expected a list under 'results'", file=_PATH)
    results = []
    for number, record in enumerate(records, start=1):
        try:
            result = ReportedResult.model_validate(record)
        except ValidationError as error:
            first = error.errors()[0]
            raise ReferenceDataError(
                f"result {number}: {first['msg']}",
                file=_PATH,
                field=".".join(str(part) for part in first["loc"]),
            ) from error
        try:
            site = find_site(result.site)
        except ReferenceDataError as error:
            raise ReferenceDataError(f"result {number}: {error.reason}", file=_PATH, field="site") from error
        if result.comparison_year < result.baseline_year:
            raise ReferenceDataError(
                f"result {number}: comparison year is before the baseline year",
                file=_PATH,
                field="comparison_year",
            )
        results.append(result.model_copy(update={"site": site.id}))
    return tuple(results)


def reported_results_source() -> str:
    return str(_document().get("source", ""))
