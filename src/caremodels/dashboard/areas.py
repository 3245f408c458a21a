"""Geographies and periods of the dashboard, and an indicator's values over them.

An area is a set of GP practices: one practice, a vanguard site (its practices from
``caremodels.reference.site_memberships``), every site of a care model type, a CCG (the practice's
January 2021 CCG), or every practice in the warehouse; pages also use named groups of practices
(a care model type's sites, the rest of England). A period is a month, a financial quarter or a
financial year; only periods whose every month is in the data are reported, so that a part-year
never passes for a whole one.

Sums are matrix products: an indicator's practice x month sums (``CountMatrix``) are multiplied by
an area x practice membership matrix and a month x period matrix, which keeps every aggregation to
a few milliseconds at region scale and to well under a second for every practice in England.

Boundaries: this module only sums practice-month sums (numerator, denominator, events) and turns
them into values with ``caremodels.dashboard.measures``. It never reads the warehouse and never
publishes: disclosure control is applied by the caller, after values are computed from true counts.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from caremodels.dashboard.measures import MeasureRule
from caremodels.periods import financial_year, financial_year_label, month_end
from caremodels.reference import SiteMembership, care_model_types, practices, vanguard_sites

__all__ = [
    "GEOGRAPHY_NAMES",
    "MONTHS_IN_PERIOD",
    "PERIOD_NAMES",
    "AreaIndex",
    "CountMatrix",
    "Geography",
    "PeriodKind",
    "period_table",
    "values_by_area",
    "values_of_groups",
]

Geography = Literal["all", "care_model", "site", "ccg", "practice"]
PeriodKind = Literal["month", "quarter", "financial_year"]
FloatArray = NDArray[np.float64]

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
VALUE_COLUMNS = [
    "code",
    "name",
    "period",
    "period_start",
    "period_end",
    "months",
    "numerator",
    "events",
    "denominator",
    "exposure",
    "published_denominator",
    "value",
    "ci_low",
    "ci_high",
]


def _period_of(month: dt.date, kind: PeriodKind) -> tuple[str, dt.date, dt.date]:
    """Label, first day and last day of the period of ``kind`` that holds ``month``."""
    if kind == "month":
        return month.isoformat()[:7], month, month_end(month)
    year = financial_year(month)
    if kind == "financial_year":
        return financial_year_label(year), dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    # Financial quarters: Q1 is April to June.
    index = ((month.month - 4) % 12) // 3
    first_month = (4 + 3 * index - 1) % 12 + 1
    first = dt.date(year if first_month >= 4 else year + 1, first_month, 1)
    last_month = dt.date(first.year + (first.month + 1) // 12, (first.month + 1) % 12 + 1, 1)
    return f"{financial_year_label(year)} Q{index + 1}", first, month_end(last_month)


def period_table(months: Sequence[dt.date], kind: PeriodKind) -> pd.DataFrame:
    """One row per month in ``months`` whose period is complete: month, period, period_start,
    period_end. Periods are in time order."""
    rows = [(month, *_period_of(month, kind)) for month in sorted(set(months))]
    table = pd.DataFrame(rows, columns=["month", "period", "period_start", "period_end"])
    sizes = table.groupby("period")["month"].transform("size")
    return table[sizes == MONTHS_IN_PERIOD[kind]].reset_index(drop=True)


@dataclass(frozen=True)
class CountMatrix:
    """An indicator's practice x month sums as dense matrices (zero where the engine had no row)."""

    practices: tuple[str, ...]
    months: tuple[dt.date, ...]
    numerator: FloatArray
    denominator: FloatArray
    events: FloatArray

    @classmethod
    def from_counts(cls, counts: pd.DataFrame) -> CountMatrix:
        codes = tuple(sorted(str(code) for code in counts["practice_code"].unique()))
        months = tuple(sorted(set(counts["month"])))
        row = pd.Index(codes).get_indexer(pd.Index(counts["practice_code"].astype(str)))
        column = pd.Index(months).get_indexer(pd.Index(counts["month"]))
        shape = (len(codes), len(months))

        def matrix(name: str) -> FloatArray:
            values = np.zeros(shape)
            np.add.at(values, (row, column), counts[name].to_numpy(dtype=np.float64))
            return values

        return cls(codes, months, matrix("numerator"), matrix("denominator"), matrix("events"))

    def mask(self, members: set[str]) -> NDArray[np.bool_]:
        return np.fromiter(
            (code in members for code in self.practices), dtype=bool, count=len(self.practices)
        )

    def group_frame(self, groups: Mapping[str, set[str]]) -> pd.DataFrame:
        """Monthly sums of each named group as one pseudo-practice per group (practice_code is the
        group's name): columns practice_code, month, numerator, denominator, events."""
        frames = []
        for name, members in groups.items():
            keep = self.mask(members)
            frames.append(
                pd.DataFrame(
                    {
                        "practice_code": name,
                        "month": list(self.months),
                        "numerator": self.numerator[keep].sum(axis=0),
                        "denominator": self.denominator[keep].sum(axis=0),
                        "events": self.events[keep].sum(axis=0),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class AreaIndex:
    """Which practices of the warehouse make up each area of each geography, and area names."""

    members: dict[Geography, dict[str, frozenset[str]]]
    names: dict[Geography, dict[str, str]]
    _matrices: dict[tuple[Geography, tuple[str, ...]], sparse.csr_matrix] = field(
        default_factory=dict, repr=False, compare=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def build(cls, present: set[str], memberships: Mapping[str, SiteMembership]) -> AreaIndex:
        reference = {practice.practice_code: practice for practice in practices()}
        sites = {
            site.id: frozenset(memberships[site.id].practice_codes) & present
            for site in vanguard_sites()
            if frozenset(memberships[site.id].practice_codes) & present
        }
        types: dict[str, set[str]] = {}
        for site in vanguard_sites():
            if site.id in sites:
                types.setdefault(site.care_model, set()).update(sites[site.id])
        ccgs: dict[str, set[str]] = {}
        for code in present:
            if code in reference:
                ccgs.setdefault(reference[code].ccg_code, set()).add(code)
        members: dict[Geography, dict[str, frozenset[str]]] = {
            "all": {ALL_CODE: frozenset(present)},
            "care_model": {code: frozenset(codes) for code, codes in types.items()},
            "site": sites,
            "ccg": {code: frozenset(codes) for code, codes in ccgs.items()},
            "practice": {code: frozenset({code}) for code in present},
        }
        type_names: dict[str, str] = {
            model.code: f"{model.name} ({model.code})" for model in care_model_types()
        }
        names: dict[Geography, dict[str, str]] = {
            "all": {ALL_CODE: GEOGRAPHY_NAMES["all"]},
            "care_model": {code: type_names[code] for code in types},
            "site": {site.id: site.short_name for site in vanguard_sites() if site.id in sites},
            "ccg": {code: f"CCG {code}" for code in ccgs},
            "practice": {code: code for code in present},
        }
        return cls(members=members, names=names)

    def codes(self, geography: Geography) -> list[str]:
        """Codes of the areas of ``geography`` with a practice in the warehouse, sorted by name."""
        return sorted(self.members[geography], key=lambda code: (self.name(geography, code), code))

    def has(self, geography: Geography, code: str) -> bool:
        return code in self.members[geography]

    def name(self, geography: Geography, code: str) -> str:
        return self.names[geography].get(code, code)

    def matrix(
        self, geography: Geography, practice_codes: tuple[str, ...]
    ) -> tuple[list[str], sparse.csr_matrix]:
        """Area codes and the area x practice 0/1 membership matrix for practices in that order."""
        codes = sorted(self.members[geography])
        key = (geography, practice_codes)
        with self._lock:
            found = self._matrices.get(key)
        if found is None:
            found = _membership_matrix([self.members[geography][code] for code in codes], practice_codes)
            with self._lock:
                self._matrices[key] = found
        return codes, found


def _membership_matrix(
    groups: Sequence[frozenset[str] | set[str]], practice_codes: tuple[str, ...]
) -> sparse.csr_matrix:
    position = {code: index for index, code in enumerate(practice_codes)}
    rows, columns = [], []
    for row, members in enumerate(groups):
        for code in members:
            if code in position:
                rows.append(row)
                columns.append(position[code])
    data = np.ones(len(rows))
    return sparse.csr_matrix((data, (rows, columns)), shape=(len(groups), len(practice_codes)))


def _values(
    matrix: CountMatrix,
    membership: sparse.csr_matrix,
    codes: list[str],
    names: Mapping[str, str],
    period: PeriodKind,
    rule: MeasureRule,
) -> pd.DataFrame:
    periods = period_table(list(matrix.months), period)
    if periods.empty or not codes:
        return pd.DataFrame(columns=VALUE_COLUMNS)
    labels = list(dict.fromkeys(periods["period"]))
    month_position = {month: index for index, month in enumerate(matrix.months)}
    to_period = np.zeros((len(matrix.months), len(labels)))
    label_position = {label: index for index, label in enumerate(labels)}
    for month, label in zip(periods["month"], periods["period"], strict=True):
        to_period[month_position[month], label_position[label]] = 1.0

    def summed(values: FloatArray) -> FloatArray:
        return np.asarray(membership @ values) @ to_period

    numerator, denominator, events = (
        summed(matrix.numerator),
        summed(matrix.denominator),
        summed(matrix.events),
    )
    area_index, period_index = np.nonzero(denominator > 0)
    first_rows = periods.drop_duplicates("period")
    starts = dict(zip(first_rows["period"], first_rows["period_start"], strict=True))
    ends = dict(zip(first_rows["period"], first_rows["period_end"], strict=True))
    months = np.full(len(area_index), float(MONTHS_IN_PERIOD[period]))
    flat_numerator = numerator[area_index, period_index]
    flat_denominator = denominator[area_index, period_index]
    value, low, high = rule.values(flat_numerator, flat_denominator)
    period_labels = [labels[index] for index in period_index]
    area_codes = [codes[index] for index in area_index]
    frame = pd.DataFrame(
        {
            "code": area_codes,
            "name": [names.get(code, code) for code in area_codes],
            "period": period_labels,
            "period_start": [starts[label] for label in period_labels],
            "period_end": [ends[label] for label in period_labels],
            "months": months,
            "numerator": flat_numerator,
            "events": events[area_index, period_index],
            "denominator": flat_denominator,
            "exposure": rule.exposure(flat_denominator),
            "published_denominator": rule.published_denominator(flat_denominator, months),
            "value": value,
            "ci_low": low,
            "ci_high": high,
        }
    )
    return frame.sort_values(["period_start", "code"], kind="stable").reset_index(drop=True)


def values_by_area(
    matrix: CountMatrix, index: AreaIndex, geography: Geography, period: PeriodKind, rule: MeasureRule
) -> pd.DataFrame:
    """An indicator's value for each area of ``geography`` and each complete period.

    Columns: code, name, period, period_start, period_end, months, numerator, events,
    denominator (the summed denominator), exposure (person-years, resident-years or events),
    published_denominator (mean list size, mean residents or events), value, ci_low, ci_high;
    values follow ``rule`` (see ``caremodels.dashboard.measures``). Areas with no denominator in a
    period have no row for it.
    """
    if geography not in get_args(Geography):
        raise ValueError(f"unknown geography {geography!r}")
    codes, membership = index.matrix(geography, matrix.practices)
    return _values(matrix, membership, codes, index.names[geography], period, rule)


def values_of_groups(
    matrix: CountMatrix, groups: Mapping[str, set[str]], period: PeriodKind, rule: MeasureRule
) -> pd.DataFrame:
    """As ``values_by_area``, for named groups of practices (the code and name are the group's name)."""
    names = list(groups)
    membership = _membership_matrix([groups[name] for name in names], matrix.practices)
    return _values(matrix, membership, names, {name: name for name in names}, period, rule)
