"""Target budget against the cost of actual activity, with the gain or loss share.

Activity is counted from the warehouse by the indicator engines (``caremodels.indicators``: the
numerators of the indicators a tariff prices, for the membership's practices over the budget's
financial year) and priced by a user's tariff (YAML: indicator, need component, unit cost, and the
risk share of the contract). The target is the population budget per registered patient of each
priced component times the registered population the warehouse holds for the same practices
(the denominator of ``emergency_admissions``: the mean list size over the year), times the share of
the component the tariff's activity is meant to cover (``component_shares``, 1 when not given), so a
synthetic economy at any scale is compared with the budget its own population would carry. Components the
tariff does not price are listed as not measured, not counted as zero.

The variance is target less actual: positive is an underspend (a gain), negative an overspend (a
loss), shared between provider and commissioner by the tariff's risk share. Counts are published
through disclosure control (``caremodels.indicators.disclosure``): counts are rounded and a small
count is suppressed, with its cost and the totals that would reveal it; costs are priced from the
published counts.

Boundaries: no SQL here; the warehouse is read only through ``caremodels.indicators``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caremodels.budget.population import PopulationBudget
from caremodels.errors import DataError
from caremodels.indicators import find_indicator, indicator_results_many, open_engine
from caremodels.indicators.disclosure import apply_disclosure_control
from caremodels.indicators.geography import level_name
from caremodels.periods import parse_financial_year
from caremodels.reference.spread import NeedComponent

__all__ = [
    "POPULATION_INDICATOR",
    "ActivityComparison",
    "ActivityLine",
    "ComponentComparison",
    "RiskShare",
    "Tariff",
    "TariffLine",
    "activity_comparison",
    "load_tariff",
]

POPULATION_INDICATOR = "emergency_admissions"


class TariffLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: str
    component: NeedComponent
    unit_cost: float = Field(ge=0)
    description: str = ""


class RiskShare(BaseModel):
    """The provider's share of an underspend (gain) and of an overspend (loss)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_share_of_gain: float = Field(ge=0, le=1)
    provider_share_of_loss: float = Field(ge=0, le=1)


class Tariff(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(min_length=1)
    currency: str = "GBP"
    lines: tuple[TariffLine, ...] = Field(min_length=1)
    risk_share: RiskShare
    # The share of a component's budget the priced activity is meant to cover (1 when not given): a
    # tariff of emergency admissions, A&E and first outpatients prices only part of general and acute.
    component_shares: dict[NeedComponent, float] = Field(default_factory=dict)

    def share_of(self, component: NeedComponent) -> float:
        return self.component_shares.get(component, 1.0)


def load_tariff(path: Path) -> Tariff:
    """A tariff YAML (see docs/budgets.md); every indicator must be in the catalogue and priced once."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataError(f"cannot read tariff: {error.strerror}", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    try:
        tariff = Tariff.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise DataError(first["msg"], file=path, field=".".join(str(p) for p in first["loc"])) from error
    if tariff.currency != "GBP":
        raise DataError("only GBP tariffs are supported", file=path, field="currency")
    for component, share in tariff.component_shares.items():
        if not 0 < share <= 1:
            raise DataError(
                "a share must be above 0 and at most 1", file=path, field=f"component_shares.{component}"
            )
    seen: set[str] = set()
    for index, line in enumerate(tariff.lines):
        field = f"lines.{index}.indicator"
        try:
            find_indicator(line.indicator)
        except DataError as error:
            raise DataError(error.reason, file=path, field=field) from error
        if line.indicator in seen:
            raise DataError(f"{line.indicator} is priced twice", file=path, field=field)
        seen.add(line.indicator)
    return tariff


class ActivityLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicator: str
    component: NeedComponent
    unit_cost: float
    count: int | None  # as published: rounded, None when suppressed
    cost: float | None
    suppressed: bool


class ComponentComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: NeedComponent
    target: float
    actual: float | None
    variance: float | None


class ActivityComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    membership: str
    financial_year: str
    warehouse_registered_population: float
    lines: tuple[ActivityLine, ...]
    components: tuple[ComponentComparison, ...]
    not_measured: tuple[str, ...]
    target: float
    actual: float | None
    variance: float | None
    outcome: str | None  # "gain" (underspend), "loss" (overspend) or "on target"
    provider_share: float | None
    commissioner_share: float | None
    tariff_source: str


def activity_comparison(
    budget: PopulationBudget,
    tariff: Tariff,
    warehouse_path: Path,
    *,
    level: str,
    code: str,
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    engine: str = "duckdb",
) -> ActivityComparison:
    """Compare ``budget`` with the tariff-priced activity of area ``code`` at ``level`` (``site`` for
    a vanguard site, ``group`` for a membership CSV given as ``groups_file``)."""
    year = parse_financial_year(budget.financial_year)
    scope = {line.component: line for line in budget.components}
    priced = [line for line in tariff.lines if line.component in scope]
    if not priced:
        raise DataError(
            "the tariff prices no component of the budget's scope (" + ", ".join(sorted(scope)) + ")"
        )
    definitions = [find_indicator(POPULATION_INDICATOR)] + [
        find_indicator(line.indicator) for line in priced if line.indicator != POPULATION_INDICATOR
    ]
    try:
        chosen_level = level_name(level)
    except ValueError as error:
        raise DataError(str(error)) from error
    counting = open_engine(engine, warehouse_path)
    try:
        results = indicator_results_many(
            counting,
            definitions,
            levels=[chosen_level],
            periods=["financial_year"],
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            first_month=dt.date(year, 4, 1),
            last_month=dt.date(year + 1, 3, 1),
        )
    finally:
        counting.close()

    def row_of(indicator: str) -> pd.Series:
        frame = results[indicator]
        chosen = frame[(frame["code"] == code) & (frame["period_start"] == dt.date(year, 4, 1))]
        if chosen.empty:
            raise DataError(
                f"the warehouse has no {budget.financial_year} of {indicator} for {level} {code!r} "
                "(is that year loaded, and are the practices in the warehouse?)",
                file=warehouse_path,
            )
        return chosen.iloc[0]

    population = float(row_of(POPULATION_INDICATOR)["denominator"])
    counts = pd.DataFrame(
        {
            "indicator": [line.indicator for line in priced],
            "count": [float(row_of(line.indicator)["numerator"]) for line in priced],
            "events": [int(row_of(line.indicator)["events"]) for line in priced],
        }
    )
    published = apply_disclosure_control(counts, ["count"], also_suppress_on=["events"])
    # Priced from the published counts, so a cost never reveals a count more exactly than the count.
    lines = tuple(
        ActivityLine(
            indicator=line.indicator,
            component=line.component,
            unit_cost=line.unit_cost,
            count=None if bool(row.suppressed) else int(row["count"]),
            cost=None if bool(row.suppressed) else float(row["count"]) * line.unit_cost,
            suppressed=bool(row.suppressed),
        )
        for line, (_, row) in zip(priced, published.iterrows(), strict=True)
    )
    comparisons = []
    for component in dict.fromkeys(line.component for line in priced):
        budget_line = scope[component]
        per_head = budget_line.registered_budget / budget_line.registered_population
        target = per_head * population * tariff.share_of(component)
        mine = [line for line in lines if line.component == component]
        actual = None if any(line.cost is None for line in mine) else sum(line.cost or 0.0 for line in mine)
        comparisons.append(
            ComponentComparison(
                component=component,
                target=target,
                actual=actual,
                variance=None if actual is None else target - actual,
            )
        )
    target = sum(item.target for item in comparisons)
    actual = (
        None
        if any(item.actual is None for item in comparisons)
        else sum(item.actual or 0.0 for item in comparisons)
    )
    variance = None if actual is None else target - actual
    outcome, provider, commissioner = None, None, None
    if variance is not None:
        share = tariff.risk_share
        outcome = "gain" if variance > 0 else "loss" if variance < 0 else "on target"
        provider = variance * (share.provider_share_of_gain if variance > 0 else share.provider_share_of_loss)
        commissioner = variance - provider
    return ActivityComparison(
        membership=budget.membership,
        financial_year=budget.financial_year,
        warehouse_registered_population=population,
        lines=lines,
        components=tuple(comparisons),
        not_measured=tuple(
            component for component in scope if component not in {c.component for c in comparisons}
        ),
        target=target,
        actual=actual,
        variance=variance,
        outcome=outcome,
        provider_share=provider,
        commissioner_share=commissioner,
        tariff_source=tariff.source,
    )
