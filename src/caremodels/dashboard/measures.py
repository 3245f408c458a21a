"""What kind of figure an indicator gives, for the dashboard's choices of chart and comparison.

This module holds no statistics: values and intervals come from
``caremodels.indicators.finish_arrays`` (through ``caremodels.dashboard.areas``), the one path every
output uses. ``MeasureRule`` only says how to present an indicator: its unit with the period basis
(rates over person-time are annual, "per 1,000 registered patients per year"), what its denominator
counts, which funnel limits apply, and whether growth against the rest of England (Poisson counts
over person-time, ``caremodels.evaluation.monitoring``) applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from caremodels.indicators import IndicatorDefinition, value_unit
from caremodels.indicators.compute import DAYS_PER_YEAR
from caremodels.indicators.output import denominator_unit

__all__ = ["MeasureRule"]


@dataclass(frozen=True)
class MeasureRule:
    statistic: Literal["rate", "proportion"]
    denominator_kind: Literal["registered_population", "care_home_resident_years", "events"]
    counted: bool
    """The numerator counts events (so it has a Poisson or binomial interval)."""
    multiplier: float
    unit: str
    standardised: bool
    value_label: str
    """The unit of the values the dashboard shows, with the period basis (rates are annual)."""
    denominator_label: str

    @classmethod
    def of(cls, definition: IndicatorDefinition) -> MeasureRule:
        return cls(
            statistic=definition.statistic,
            denominator_kind=definition.denominator.kind,
            counted=definition.numerator.measure == "count",
            multiplier=float(definition.multiplier),
            unit=definition.unit,
            standardised=definition.standardisation != "none",
            value_label=value_unit(definition, "financial_year", "per_year"),
            denominator_label=denominator_unit(definition),
        )

    @property
    def per_year(self) -> bool:
        return self.denominator_kind != "events"

    @property
    def funnel(self) -> Literal["rate", "proportion"] | None:
        """Which funnel limits apply, if any (none for a standardised rate, whose variance is not
        that of one Poisson count)."""
        if not self.counted or self.standardised:
            return None
        if self.statistic == "proportion":
            return "proportion"
        return "rate" if self.per_year else None

    @property
    def growth_comparable(self) -> bool:
        """Whether growth against the rest of England (Poisson counts over person-time) applies."""
        return self.counted and self.statistic == "rate" and self.per_year

    def growth_counts(self, counts: pd.DataFrame) -> pd.DataFrame:
        """Practice-month counts whose denominator is in list-size units (person-years x 12), as
        ``caremodels.evaluation.monitoring`` expects."""
        if self.denominator_kind == "care_home_resident_years":
            return counts.assign(denominator=counts["denominator"] * 12 / DAYS_PER_YEAR)
        return counts
