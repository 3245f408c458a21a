"""The reference implementation: a slow, plain pandas reading of each definition, used as the oracle
that the DuckDB and Spark engines must agree with, and as the "straightforward pandas" baseline of
the benchmark.

It deliberately shares no query logic with ``caremodels.indicators.ibis_engine``: it works with
dates rather than month indices, loops over months and periods, and counts the registered
population month by month by asking of every registration "did it cover the 15th?".

- An event is in a period when its date lies between the period's first and last day.
- The registered population of a month is the number of registrations with start <= the 15th and
  (no end, or end >= the 15th); a person's age is their age in whole years on the 15th. A period's
  population is the sum over its months (the caller divides by the number of months).
- Care-home residence counts the days from the first day in the home to the last (or to the last
  day of the data when still resident) that fall in the period.

Boundaries: reads the whole of each table it needs into memory, so it is only for fixtures and data
that pandas can hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.codelists import code_list
from caremodels.indicators.definition import (
    CareHomeResidentYears,
    Condition,
    EventSelection,
    IndicatorDefinition,
    RegisteredPopulation,
)
from caremodels.indicators.engines import (
    AGE_BANDS,
    BAND_COLUMNS,
    COUNT_COLUMNS,
    check_person_level,
    person_day_frame,
)
from caremodels.indicators.geography import AreaSet, Unit, event_unit_column
from caremodels.indicators.periods import Period, month_index, month_start
from caremodels.indicators.tables import EVENT_TABLES
from caremodels.reference import admission_methods
from caremodels.warehouse.schema import warehouse_columns

__all__ = ["ReferenceEngine"]


def _as_timestamps(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    for name, kind in warehouse_columns(table):
        if kind in ("DATE", "TIMESTAMP"):
            frame[name] = pd.to_datetime(frame[name])
    return frame


class ReferenceEngine:
    """Counts indicators with pandas, reading the DuckDB warehouse file once per table."""

    name = "reference"

    def __init__(self, warehouse_path: Path) -> None:
        path = Path(warehouse_path)
        if not path.is_file():
            raise CaremodelsError(f"no warehouse at {path}")
        self._connection = duckdb.connect(str(path), read_only=True)
        self._frames: dict[str, pd.DataFrame] = {}
        self._populations: dict[tuple[Any, ...], dict[int, pd.DataFrame]] = {}

    def close(self) -> None:
        self._connection.close()

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            frame = self._connection.execute(f"SELECT * FROM {name}").df()
            self._frames[name] = _as_timestamps(frame, name)
        return self._frames[name]

    def data_months(self, selection: EventSelection) -> tuple[int, int] | None:
        dates = self.table(selection.table)[selection.date].dropna()
        if dates.empty:
            return None
        return month_index(dates.min().date()), month_index(dates.max().date())

    # -- events ----------------------------------------------------------------------------------

    def _field(self, frame: pd.DataFrame, table: str, name: str) -> pd.Series:
        derived = EVENT_TABLES[table].derived_field(name)
        if derived is None:
            return frame[name]
        elapsed = frame[derived.end] - frame[derived.start]
        if derived.kind == "days_between":
            return elapsed.dt.days
        return elapsed.dt.total_seconds() / 60

    def _passes(self, frame: pd.DataFrame, table: str, condition: Condition) -> pd.Series:
        value = self._field(frame, table, condition.field)
        if condition.in_ is not None:
            return value.isin(condition.in_)
        if condition.not_in is not None:
            return value.isna() | ~value.isin(condition.not_in)
        if condition.admission_method_groups is not None:
            groups = condition.admission_method_groups
            return value.map(
                lambda code: code in admission_methods() and admission_methods()[code].group in groups
            )
        if condition.code_list is not None:
            codes = code_list(condition.code_list)
            return value.map(lambda code: isinstance(code, str) and codes.matches(code))
        if condition.present is not None:
            return value.notna() if condition.present else value.isna()
        passes = value.notna()
        if condition.min is not None:
            passes &= value >= condition.min
        if condition.max is not None:
            passes &= value <= condition.max
        return passes

    def _selected(self, selection: EventSelection) -> pd.DataFrame:
        frame = self.table(selection.table)
        keep = pd.Series(True, index=frame.index)
        for condition in selection.where:
            keep &= self._passes(frame, selection.table, condition).astype(bool)
        frame = frame[keep]
        linked = selection.linked
        if linked is None:
            return frame
        other = self.table(linked.table)
        other_keep = pd.Series(True, index=other.index)
        for condition in linked.where:
            other_keep &= self._passes(other, linked.table, condition).astype(bool)
        other = other[other_keep]
        these = frame[["person_id", linked.this_date]].rename(columns={linked.this_date: "this_date"})
        these = these.reset_index(names="row")
        those = other[["person_id", linked.linked_date]].rename(columns={linked.linked_date: "linked_date"})
        those = those.reset_index(names="other_row")
        pairs = these.merge(those, on="person_id")
        gap = (pairs["linked_date"].dt.normalize() - pairs["this_date"].dt.normalize()).dt.days
        ok = (gap >= linked.min_days) & (gap <= linked.max_days)
        if linked.table == selection.table:  # an event never links to itself (the same row)
            ok &= pairs["row"] != pairs["other_row"]
        return frame.loc[frame.index.isin(pairs.loc[ok, "row"])]

    def _events(
        self, selection: EventSelection, *, banded: bool, weight: str, unit: Unit = "practice"
    ) -> pd.DataFrame:
        """One row per event: practice, date (``when``), weight, and sex and age band if banded."""
        frame = self._selected(selection)
        events = pd.DataFrame(
            {
                "practice": frame[
                    event_unit_column(selection.table, EVENT_TABLES[selection.table].practice_column, unit)
                ],
                "when": frame[selection.date],
            },
            index=frame.index,
        )
        if weight == "count":
            events["weight"] = 1.0
        elif weight == "bed_days":
            events["weight"] = (frame["discharge_date"] - frame["admission_date"]).dt.days.astype(float)
        else:
            events["weight"] = frame[weight].astype(float)
        if banded:
            events["sex"] = frame["sex"]
            events["age_band"] = (frame["age"] // 5).clip(upper=AGE_BANDS - 1)
            events = events[events["sex"].isin(["1", "2"])]
        if selection.cohort == "care_home_residents":
            events = self._while_resident(events.assign(person_id=frame["person_id"]))
        return events

    def _while_resident(self, events: pd.DataFrame) -> pd.DataFrame:
        residence = self.table("care_home_residence")
        pairs = events.reset_index(drop=True).merge(
            residence[["person_id", "practice_code", "residence_start", "residence_end"]], on="person_id"
        )
        day = pairs["when"].dt.normalize()
        resident = (day >= pairs["residence_start"]) & (
            pairs["residence_end"].isna() | (day <= pairs["residence_end"])
        )
        pairs = pairs[resident]
        return pairs.assign(practice=pairs["practice_code"]).drop(
            columns=["person_id", "practice_code", "residence_start", "residence_end"]
        )

    # -- person level ----------------------------------------------------------------------------

    def person_day_events(
        self,
        definition: IndicatorDefinition,
        *,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        people: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """Every numerator event with its person, then residence checked day by day for the
        care-home cohort, then summed by person, practice and day."""
        numerator = definition.numerator
        check_person_level(definition)
        weight: str = numerator.measure
        if numerator.measure == "sum" and numerator.sum_of:
            weight = numerator.sum_of
        frame = self._selected(numerator)
        events = pd.DataFrame(
            {
                "person_id": frame["person_id"],
                "practice_code": frame[EVENT_TABLES[numerator.table].practice_column],
                "day": frame[numerator.date].dt.normalize(),
            },
            index=frame.index,
        )
        if weight == "count":
            events["numerator"] = 1.0
        elif weight == "bed_days":
            events["numerator"] = (frame["discharge_date"] - frame["admission_date"]).dt.days.astype(float)
        else:
            events["numerator"] = frame[weight].astype(float)
        if first_day is not None:
            events = events[events["day"] >= pd.Timestamp(first_day)]
        if last_day is not None:
            events = events[events["day"] <= pd.Timestamp(last_day)]
        if people is not None:
            events = events[events["person_id"].isin(set(people))]
        if numerator.cohort == "care_home_residents":
            residence = self.table("care_home_residence")[
                ["person_id", "practice_code", "residence_start", "residence_end"]
            ]
            pairs = events.drop(columns="practice_code").merge(residence, on="person_id")
            resident = (pairs["day"] >= pairs["residence_start"]) & (
                pairs["residence_end"].isna() | (pairs["day"] <= pairs["residence_end"])
            )
            events = pairs[resident]
        summed = (
            events.groupby(["person_id", "practice_code", "day"])["numerator"]
            .agg(numerator="sum", events="count")
            .reset_index()
        )
        return person_day_frame(summed)

    # -- denominators ----------------------------------------------------------------------------

    def _monthly_population(
        self, first: int, last: int, *, banded: bool, min_age: int | None, max_age: int | None
    ) -> dict[int, pd.DataFrame]:
        key = (first, last, banded, min_age, max_age)
        if key in self._populations:
            return self._populations[key]
        registrations = self.table("gp_registrations")
        birth = registrations["birth_month"]  # the 1st of the month of birth
        by_month = {}
        for month in range(first, last + 1):
            mid = pd.Timestamp(month_start(month).replace(day=15))
            covered = (registrations["registration_start"] <= mid) & (
                registrations["registration_end"].isna() | (registrations["registration_end"] >= mid)
            )
            not_had_birthday = (birth.dt.month > mid.month) | (
                (birth.dt.month == mid.month) & (birth.dt.day > mid.day)
            )
            age = mid.year - birth.dt.year - not_had_birthday.astype(int)
            if min_age is not None:
                covered &= age >= min_age
            if max_age is not None:
                covered &= age <= max_age
            people = pd.DataFrame({"practice": registrations["practice_code"], "sex": registrations["sex"]})
            people["age_band"] = (age // 5).clip(upper=AGE_BANDS - 1)
            people = people[covered]
            keys = ["practice"]
            if banded:
                people = people[people["sex"].isin(["1", "2"])]
                keys = ["practice", *BAND_COLUMNS]
            by_month[month] = people.groupby(keys).size().rename("denominator").reset_index()
        self._populations[key] = by_month
        return by_month

    def _resident_days(self, period: Period, data_end: dt.date) -> pd.DataFrame:
        residence = self.table("care_home_residence")
        period_start, period_end = pd.Timestamp(period.start), pd.Timestamp(period.end)
        begins = residence["residence_start"]
        start = begins.where(begins > period_start, period_start)
        ends = residence["residence_end"].fillna(pd.Timestamp(data_end))
        end = ends.where(ends < period_end, period_end)
        days = (end - start).dt.days + 1
        stays = pd.DataFrame({"practice": residence["practice_code"], "denominator": days})
        stays = stays[stays["denominator"] > 0]
        return stays.groupby("practice")["denominator"].sum().reset_index()

    # -- putting it together ---------------------------------------------------------------------

    def counts_many(
        self,
        definitions: Sequence[IndicatorDefinition],
        area_sets: Sequence[AreaSet],
        periods: Mapping[str, Sequence[Period]],
    ) -> dict[str, pd.DataFrame]:
        """One definition after another: nothing is shared but the monthly registered population."""
        return {
            definition.id: self.counts(definition, area_sets, periods[definition.id])
            for definition in definitions
        }

    def counts(
        self, definition: IndicatorDefinition, area_sets: Sequence[AreaSet], periods: Sequence[Period]
    ) -> pd.DataFrame:
        banded = definition.standardisation == "esp2013"
        band_keys = BAND_COLUMNS if banded else []
        keys = ["practice", *band_keys]
        if not periods or not area_sets:
            return pd.DataFrame(columns=COUNT_COLUMNS + band_keys)
        first = min(period.first_month for period in periods)
        last = max(period.last_month for period in periods)
        numerator_weight: str = definition.numerator.measure
        if definition.numerator.measure == "sum" and definition.numerator.sum_of:
            numerator_weight = definition.numerator.sum_of
        units = {area_set.unit for area_set in area_sets}
        if len(units) > 1:
            raise CaremodelsError("count the provider level apart from the practice-based levels")
        unit = units.pop()
        events = self._events(definition.numerator, banded=banded, weight=numerator_weight, unit=unit)
        denominator = definition.denominator
        # A trust has no registered list or care-home residents: at provider level that denominator is 0.
        no_population = unit == "provider" and isinstance(
            denominator, RegisteredPopulation | CareHomeResidentYears
        )
        population: dict[int, pd.DataFrame] = {}
        denominator_events = pd.DataFrame()
        if no_population:
            pass
        elif isinstance(denominator, RegisteredPopulation):
            population = self._monthly_population(
                first, last, banded=banded, min_age=denominator.min_age, max_age=denominator.max_age
            )
        elif not isinstance(denominator, CareHomeResidentYears):
            denominator_events = self._events(denominator, banded=banded, weight="count", unit=unit)
        data_end = month_start(last + 1) - dt.timedelta(days=1)

        def table_for(period: Period) -> pd.DataFrame:
            """Numerator, events and denominator by practice (and band) over one period."""
            after_end = pd.Timestamp(period.end + dt.timedelta(days=1))
            in_period = events[(events["when"] >= pd.Timestamp(period.start)) & (events["when"] < after_end)]
            numerator = in_period.groupby(keys)["weight"].agg(numerator="sum", events="count").reset_index()
            if no_population:
                per_practice = numerator[keys].iloc[0:0].assign(denominator=0.0)
            elif isinstance(denominator, RegisteredPopulation):
                months = [population[m] for m in range(period.first_month, period.last_month + 1)]
                per_practice = pd.concat(months).groupby(keys)["denominator"].sum().reset_index()
            elif isinstance(denominator, CareHomeResidentYears):
                per_practice = self._resident_days(period, data_end)
            else:
                mask = (denominator_events["when"] >= pd.Timestamp(period.start)) & (
                    denominator_events["when"] < after_end
                )
                per_practice = (
                    denominator_events[mask].groupby(keys).size().rename("denominator").reset_index()
                )
            return numerator.merge(per_practice, on=keys, how="outer").fillna(
                {"numerator": 0, "events": 0, "denominator": 0}
            )

        by_period = [
            table_for(period).assign(
                period=period.kind, first_month=period.first_month, last_month=period.last_month
            )
            for period in periods
        ]
        practice_periods = pd.concat(by_period, ignore_index=True)
        present = frozenset(practice_periods["practice"])
        period_keys = ["period", "first_month", "last_month"]
        monthly: dict[int, pd.DataFrame] = {}
        rows = []
        for area_set in area_sets:
            pairs = [
                (code, practice)
                for code in area_set.codes(present)
                for practice in sorted(area_set.practices_of(code, present))
            ]
            dated = [
                (code, practice) for code, practice in pairs if practice in area_set.windows.get(code, {})
            ]
            membership = pd.DataFrame(
                [pair for pair in pairs if pair not in set(dated)], columns=["code", "practice"]
            )
            parts = [membership.merge(practice_periods, on="practice")]
            # A dated member counts only in its months: summed month by month (the sums add up).
            for period in periods:
                for code, practice in dated:
                    for month in range(period.first_month, period.last_month + 1):
                        if not area_set.counts_in(code, practice, month):
                            continue
                        if month not in monthly:
                            monthly[month] = table_for(Period("month", month, month))
                        one = monthly[month]
                        parts.append(
                            one[one["practice"] == practice].assign(
                                code=code,
                                period=period.kind,
                                first_month=period.first_month,
                                last_month=period.last_month,
                            )
                        )
            in_areas = pd.concat(parts, ignore_index=True)
            sums = in_areas.groupby(["code", *period_keys, *band_keys])[
                ["numerator", "denominator", "events"]
            ].sum()
            rows.append(sums.reset_index().assign(level=area_set.level))
        return pd.concat(rows, ignore_index=True)[COUNT_COLUMNS + band_keys]
