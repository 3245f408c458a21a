"""How the dashboard turns an indicator's sums into a value, whatever kind of indicator it is.

The indicator engine gives, per practice and month, a numerator (events, bed days or a summed
field), a denominator (mid-month list sizes, days of care-home residence, or events) and the
number of events behind the numerator. Summed over an area and a period of ``months`` months:

* registered population: person-years = denominator / 12, and the value is an annual rate,
  numerator / person-years x multiplier; the published denominator is the mean list size;
* care-home resident-years: resident-years = days / 365.25, the value numerator / resident-years x
  multiplier; the published denominator is the mean number of residents;
* events: a proportion (numerator events are a subset of the denominator's) or a ratio,
  numerator / denominator x multiplier; the published denominator is the count of events.

Intervals follow ``caremodels.stats``: Byar's or exact Poisson for a rate of events, Wilson for a
proportion; a rate of bed days or of a summed field has no interval (its count is not Poisson).
Standardised indicators are shown crude here, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from caremodels.indicators import IndicatorDefinition
from caremodels.stats import crude_rate_ci_arrays, proportion_ci_arrays

__all__ = ["DAYS_PER_YEAR", "MeasureRule"]

DAYS_PER_YEAR = 365.25
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MeasureRule:
    statistic: Literal["rate", "proportion"]
    denominator_kind: Literal["registered_population", "care_home_resident_years", "events"]
    counted: bool
    """The numerator counts events (so it has a Poisson or binomial interval)."""
    multiplier: float
    unit: str
    standardised: bool

    @classmethod
    def of(cls, definition: IndicatorDefinition) -> MeasureRule:
        denominator: Any = definition.denominator
        return cls(
            statistic=getattr(definition, "statistic", "rate"),
            denominator_kind=denominator.kind,
            counted=getattr(definition.numerator, "measure", "count") == "count",
            multiplier=float(definition.multiplier),
            unit=definition.unit,
            standardised=definition.standardisation != "none",
        )

    @property
    def per_year(self) -> bool:
        return self.denominator_kind != "events"

    @property
    def value_label(self) -> str:
        """The unit of the values the dashboard shows (rates over person-time are annual)."""
        unit = self.unit.replace(" (ESP2013)", " (crude)") if self.standardised else self.unit
        return f"{unit} a year" if self.denominator_kind == "registered_population" else unit

    @property
    def denominator_label(self) -> str:
        return {
            "registered_population": "Registered patients (mean)",
            "care_home_resident_years": "Care home residents (mean)",
            "events": "Denominator events",
        }[self.denominator_kind]

    @property
    def funnel(self) -> Literal["rate", "proportion"] | None:
        """Which funnel limits apply, if any."""
        if not self.counted:
            return None
        if self.statistic == "proportion":
            return "proportion"
        return "rate" if self.per_year else None

    @property
    def growth_comparable(self) -> bool:
        """Whether growth against the rest of England (Poisson counts over person-time) applies."""
        return self.counted and self.statistic == "rate" and self.per_year

    def exposure(self, denominator: FloatArray) -> FloatArray:
        """Person-years (or resident-years) behind a summed denominator, or the events themselves."""
        if self.denominator_kind == "registered_population":
            return denominator / 12
        if self.denominator_kind == "care_home_resident_years":
            return denominator / DAYS_PER_YEAR
        return denominator

    def published_denominator(self, denominator: FloatArray, months: FloatArray) -> FloatArray:
        """Mean list size or mean residents over the period, or the count of denominator events."""
        if self.per_year:
            return self.exposure(denominator) / (months / 12)
        return denominator

    def values(
        self, numerator: FloatArray, denominator: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Value and 95% interval for each row (NaN where there is none)."""
        exposure = self.exposure(denominator)
        valid = exposure > 0
        value = np.full(numerator.shape, np.nan)
        low, high = value.copy(), value.copy()
        if not valid.any():
            return value, low, high
        if self.statistic == "proportion" and self.counted:
            kept = valid & (numerator <= denominator)
            interval = proportion_ci_arrays(numerator[kept], denominator[kept], multiplier=self.multiplier)
            value[kept], low[kept], high[kept] = interval.value, interval.lower, interval.upper
            return value, low, high
        if self.counted:
            interval = crude_rate_ci_arrays(numerator[valid], exposure[valid], multiplier=self.multiplier)
            value[valid], low[valid], high[valid] = interval.value, interval.lower, interval.upper
            return value, low, high
        value[valid] = numerator[valid] / exposure[valid] * self.multiplier
        return value, low, high

    def growth_counts(self, counts: pd.DataFrame) -> pd.DataFrame:
        """Practice-month counts whose denominator is in list-size units (person-years x 12), as
        ``caremodels.evaluation.monitoring`` expects."""
        if self.denominator_kind == "care_home_resident_years":
            return counts.assign(denominator=counts["denominator"] * 12 / DAYS_PER_YEAR)
        return counts
