"""Population budgets: a need-weighted share of a national envelope for the practices of a site (or
any membership) in a financial year.

The method, component by component (general and acute, community services, mental health,
maternity, prescribing, primary medical care):

- NHS England's weighted populations (``caremodels.reference.spread``, 2024/25 allocations,
  populations of 2022/23) give each practice a registered population and a weighted population; the
  weighted populations of every component sum to the registered total, so a practice's need index
  is weighted / registered and England's is exactly 1.
- Both are carried to the budget year along England's registered-population path
  (``caremodels.reference.list_growth``), counted on 1 October of the year.
- The per-head price of a component is the user's national envelope for that year divided by
  England's registered population in that year. A practice's budget is its weighted population times
  the price, so the budgets of all practices sum to the envelope, any split of a membership keeps its
  total, and a practice with need index 1 gets the per-head price.
- An unregistered population estimate (the warehouse's ``unregistered_population`` table or a user's
  CSV) adds people at the membership's own need index; with none, the budget is the registered one.
- The care model's budget scope (``budget_scopes.yaml``: MCP community services, primary medical care
  and prescribing; PACS also general and acute) picks the components.

The waterfall runs from the registered head count at the per-head price, through the need
adjustment, to the unregistered population and the need-weighted budget. Figures are need-weighted
shares of an envelope the user supplies, not NHS England's cash allocations: whether the market
forces factor sits inside the source's figures is not stated.

Boundaries: reads reference data, the user's files and (for the unregistered estimate) one
warehouse table by name; no indicator logic.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caremodels.errors import CaremodelsError, DataError
from caremodels.periods import financial_year_label, parse_financial_year
from caremodels.reference import find_site, site_memberships
from caremodels.reference.list_growth import list_scale_between
from caremodels.reference.spread import (
    NeedComponent,
    WeightedPopulation,
    budget_scope,
    weighted_populations,
)

__all__ = [
    "UNREGISTERED_COLUMNS",
    "UNREGISTERED_TABLE",
    "WEIGHTED_POPULATION_YEAR",
    "ComponentBudget",
    "Membership",
    "NationalEnvelope",
    "PopulationBudget",
    "UnregisteredEstimate",
    "WaterfallStep",
    "load_envelope",
    "membership_of_site",
    "population_budget",
    "read_memberships",
    "unregistered_from_csv",
    "unregistered_from_warehouse",
]

# The weighted populations are of financial year 2022/23 (the source's ``pop 2022/23``).
WEIGHTED_POPULATION_YEAR = 2022
UNREGISTERED_TABLE = "unregistered_population"
# The columns of the synthetic generator's unregistered_population.csv, of the warehouse table loaded
# from it, and of a user's CSV.
UNREGISTERED_COLUMNS = (
    "area_type",
    "area_code",
    "financial_year",
    "registered_population",
    "unregistered_estimate",
)


def _census(year: int) -> dt.date:
    return dt.date(year, 10, 1)


def _growth(year: int) -> float:
    """Factor taking a 2022/23 population to financial year ``year``."""
    return list_scale_between(_census(WEIGHTED_POPULATION_YEAR), _census(year))


class NationalEnvelope(BaseModel):
    """The national money for each need component in one financial year (pounds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    financial_year: int
    components: dict[NeedComponent, float]
    source: str

    @field_validator("components")
    @classmethod
    def _positive(cls, value: dict[NeedComponent, float]) -> dict[NeedComponent, float]:
        for component, amount in value.items():
            if amount < 0:
                raise ValueError(f"{component}: an envelope cannot be negative")
        return value

    @property
    def label(self) -> str:
        return financial_year_label(self.financial_year)


class _EnvelopeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1)
    currency: str = "GBP"
    years: dict[str, dict[NeedComponent, float]] = Field(min_length=1)


def load_envelope(path: Path, financial_year: int) -> NationalEnvelope:
    """The envelope for ``financial_year`` from a YAML file: ``source``, ``currency`` (GBP) and
    ``years: {"2016/17": {component: pounds, ...}, ...}`` (see docs/budgets.md)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read envelope file: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    try:
        parsed = _EnvelopeFile.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise DataError(first["msg"], file=path, field=".".join(str(p) for p in first["loc"])) from error
    if parsed.currency != "GBP":
        raise DataError("only GBP envelopes are supported", file=path, field="currency")
    by_year: dict[int, dict[NeedComponent, float]] = {}
    for label, components in parsed.years.items():
        try:
            year = parse_financial_year(str(label))
        except ValueError as error:
            raise DataError(str(error), file=path, field=f"years.{label}") from error
        by_year[year] = components
    if financial_year not in by_year:
        raise DataError(
            f"no envelope for {financial_year_label(financial_year)} (the file has "
            f"{', '.join(financial_year_label(y) for y in sorted(by_year))})",
            file=path,
            field="years",
        )
    try:
        return NationalEnvelope(
            financial_year=financial_year, components=by_year[financial_year], source=parsed.source
        )
    except ValidationError as error:
        raise DataError(error.errors()[0]["msg"], file=path, field="years") from error


class Membership(BaseModel):
    """A named set of practices with the care model whose budget scope applies."""

    model_config = ConfigDict(frozen=True)

    name: str
    care_model: str | None
    practice_codes: tuple[str, ...]
    source: str


def membership_of_site(
    site_name: str, membership_file: Path | None = None, exclude_practices: Collection[str] = ()
) -> Membership:
    """A vanguard site's practices (from ``membership_file`` if it lists the site), less
    ``exclude_practices``, each of which must be a member."""
    site = find_site(site_name)
    membership = site_memberships(membership_file)[site.id]
    dropped = sorted(set(exclude_practices))
    strangers = [code for code in dropped if code not in membership.practice_codes]
    if strangers:
        raise CaremodelsError(
            f"practice {strangers[0]} is not a member of {site.short_name}: it cannot be left out"
        )
    source = f"vanguard site ({membership.source})"
    if dropped:
        source += f", less {', '.join(dropped)} (left out on request)"
    return Membership(
        name=site.id,
        care_model=site.care_model,
        practice_codes=tuple(code for code in membership.practice_codes if code not in dropped),
        source=source,
    )


def read_memberships(path: Path, care_model: str | None = None) -> list[Membership]:
    """Memberships from a CSV with columns ``group`` and ``practice_code`` (as ``--groups`` for the
    indicators), in the order the groups first appear."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open membership file: {error.strerror}", file=path) from error
    groups: dict[str, list[str]] = {}
    with handle:
        reader = csv.DictReader(handle)
        missing = {"group", "practice_code"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        for number, row in enumerate(reader, start=2):
            group = (row["group"] or "").strip()
            code = (row["practice_code"] or "").strip().upper()
            if not group:
                raise DataError("empty group name", file=path, row=number, field="group")
            if len(code) != 6 or not code[0].isalpha() or not code[1:].isdigit():
                raise DataError(
                    "not a GP practice ODS code (a letter and five digits)",
                    file=path,
                    row=number,
                    field="practice_code",
                )
            groups.setdefault(group, []).append(code)
    if not groups:
        raise DataError("no groups in the file", file=path)
    return [
        Membership(
            name=group,
            care_model=care_model,
            practice_codes=tuple(sorted(set(codes))),
            source=f"user file {path.name}",
        )
        for group, codes in groups.items()
    ]


class UnregisteredEstimate(BaseModel):
    """Unregistered people per registered patient for an area and year, and where it came from."""

    model_config = ConfigDict(frozen=True)

    area_code: str
    financial_year: str
    registered_population: float
    unregistered_estimate: float
    source: str

    @property
    def per_registered(self) -> float:
        return self.unregistered_estimate / self.registered_population if self.registered_population else 0.0


def _estimate_from_rows(
    rows: Iterable[Mapping[str, object]], area_code: str, year: int, source: str, file: Path | None
) -> UnregisteredEstimate:
    label = financial_year_label(year)

    def same_year(value: object) -> bool:
        # Written 2016/17 by the generator; a loader may have kept it so or stored the start year.
        try:
            return parse_financial_year(str(value)) == year
        except ValueError:
            return False

    found = [row for row in rows if str(row["area_code"]) == area_code and same_year(row["financial_year"])]
    if not found:
        raise DataError(
            f"no unregistered estimate for area {area_code!r} in {label}",
            file=file if file is not None else f"warehouse table {UNREGISTERED_TABLE}",
        )
    registered = sum(float(str(row["registered_population"])) for row in found)
    unregistered = sum(float(str(row["unregistered_estimate"])) for row in found)
    if registered <= 0:
        raise DataError(f"area {area_code!r} has no registered population in {label}", file=file)
    return UnregisteredEstimate(
        area_code=area_code,
        financial_year=label,
        registered_population=registered,
        unregistered_estimate=unregistered,
        source=source,
    )


def unregistered_from_csv(path: Path, area_code: str, financial_year: int) -> UnregisteredEstimate:
    """From a CSV with ``UNREGISTERED_COLUMNS`` (``area_type`` may be omitted), such as the synthetic
    generator's ``unregistered_population.csv``."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise DataError(f"cannot open unregistered estimate: {error.strerror}", file=path) from error
    with handle:
        reader = csv.DictReader(handle)
        missing = set(UNREGISTERED_COLUMNS[1:]) - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
        rows = []
        for number, row in enumerate(reader, start=2):
            for column in ("registered_population", "unregistered_estimate"):
                try:
                    if float(row[column]) < 0:
                        raise ValueError
                except ValueError as error:
                    raise DataError("not a number >= 0", file=path, row=number, field=column) from error
            rows.append(row)
    return _estimate_from_rows(rows, area_code, financial_year, f"user file {path.name}", path)


def unregistered_from_warehouse(
    warehouse_path: Path, area_code: str, financial_year: int
) -> UnregisteredEstimate:
    """From the warehouse table ``unregistered_population`` (columns ``UNREGISTERED_COLUMNS``)."""
    from caremodels.warehouse import Warehouse

    with Warehouse(warehouse_path, read_only=True) as warehouse:
        if UNREGISTERED_TABLE not in warehouse.tables():
            raise DataError(
                f"the warehouse has no {UNREGISTERED_TABLE} table (load the synthetic economy's "
                "unregistered_population.csv, or give a CSV with --unregistered-csv)",
                file=warehouse_path,
            )
        result = warehouse.connection.execute(
            f"SELECT area_code, financial_year, registered_population, unregistered_estimate "
            f"FROM {UNREGISTERED_TABLE} WHERE area_code = ?",
            [area_code],
        ).fetchall()
    rows = [
        {
            "area_code": code,
            "financial_year": label,
            "registered_population": registered,
            "unregistered_estimate": unregistered,
        }
        for code, label, registered, unregistered in result
    ]
    return _estimate_from_rows(
        rows, area_code, financial_year, f"warehouse table {UNREGISTERED_TABLE}", warehouse_path
    )


class WaterfallStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    people: float | None  # None for the need adjustment, which changes pounds, not heads
    pounds: float
    running_pounds: float


class ComponentBudget(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: NeedComponent
    envelope: float
    price_per_head: float
    registered_population: float
    weighted_population: float
    need_index: float
    unregistered_population: float
    registered_budget: float
    budget: float


class PopulationBudget(BaseModel):
    """A membership's population budget in one financial year, by component, with its waterfall."""

    model_config = ConfigDict(frozen=True)

    membership: str
    care_model: str | None
    financial_year: str
    weighted_population_year: str
    list_growth: float  # registered population in the budget year over that of the weighted populations
    components: tuple[ComponentBudget, ...]
    practices: int
    practices_without_weighted_population: tuple[str, ...]
    registered_population: float
    unregistered_population: float
    unregistered_source: str | None
    registered_budget: float
    budget: float
    budget_per_head: float
    waterfall: tuple[WaterfallStep, ...]
    envelope_source: str
    membership_source: str


def _scope(membership: Membership, components: Sequence[NeedComponent] | None) -> tuple[NeedComponent, ...]:
    if components:
        return tuple(components)
    if membership.care_model is None:
        raise DataError(
            f"membership {membership.name!r} has no care model: choose one (--care-model MCP or PACS) "
            "or list the components (--components)"
        )
    return budget_scope(membership.care_model).components


def population_budget(
    membership: Membership,
    envelope: NationalEnvelope,
    *,
    components: Sequence[NeedComponent] | None = None,
    unregistered: UnregisteredEstimate | None = None,
    weighted: Mapping[str, WeightedPopulation] | None = None,
) -> PopulationBudget:
    """The budget of ``membership`` in the envelope's year (see the module docstring).

    ``weighted`` replaces the shipped weighted populations (every practice of England: the national
    denominators are summed over it). ``unregistered`` adds unregistered people at the membership's
    need index, at its rate per registered patient.
    """
    table = weighted if weighted is not None else weighted_populations()
    chosen = _scope(membership, components)
    for component in chosen:
        if component not in envelope.components:
            raise DataError(
                f"the national envelope for {envelope.label} has no {component} (needed by the "
                f"budget scope {', '.join(chosen)})"
            )
    growth = _growth(envelope.financial_year)
    if not any(code in table for code in membership.practice_codes):
        raise DataError(f"membership {membership.name!r} has no practice with a weighted population")
    present = [table[code] for code in membership.practice_codes if code in table]
    missing = tuple(code for code in membership.practice_codes if code not in table)
    national_registered = sum(record.registered_population for record in table.values()) * growth
    registered = sum(record.registered_population for record in present) * growth
    per_registered = unregistered.per_registered if unregistered is not None else 0.0
    unregistered_people = registered * per_registered
    lines = []
    for component in chosen:
        price = envelope.components[component] / national_registered if national_registered else 0.0
        weighted_people = sum(record.weighted(component) for record in present) * growth
        need_index = weighted_people / registered if registered else 0.0
        registered_budget = weighted_people * price
        lines.append(
            ComponentBudget(
                component=component,
                envelope=envelope.components[component],
                price_per_head=price,
                registered_population=registered,
                weighted_population=weighted_people,
                need_index=need_index,
                unregistered_population=unregistered_people,
                registered_budget=registered_budget,
                budget=registered_budget + unregistered_people * need_index * price,
            )
        )
    head_count_pounds = sum(line.registered_population * line.price_per_head for line in lines)
    registered_budget = sum(line.registered_budget for line in lines)
    total = sum(line.budget for line in lines)
    waterfall = (
        WaterfallStep(
            step="registered head count at the per-head price",
            people=registered,
            pounds=head_count_pounds,
            running_pounds=head_count_pounds,
        ),
        WaterfallStep(
            step="need adjustment (weighted population less head count)",
            people=None,
            pounds=registered_budget - head_count_pounds,
            running_pounds=registered_budget,
        ),
        WaterfallStep(
            step="unregistered population at the membership's need",
            people=unregistered_people,
            pounds=total - registered_budget,
            running_pounds=total,
        ),
        WaterfallStep(
            step="need-weighted budget",
            people=registered + unregistered_people,
            pounds=total,
            running_pounds=total,
        ),
    )
    return PopulationBudget(
        membership=membership.name,
        care_model=membership.care_model,
        financial_year=envelope.label,
        weighted_population_year=financial_year_label(WEIGHTED_POPULATION_YEAR),
        list_growth=growth,
        components=tuple(lines),
        practices=len(present),
        practices_without_weighted_population=missing,
        registered_population=registered,
        unregistered_population=unregistered_people,
        unregistered_source=unregistered.source if unregistered is not None else None,
        registered_budget=registered_budget,
        budget=total,
        budget_per_head=total / (registered + unregistered_people) if registered else 0.0,
        waterfall=waterfall,
        envelope_source=envelope.source,
        membership_source=membership.source,
    )
