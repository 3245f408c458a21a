"""Geographies and periods of the dashboard, and the rates of an indicator over them.

An area is a set of GP practices: one practice, a vanguard site (its practices from
``caremodels.reference.site_memberships``), every site of a care model type, a CCG (the practice's
January 2021 CCG), or every practice in the warehouse. A period is a month, a financial quarter or
a financial year; only periods whose every month is in the data are reported, so that a part-year
never passes for a whole one.

Boundaries: this module only sums practice-month sums (numerator, denominator, events) and turns
them into values with ``caremodels.dashboard.measures``. It never reads the warehouse and never
publishes: disclosure control is applied by the caller, after values are computed from true
counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from caremodels.dashboard.measures import MeasureRule
from caremodels.periods import financial_year, financial_year_label
from caremodels.reference import SiteMembership, care_model_types, practices, vanguard_sites

__all__ = [
    "GEOGRAPHY_NAMES",
    "MONTHS_IN_PERIOD",
    "PERIOD_NAMES",
    "AreaIndex",
    "Geography",
    "PeriodKind",
    "period_table",
    "values_by_area",
]

Geography = Literal["all", "care_model", "site", "ccg", "practice"]
PeriodKind = Literal["month", "quarter", "financial_year"]

GEOGRAPHY_NAMES: dict[Geography, str] = {
    "all": "All practices in the warehouse",
    "care_model": "Care model type",
    "site": "Vanguard site",
    "ccg": "CCG (January 2021)",
    "practice": "GP practice",
}
PERIOD_NAMES: dict[PeriodKind, str] = {
    "month": "Month",
    "quarter": "Financial quarter",
    "financial_year": "Financial year",
}
MONTHS_IN_PERIOD: dict[PeriodKind, int] = {"month": 1, "quarter": 3, "financial_year": 12}
ALL_CODE = "all"


def _month_end(month: dt.date) -> dt.date:
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _period_of(month: dt.date, kind: PeriodKind) -> tuple[str, dt.date, dt.date]:
    """Label, first day and last day of the period of ``kind`` that holds ``month``."""
    if kind == "month":
        return month.isoformat()[:7], month, _month_end(month)
    year = financial_year(month)
    if kind == "financial_year":
        return financial_year_label(year), dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    # Financial quarters: Q1 is April to June.
    index = ((month.month - 4) % 12) // 3
    first_month = (4 + 3 * index - 1) % 12 + 1
    first = dt.date(year if first_month >= 4 else year + 1, first_month, 1)
    last_month = dt.date(first.year + (first.month + 1) // 12, (first.month + 1) % 12 + 1, 1)
    return f"{financial_year_label(year)} Q{index + 1}", first, _month_end(last_month)


def period_table(months: list[dt.date], kind: PeriodKind) -> pd.DataFrame:
    """One row per month in ``months`` whose period is complete: month, period, period_start,
    period_end. Periods are in time order."""
    rows = [(month, *_period_of(month, kind)) for month in sorted(set(months))]
    table = pd.DataFrame(rows, columns=["month", "period", "period_start", "period_end"])
    sizes = table.groupby("period")["month"].transform("size")
    return table[sizes == MONTHS_IN_PERIOD[kind]].reset_index(drop=True)


@dataclass(frozen=True)
class AreaIndex:
    """Which practices of the warehouse make up each area of each geography, and area names."""

    membership: dict[Geography, pd.DataFrame]
    """Per geography: columns code, practice_code (a practice may be in several sites)."""
    names: dict[Geography, dict[str, str]]

    @classmethod
    def build(cls, present: set[str], memberships: Mapping[str, SiteMembership]) -> AreaIndex:
        reference = {practice.practice_code: practice for practice in practices()}
        ordered = sorted(present)
        site_rows = [
            (site.id, code)
            for site in vanguard_sites()
            for code in memberships[site.id].practice_codes
            if code in present
        ]
        sites_of_type = {site.id: site.care_model for site in vanguard_sites()}
        type_rows = sorted({(sites_of_type[site_id], code) for site_id, code in site_rows})
        ccg_rows = [(reference[code].ccg_code, code) for code in ordered if code in reference]
        columns = ["code", "practice_code"]
        membership: dict[Geography, pd.DataFrame] = {
            "all": pd.DataFrame([(ALL_CODE, code) for code in ordered], columns=columns),
            "care_model": pd.DataFrame(type_rows, columns=columns),
            "site": pd.DataFrame(site_rows, columns=columns),
            "ccg": pd.DataFrame(ccg_rows, columns=columns),
            "practice": pd.DataFrame([(code, code) for code in ordered], columns=columns),
        }
        type_names = {model.code: f"{model.name} ({model.code})" for model in care_model_types()}
        names: dict[Geography, dict[str, str]] = {
            "all": {ALL_CODE: GEOGRAPHY_NAMES["all"]},
            "care_model": {code: type_names[code] for code, _ in type_rows},
            "site": {site.id: site.short_name for site in vanguard_sites()},
            "ccg": {code: f"CCG {code}" for code, _ in ccg_rows},
            "practice": {code: code for code in ordered},
        }
        return cls(membership=membership, names=names)

    def codes(self, geography: Geography) -> list[str]:
        """Codes of the areas of ``geography`` with at least one practice in the warehouse."""
        return sorted(set(self.membership[geography]["code"]), key=lambda code: self.name(geography, code))

    def codes_set(self, geography: Geography) -> set[str]:
        return set(self.membership[geography]["code"])

    def name(self, geography: Geography, code: str) -> str:
        return self.names[geography].get(code, code)

    def practices_of(self, geography: Geography, code: str) -> set[str]:
        frame = self.membership[geography]
        return set(frame.loc[frame["code"] == code, "practice_code"])


def values_by_area(
    counts: pd.DataFrame,
    index: AreaIndex,
    geography: Geography,
    period: PeriodKind,
    rule: MeasureRule,
) -> pd.DataFrame:
    """An indicator's value for each area of ``geography`` and each complete period.

    Columns: code, name, period, period_start, period_end, months, numerator, events,
    denominator (the summed denominator), exposure (person-years, resident-years or events),
    published_denominator (mean list size, mean residents or events), value, ci_low, ci_high;
    values follow ``rule`` (see ``caremodels.dashboard.measures``).
    """
    if geography not in get_args(Geography):
        raise ValueError(f"unknown geography {geography!r}")
    periods = period_table(list(counts["month"].unique()), period)
    joined = counts.merge(periods, on="month").merge(index.membership[geography], on="practice_code")
    grouped = (
        joined.groupby(["code", "period", "period_start", "period_end"], as_index=False)
        .agg(
            numerator=("numerator", "sum"),
            events=("events", "sum"),
            denominator=("denominator", "sum"),
            months=("month", "nunique"),
        )
        .sort_values(["period_start", "code"], kind="stable")
        .reset_index(drop=True)
    )
    grouped = grouped[grouped["denominator"] > 0].reset_index(drop=True)
    numerator = grouped["numerator"].to_numpy(dtype=np.float64)
    denominator = grouped["denominator"].to_numpy(dtype=np.float64)
    # A period counts all its months even if an area has no rows in some (e.g. no residents).
    months = grouped["period"].map(lambda label: MONTHS_IN_PERIOD[period]).to_numpy(dtype=np.float64)
    value, low, high = rule.values(numerator, denominator)
    names = index.names[geography]
    return pd.DataFrame(
        {
            "code": grouped["code"],
            "name": grouped["code"].map(lambda code: names.get(code, code)),
            "period": grouped["period"],
            "period_start": grouped["period_start"],
            "period_end": grouped["period_end"],
            "months": months,
            "numerator": numerator,
            "events": grouped["events"].to_numpy(dtype=np.float64),
            "denominator": denominator,
            "exposure": rule.exposure(denominator),
            "published_denominator": rule.published_denominator(denominator, months),
            "value": value,
            "ci_low": low,
            "ci_high": high,
        }
    )
