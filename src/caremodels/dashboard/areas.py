"""Geographies and periods of the dashboard, and an indicator's values over them.

An area is a set of GP practices: one practice, a vanguard site (its practices from
``caremodels.reference.site_memberships``), every site of a care model type, a CCG (the practice's
January 2021 CCG), or every practice in the warehouse; pages also use named groups of practices
(a care model type's sites, the rest of England). A period is a month, a financial quarter or a
financial year; only periods whose every month is in the data are reported, so that a part-year
never passes for a whole one.

Sums are matrix products: an indicator's practice x month sums (``CountMatrix``) are multiplied by
an area x practice membership matrix and a month x period matrix, which keeps every aggregation to
a few milliseconds at region scale and to well under a second for every practice in England. A
standardised indicator also has its sums by sex and age band (a band axis beside the month axis),
summed the same way.

Boundaries: this module only sums practice-month sums (numerator, denominator, events) and hands
the sums to ``caremodels.indicators.finish_arrays``, the one path from counts to values and
intervals that every output uses (so a standardised indicator is a DSR with Dobson limits here as
in the CLI). It never reads the warehouse and never publishes: disclosure control is applied by the
caller, through ``caremodels.indicators.output.publish``, after values are computed from true counts.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from caremodels.indicators import IndicatorDefinition, finish_arrays, value_unit
from caremodels.indicators.comparison import comparisons
from caremodels.indicators.compute import BANDS, RESULT_COLUMNS, held
from caremodels.indicators.geography import AreaSet
from caremodels.indicators.names import area_name
from caremodels.periods import financial_year, financial_year_label, month_end
from caremodels.reference import SiteMembership, care_model_types, practices, vanguard_sites

__all__ = [
    "AGGREGATED_PERIODS",
    "GEOGRAPHY_NAMES",
    "MONTHS_IN_PERIOD",
    "PERIOD_NAMES",
    "AreaIndex",
    "CountMatrix",
    "Geography",
    "PeriodKind",
    "area_results",
    "period_table",
    "values_by_area",
    "values_of_groups",
]

Geography = Literal["all", "care_model", "site", "ccg", "practice"]
PeriodKind = Literal["month", "quarter", "financial_year"]
FloatArray = NDArray[np.float64]
BAND_COUNT = len(BANDS)

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
COMPARISON_COLUMNS = ["england_95", "england_99_8", "rest_95", "rest_99_8"]
"""Each row compared with every practice in the warehouse (England, when it holds England) and with
the rest of them, at 95% and 99.8% (``caremodels.indicators.comparison``)."""
VALUE_COLUMNS = [
    "indicator_id",
    "level",
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
    "value",
    "ci_low",
    "ci_high",
    "unit",
    *COMPARISON_COLUMNS,
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


def _month_run(seen: Collection[dt.date], covered: tuple[dt.date, dt.date] | None) -> tuple[dt.date, ...]:
    """Every first of the month from the earliest to the latest month (of ``covered`` if given)."""
    if covered is None:
        if not seen:
            return ()
        covered = (min(seen), max(seen))
    first, last = covered
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(dt.date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(months)


def period_table(months: Sequence[dt.date], kind: PeriodKind) -> pd.DataFrame:
    """One row per month in ``months`` whose period is complete: month, period, period_start,
    period_end. Periods are in time order."""
    rows = [(month, *_period_of(month, kind)) for month in sorted(set(months))]
    table = pd.DataFrame(rows, columns=["month", "period", "period_start", "period_end"])
    sizes = table.groupby("period")["month"].transform("size")
    return table[sizes == MONTHS_IN_PERIOD[kind]].reset_index(drop=True)


@dataclass(frozen=True)
class CountMatrix:
    """An indicator's practice x month sums as dense matrices (zero where the engine had no row),
    and for a standardised indicator its numerator and denominator by sex and age band as
    practice x (month, band) matrices: column ``month * 38 + band``, bands in the order of
    ``caremodels.indicators.compute.BANDS``."""

    practices: tuple[str, ...]
    months: tuple[dt.date, ...]
    numerator: FloatArray
    denominator: FloatArray
    events: FloatArray
    band_numerator: sparse.csr_matrix | None = None
    band_denominator: FloatArray | None = None

    @classmethod
    def from_counts(
        cls,
        counts: pd.DataFrame,
        bands: pd.DataFrame | None = None,
        months_covered: tuple[dt.date, dt.date] | None = None,
    ) -> CountMatrix:
        """The matrices of ``counts`` (and ``bands``), over every month from the first to the last
        of ``months_covered`` (the months the data cover: a month with no row is a month of zeros,
        not a gap that would make its period incomplete), or of the months in ``counts``."""
        codes = tuple(sorted(str(code) for code in counts["practice_code"].unique()))
        months = _month_run(set(counts["month"]), months_covered)
        row = pd.Index(codes).get_indexer(pd.Index(counts["practice_code"].astype(str)))
        column = pd.Index(months).get_indexer(pd.Index(counts["month"]))
        if (column < 0).any():
            raise ValueError("counts hold a month outside the months the data cover")
        shape = (len(codes), len(months))

        def matrix(name: str) -> FloatArray:
            values = np.zeros(shape)
            np.add.at(values, (row, column), counts[name].to_numpy(dtype=np.float64))
            return values

        band_numerator: sparse.csr_matrix | None = None
        band_denominator: FloatArray | None = None
        if bands is not None:
            band_row = pd.Index(codes).get_indexer(pd.Index(bands["practice_code"].astype(str)))
            band = (bands["sex"].astype(str) == "2").to_numpy(dtype=np.int64) * (BAND_COUNT // 2) + bands[
                "age_band"
            ].to_numpy(dtype=np.int64)
            band_column = pd.Index(months).get_indexer(pd.Index(bands["month"])) * BAND_COUNT + band
            if (
                (band_row < 0).any()
                or (band_column < 0).any()
                or not bands["sex"].astype(str).isin(["1", "2"]).all()
            ):
                raise ValueError("band counts name a practice, month or sex the totals do not have")
            wide = (len(codes), len(months) * BAND_COUNT)
            # Numerators are sparse (most practice-month-bands have no event); populations are not.
            band_numerator = sparse.csr_matrix(
                (bands["numerator"].to_numpy(dtype=np.float64), (band_row, band_column)), shape=wide
            )
            band_denominator = np.zeros(wide)
            np.add.at(
                band_denominator, (band_row, band_column), bands["denominator"].to_numpy(dtype=np.float64)
            )
        return cls(
            codes,
            months,
            matrix("numerator"),
            matrix("denominator"),
            matrix("events"),
            band_numerator,
            band_denominator,
        )

    @property
    def banded(self) -> bool:
        return self.band_numerator is not None

    def mask(self, members: set[str]) -> NDArray[np.bool_]:
        return np.fromiter(
            (code in members for code in self.practices), dtype=bool, count=len(self.practices)
        )

    def _stacked(
        self,
        groups: Mapping[str, set[str]],
        keys: Mapping[str, object],
        sums: Mapping[str, Callable[[NDArray[np.bool_]], object]],
    ) -> pd.DataFrame:
        """One frame of each named group's ``sums`` (a function of the group's practice mask) beside
        the ``keys`` columns, practice_code being the group's name."""
        frames = [
            pd.DataFrame(
                {
                    "practice_code": name,
                    **keys,
                    **{column: total(self.mask(members)) for column, total in sums.items()},
                }
            )
            for name, members in groups.items()
        ]
        return pd.concat(frames, ignore_index=True)

    def group_frame(self, groups: Mapping[str, set[str]]) -> pd.DataFrame:
        """Monthly sums of each named group as one pseudo-practice per group (practice_code is the
        group's name): columns practice_code, month, numerator, denominator, events."""
        return self._stacked(
            groups,
            {"month": list(self.months)},
            {
                "numerator": lambda keep: self.numerator[keep].sum(axis=0),
                "denominator": lambda keep: self.denominator[keep].sum(axis=0),
                "events": lambda keep: self.events[keep].sum(axis=0),
            },
        )

    def group_band_frame(self, groups: Mapping[str, set[str]]) -> pd.DataFrame | None:
        """A standardised indicator's monthly sums of each named group by sex and age band (as
        ``caremodels.indicators.practice_month_band_counts`` gives practices): columns
        practice_code (the group's name), month, sex, age_band, numerator, denominator; None if
        the indicator is not banded."""
        numerator, denominator = self.band_numerator, self.band_denominator
        if numerator is None or denominator is None:
            return None
        half = BAND_COUNT // 2
        return self._stacked(
            groups,
            {
                "month": np.repeat(np.array(self.months, dtype=object), BAND_COUNT),
                "sex": np.tile(np.repeat(["1", "2"], half), len(self.months)),
                "age_band": np.tile(np.arange(BAND_COUNT) % half, len(self.months)),
            },
            {
                "numerator": lambda keep: np.asarray(numerator[keep].sum(axis=0)).ravel(),
                "denominator": lambda keep: denominator[keep].sum(axis=0),
            },
        )


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
            "ccg": {code: area_name("ccg", code) for code in ccgs},
            "practice": {code: area_name("practice", code) for code in present},
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
    groups: Sequence[Collection[str]], practice_codes: tuple[str, ...]
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
    definition: IndicatorDefinition,
    level: str,
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
    # The benchmark: every practice in the warehouse, by period.
    total_numerator, total_denominator, total_events = (
        matrix.numerator.sum(axis=0) @ to_period,
        matrix.denominator.sum(axis=0) @ to_period,
        matrix.events.sum(axis=0) @ to_period,
    )
    area_index, period_index = np.nonzero(held(numerator, denominator, events))
    flat_numerator = numerator[area_index, period_index]
    flat_denominator = denominator[area_index, period_index]
    bench_numerator = total_numerator[period_index]
    bench_denominator = total_denominator[period_index]
    if matrix.band_numerator is not None and matrix.band_denominator is not None:
        # Bands ride along: areas x (month, band), then months into periods band by band.
        def by_band(values: sparse.csr_matrix | FloatArray) -> FloatArray:
            by_area = membership @ values
            dense = by_area.toarray() if sparse.issparse(by_area) else np.asarray(by_area)
            shaped = dense.reshape(len(codes), len(matrix.months), BAND_COUNT).transpose(0, 2, 1)
            return np.asarray(shaped @ to_period).transpose(0, 2, 1)  # areas x periods x bands

        flat_numerator = by_band(matrix.band_numerator)[area_index, period_index]
        flat_denominator = by_band(matrix.band_denominator)[area_index, period_index]

        def total_by_band(values: sparse.csr_matrix | FloatArray) -> FloatArray:
            column_sums = np.asarray(values.sum(axis=0)).reshape(len(matrix.months), BAND_COUNT)
            return np.asarray(column_sums.T @ to_period).T  # periods x bands

        bench_numerator = total_by_band(matrix.band_numerator)[period_index]
        bench_denominator = total_by_band(matrix.band_denominator)[period_index]
    first_rows = periods.drop_duplicates("period")
    starts = dict(zip(first_rows["period"], first_rows["period_start"], strict=True))
    ends = dict(zip(first_rows["period"], first_rows["period_end"], strict=True))
    months = np.full(len(area_index), float(MONTHS_IN_PERIOD[period]))
    flat_events = events[area_index, period_index]
    done = finish_arrays(definition, flat_numerator, flat_denominator, flat_events, months)
    compared = comparisons(
        definition,
        flat_numerator,
        flat_denominator,
        flat_events,
        months,
        bench_numerator,
        bench_denominator,
        total_events[period_index],
    )
    period_labels = [labels[index] for index in period_index]
    area_codes = [codes[index] for index in area_index]
    frame = pd.DataFrame(
        {
            "indicator_id": definition.id,
            "level": level,
            "code": area_codes,
            "name": [names.get(code, code) for code in area_codes],
            "period": period_labels,
            "period_start": [starts[label] for label in period_labels],
            "period_end": [ends[label] for label in period_labels],
            "months": months,
            "numerator": done.numerator,
            "events": done.events,
            "denominator": done.denominator,
            "exposure": done.exposure,
            "value": done.value,
            "ci_low": done.ci_low,
            "ci_high": done.ci_high,
            "unit": value_unit(definition, period),
            **compared,
        }
    )
    return frame.sort_values(["period_start", "code"], kind="stable").reset_index(drop=True)


def values_by_area(
    matrix: CountMatrix,
    index: AreaIndex,
    geography: Geography,
    period: PeriodKind,
    definition: IndicatorDefinition,
) -> pd.DataFrame:
    """An indicator's value for each area of ``geography`` and each complete period.

    Columns (``VALUE_COLUMNS``): indicator_id, level (the geography), code, name, period (its
    label), period_start, period_end, months, numerator, events, denominator (as reported: mean
    list size, resident-years or events), exposure (what the value is per: person-years,
    resident-years or events), value, ci_low, ci_high (annual rates, from
    ``caremodels.indicators.finish_arrays``) and unit. Area-periods with nothing counted have no row.
    """
    if geography not in get_args(Geography):
        raise ValueError(f"unknown geography {geography!r}")
    codes, membership = index.matrix(geography, matrix.practices)
    return _values(matrix, membership, codes, index.names[geography], period, definition, geography)


def values_of_groups(
    matrix: CountMatrix,
    groups: Mapping[str, Collection[str]],
    period: PeriodKind,
    definition: IndicatorDefinition,
    *,
    level: str = "group",
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """As ``values_by_area``, for named groups of practices (the code is the group's key, the name
    ``names[key]`` or the key)."""
    keys = list(groups)
    membership = _membership_matrix([groups[key] for key in keys], matrix.practices)
    return _values(matrix, membership, keys, names or {key: key for key in keys}, period, definition, level)


AGGREGATED_PERIODS: tuple[PeriodKind, ...] = ("month", "quarter", "financial_year")
"""The period kinds the dashboard aggregates (no rolling 12 months)."""


def area_results(
    matrix: CountMatrix, definition: IndicatorDefinition, areas: AreaSet, period: PeriodKind
) -> pd.DataFrame:
    """The dashboard's aggregation of one indicator for every area of an indicator level
    (``caremodels.indicators.geography.area_set``), as ``caremodels.indicators.indicator_results``
    gives it (``RESULT_COLUMNS``; the period column is the period kind). The spec suite runs this
    beside the indicator engines, so that the dashboard's numbers are checked against theirs."""
    present = frozenset(matrix.practices)
    groups = {code: areas.practices_of(code, present) for code in areas.codes(present)}
    values = values_of_groups(matrix, groups, period, definition, level=areas.level)
    if values.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    return values.assign(period=period)[RESULT_COLUMNS].sort_values(["code", "period_start"], kind="stable")
