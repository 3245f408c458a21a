"""An accountable care system's combined control total, and the four operational standards.

A system is described in YAML (see docs/budgets.md): its name, financial year, member organisations
(commissioners, providers, local authorities), the combined system control total for the activity a
tariff prices (pounds for the year), and its practices: a shipped ACS/ICS (``ics``, from
``caremodels.reference.spread``) or a list of January 2021 CCG codes.

Control total: the tariff-priced activity of the system's practices by month (counts from the
indicator engines, ``caremodels.indicators.practice_month_counts``), against the control total per
registered patient times the registered population the warehouse holds that month, over twelve; so a
synthetic economy of any scale is compared with what its own population would carry. An XmR chart
(``caremodels.evaluation.spc``, Making Data Count) of the monthly cost with the monthly control total
as its target gives the variation and assurance icons.

Standards (``caremodels.reference.operational_standards``):
- A&E 4 hours (95%): from the warehouse's A&E attendances, by the ``ae_four_hour_performance``
  indicator for the system's practices, month by month.
- RTT 18 weeks (92%), diagnostics 6 weeks (99%) and cancer 62 days (85%): from published aggregate
  counts a user loads (``load_standard_counts``: CSV ``standard,month,organisation_code,numerator,
  denominator``), summed over the system's member organisations. The warehouse holds no waiting
  list, imaging-wait (diagnostic test) or cancer-pathway table (``WAREHOUSE_CANNOT``: its tables
  record admissions, attendances, referrals and so on, but no diagnostic test with the dates it was
  requested and done), so each of these results says that the standard cannot be computed from the
  warehouse, with or without the file.
Each standard gets an XmR chart with its threshold as the target (improvement upwards).

Boundaries: no SQL here; activity and A&E waits only through ``caremodels.indicators``.
"""

from __future__ import annotations

import csv
import datetime as dt
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, cast

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from caremodels.budget.activity import Tariff
from caremodels.errors import DataError
from caremodels.evaluation.spc import AssuranceIcon, ShortSeriesWarning, VariationIcon, spc
from caremodels.indicators import find_indicator, practice_month_counts
from caremodels.indicators.disclosure import round_count
from caremodels.periods import financial_year_label, parse_financial_year, parse_month
from caremodels.reference import operational_standards, practices
from caremodels.reference.list_growth import list_scale_at
from caremodels.reference.spread import integrated_care_systems, system_practices
from caremodels.warehouse import Warehouse

__all__ = [
    "STANDARD_COUNT_COLUMNS",
    "WAREHOUSE_CANNOT",
    "ControlTotalMonth",
    "ControlTotalResult",
    "StandardCount",
    "StandardResult",
    "SystemDefinition",
    "SystemMember",
    "load_standard_counts",
    "load_system",
    "operational_standards_of",
    "practices_of_system",
    "system_control_total",
]

STANDARD_COUNT_COLUMNS = ("standard", "month", "organisation_code", "numerator", "denominator")
_FROM_FILE = ("rtt_18_weeks", "diagnostics_6_weeks", "cancer_62_days")
WAREHOUSE_CANNOT: dict[str, str] = {
    "rtt_18_weeks": "the warehouse holds no referral-to-treatment clocks (waiting list pathways with "
    "their start and stop dates)",
    "diagnostics_6_weeks": "the warehouse holds no imaging or other diagnostic test waits (no table of "
    "diagnostic tests with the dates they were requested and done)",
    "cancer_62_days": "the warehouse holds no cancer pathways (urgent suspected cancer referrals with "
    "their first treatment dates)",
}
"""Why each standard taken from published counts cannot be computed from the warehouse."""
_AE_INDICATOR = "ae_four_hour_performance"


class SystemMember(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=3, max_length=9)
    name: str
    kind: Literal["commissioner", "provider", "local_authority", "other"]


class SystemDefinition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    financial_year: str
    control_total: float = Field(gt=0)
    members: tuple[SystemMember, ...] = Field(min_length=1)
    ics: str | None = None
    ccg_codes: tuple[str, ...] = ()
    source: str = "user file"

    @model_validator(mode="after")
    def _geography(self) -> SystemDefinition:
        if (self.ics is None) == (not self.ccg_codes):
            raise ValueError("give exactly one of ics (a shipped system id) or ccg_codes")
        parse_financial_year(self.financial_year)
        return self

    @property
    def year(self) -> int:
        return parse_financial_year(self.financial_year)


def load_system(path: Path) -> SystemDefinition:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read system file: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    try:
        system = SystemDefinition.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise DataError(first["msg"], file=path, field=".".join(str(p) for p in first["loc"])) from error
    if system.ics is not None and system.ics not in {s.id for s in integrated_care_systems()}:
        raise DataError(f"no shipped system {system.ics!r} (see docs/coverage.md)", file=path, field="ics")
    return system


def practices_of_system(system: SystemDefinition) -> tuple[str, ...]:
    if system.ics is not None:
        return system_practices(next(s for s in integrated_care_systems() if s.id == system.ics))
    return tuple(sorted(p.practice_code for p in practices() if p.ccg_code in system.ccg_codes))


class ControlTotalMonth(BaseModel):
    model_config = ConfigDict(frozen=True)

    month: dt.date
    registered_population: float
    control_total: float
    activity_cost: float | None  # None when a count behind it is small (disclosure control)
    variance: float | None


class ControlTotalResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    financial_year: str
    control_total: float
    control_total_per_head: float
    months: tuple[ControlTotalMonth, ...]
    activity_cost: float | None
    control_total_at_warehouse_population: float
    variance: float | None
    variation_icon: VariationIcon | None
    assurance_icon: AssuranceIcon | None
    caveats: tuple[str, ...]
    tariff_source: str


def _icons(
    frame: pd.DataFrame, target: float, improvement: Literal["increase", "decrease"]
) -> tuple[VariationIcon | None, AssuranceIcon | None, tuple[str, ...]]:
    if len(frame) < 2:
        return None, None, ("fewer than two months: no SPC chart",)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)  # carried in the result's caveats
        [result] = spc(frame, value="value", date="month", target=target, improvement=improvement)
    return result.variation_icon, result.assurance_icon, tuple(result.caveats)


def system_control_total(
    system: SystemDefinition, tariff: Tariff, warehouse_path: Path
) -> ControlTotalResult:
    """Monthly tariff-priced activity cost of the system's practices against its control total."""
    codes = set(practices_of_system(system))
    sizes = {p.practice_code: p.list_size_2021 for p in practices()}
    year = system.year
    registered = sum(sizes[code] for code in codes) * list_scale_at(dt.date(year, 10, 1))
    per_head = system.control_total / registered
    first, last = dt.date(year, 4, 1), dt.date(year + 1, 3, 1)
    cost_by_month: dict[dt.date, float] = {}
    withheld: set[dt.date] = set()
    population_by_month: dict[dt.date, float] = {}
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        for line in tariff.lines:
            definition = find_indicator(line.indicator)
            counts = practice_month_counts(warehouse, definition)
            mine = counts[
                counts["practice_code"].isin(codes) & (counts["month"] >= first) & (counts["month"] <= last)
            ]
            for month, value in mine.groupby("month")["numerator"].sum().items():
                day = cast(dt.date, month)
                # Priced from the published count; a month with a small count has no cost shown.
                shown = round_count(float(value))
                if shown is None or day in withheld:
                    withheld.add(day)
                    cost_by_month.pop(day, None)
                    continue
                cost_by_month[day] = cost_by_month.get(day, 0.0) + shown * line.unit_cost
            if definition.denominator.kind == "registered_population" and not population_by_month:
                population_by_month = {
                    cast(dt.date, month): float(value)
                    for month, value in mine.groupby("month")["denominator"].sum().items()
                }
    if not population_by_month:
        raise DataError(
            f"the warehouse has no registered population for {system.name}'s practices in {system.financial_year}"
            " (price at least one indicator per registered patient, and load that year)",
            file=warehouse_path,
        )
    months = tuple(
        ControlTotalMonth(
            month=month,
            registered_population=population,
            control_total=per_head * population / 12,
            activity_cost=None if month in withheld else cost_by_month.get(month, 0.0),
            variance=None
            if month in withheld
            else per_head * population / 12 - cost_by_month.get(month, 0.0),
        )
        for month, population in sorted(population_by_month.items())
    )
    costed = [m for m in months if m.activity_cost is not None]
    frame = pd.DataFrame({"month": [m.month for m in costed], "value": [m.activity_cost for m in costed]})
    target = sum(m.control_total for m in months) / len(months)
    variation, assurance, caveats = _icons(frame, target, "decrease")
    total = sum(m.control_total for m in months)
    cost = None if withheld else sum(m.activity_cost or 0.0 for m in months)
    return ControlTotalResult(
        system=system.name,
        financial_year=financial_year_label(year),
        control_total=system.control_total,
        control_total_per_head=per_head,
        months=months,
        activity_cost=cost,
        control_total_at_warehouse_population=total,
        variance=None if cost is None else total - cost,
        variation_icon=variation,
        assurance_icon=assurance,
        caveats=caveats,
        tariff_source=tariff.source,
    )


class StandardCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    standard: str
    month: dt.date
    organisation_code: str
    numerator: float = Field(ge=0)
    denominator: float = Field(gt=0)


def load_standard_counts(path: Path) -> tuple[StandardCount, ...]:
    """Published aggregate counts: CSV ``standard,month,organisation_code,numerator,denominator``,
    where standard is rtt_18_weeks, diagnostics_6_weeks or cancer_62_days, month is YYYY-MM and the
    numerator is those within the standard (incomplete pathways within 18 weeks, waiting under 6
    weeks, treated within 62 days) of the denominator."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open standards file: {error.strerror}", file=path) from error
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        missing = set(STANDARD_COUNT_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for number, row in enumerate(reader, start=2):
            standard = (row["standard"] or "").strip()
            if standard not in _FROM_FILE:
                raise DataError(
                    f"standard must be one of {', '.join(_FROM_FILE)}",
                    file=path,
                    row=number,
                    field="standard",
                )
            try:
                month = parse_month(row["month"] or "")
            except ValueError as error:
                raise DataError(str(error), file=path, row=number, field="month") from error
            try:
                record = StandardCount(
                    standard=standard,
                    month=month,
                    organisation_code=(row["organisation_code"] or "").strip().upper(),
                    numerator=float(row["numerator"]),
                    denominator=float(row["denominator"]),
                )
            except (ValueError, ValidationError) as error:
                raise DataError(
                    "numerator and denominator must be numbers, denominator above 0", file=path, row=number
                ) from error
            if record.numerator > record.denominator:
                raise DataError("numerator above denominator", file=path, row=number, field="numerator")
            rows.append(record)
    return tuple(rows)


class StandardMonth(BaseModel):
    model_config = ConfigDict(frozen=True)

    month: dt.date
    numerator: float
    denominator: float
    performance: float


class StandardResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    threshold: float
    source: str | None
    months: tuple[StandardMonth, ...]
    latest: float | None
    variation_icon: VariationIcon | None
    assurance_icon: AssuranceIcon | None
    caveats: tuple[str, ...]
    computable_from_warehouse: bool = True
    """False where the warehouse holds nothing to compute the standard from (``WAREHOUSE_CANNOT``)."""


def _standard_result(
    code: str, name: str, threshold: float, source: str | None, frame: pd.DataFrame
) -> StandardResult:
    result = _measured(code, name, threshold, source, frame)
    if code not in WAREHOUSE_CANNOT:
        return result
    note = f"cannot be computed from the warehouse: {WAREHOUSE_CANNOT[code]}"
    return result.model_copy(update={"computable_from_warehouse": False, "caveats": (note, *result.caveats)})


def _measured(
    code: str, name: str, threshold: float, source: str | None, frame: pd.DataFrame
) -> StandardResult:
    if frame.empty:
        return StandardResult(
            code=code,
            name=name,
            threshold=threshold,
            source=None,
            months=(),
            latest=None,
            variation_icon=None,
            assurance_icon=None,
            caveats=(
                "no data: "
                + (
                    "the warehouse has no A&E attendances for these practices"
                    if code == "ae_4_hour"
                    else "load NHS England's published counts for the member organisations with "
                    "--standards-csv"
                ),
            ),
        )
    grouped = frame.groupby("month")[["numerator", "denominator"]].sum().sort_index()
    months = tuple(
        StandardMonth(
            month=month,
            numerator=float(row.numerator),
            denominator=float(row.denominator),
            performance=float(row.numerator) / float(row.denominator),
        )
        for month, row in grouped.iterrows()
        if row.denominator > 0
    )
    chart = pd.DataFrame({"month": [m.month for m in months], "value": [m.performance for m in months]})
    variation, assurance, caveats = _icons(chart, threshold, "increase")
    return StandardResult(
        code=code,
        name=name,
        threshold=threshold,
        source=source,
        months=months,
        latest=months[-1].performance if months else None,
        variation_icon=variation,
        assurance_icon=assurance,
        caveats=caveats,
    )


def operational_standards_of(
    system: SystemDefinition,
    warehouse_path: Path,
    standard_counts: Sequence[StandardCount] = (),
) -> list[StandardResult]:
    """The four standards for the system over its financial year (see the module docstring)."""
    year = system.year
    first, last = dt.date(year, 4, 1), dt.date(year + 1, 3, 1)
    codes = set(practices_of_system(system))
    members = {member.code.upper() for member in system.members}
    results = []
    for standard in operational_standards():
        if standard.code == "ae_4_hour":
            with Warehouse(warehouse_path, read_only=True) as warehouse:
                counts = practice_month_counts(warehouse, find_indicator(_AE_INDICATOR))
            frame = counts[
                counts["practice_code"].isin(codes) & (counts["month"] >= first) & (counts["month"] <= last)
            ]
            source = f"warehouse: indicator {_AE_INDICATOR}"
        else:
            rows = [
                {"month": r.month, "numerator": r.numerator, "denominator": r.denominator}
                for r in standard_counts
                if r.standard == standard.code and r.organisation_code in members and first <= r.month <= last
            ]
            frame = pd.DataFrame(rows, columns=["month", "numerator", "denominator"])
            source = "published counts loaded by the user (member organisations)"
        results.append(_standard_result(standard.code, standard.name, standard.threshold, source, frame))
    return results
