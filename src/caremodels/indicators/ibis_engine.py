"""The indicator engine on Ibis: one set of expressions, run by DuckDB (the embedded default) or by
Apache Spark (``spark_engine``; local mode on a laptop, a cluster address in production).

How a definition becomes a query:

1. Events: the numerator's table filtered by its conditions (and, if asked, kept only when the same
   person has a linked event, or only while resident in a care home), placed in a month by a
   *month index* ``year * 12 + month - 1`` and summed by practice and month.
2. Denominator by practice and month: the registered population is counted without a join against
   every month. Each registration counts from the first month whose 15th it covers to the last; it
   adds +1 in its first month and -1 after its last, and a running sum over the months gives the
   mid-month list size. For standardised rates the same is done per sex and age band, splitting a
   registration where the person's age at mid-month crosses a band boundary. Care-home residence
   is turned into days per month; event denominators are summed like numerators.
3. Practice-months are mapped to areas (one branch per level) and to periods (a table of months),
   and summed.

Boundaries: engines read the warehouse only and return raw sums (see ``caremodels.indicators.engines``).
The warehouse is opened read-only; Spark reads the tables as Parquet (exported from the DuckDB file
to a temporary folder, or read from a folder or URI of ``<table>.parquet`` files in production).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.codelists import code_list
from caremodels.indicators.definition import (
    CareHomeResidentYears,
    Condition,
    EventSelection,
    IndicatorDefinition,
    LinkedEvent,
    Numerator,
    RegisteredPopulation,
)
from caremodels.indicators.engines import AGE_BANDS, COUNT_COLUMNS, check_person_level, person_day_frame
from caremodels.indicators.geography import AreaSet, Unit, event_unit_column
from caremodels.indicators.periods import Period, month_start
from caremodels.indicators.tables import EVENT_TABLES
from caremodels.reference import admission_methods
from caremodels.warehouse.schema import SOURCE_TABLES

if TYPE_CHECKING:
    from ibis.backends import BaseBackend
    from pyspark.sql import SparkSession

    from caremodels.warehouse.store import Warehouse

__all__ = [
    "DEFAULT_SPARK_CONFIG",
    "IbisEngine",
    "duckdb_engine",
    "duckdb_engine_for",
    "spark_engine",
]

DEFAULT_SPARK_CONFIG: dict[str, str] = {
    # Timestamps without a time zone must read back as written, whatever the machine's zone.
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
_EPOCH = dt.date(1970, 1, 1)
_FEW_QUANTITIES = 12
"""Up to this many quantities (numerators, event counts, denominators) in one query, they are put
in columns by the engine; above it, by pandas (see ``IbisEngine.counts_many``)."""


def _month_index(value: ir.Value) -> ir.IntegerValue:
    temporal: Any = value
    return (temporal.year() * 12 + temporal.month() - 1).cast("int64")


def _day_number(table: ir.Table, table_name: str, column: str) -> ir.IntegerValue:
    """Days since 1970-01-01 of a date, or of the date part of a timestamp."""
    value: Any = table[column]
    if SOURCE_TABLES[table_name].column(column).type == "timestamp":
        value = value.date()
    return value.epoch_days().cast("int64")


def _field(table: ir.Table, table_name: str, name: str) -> ir.Value:
    derived = EVENT_TABLES[table_name].derived_field(name)
    if derived is None:
        return table[name]
    start: Any = table[derived.start]
    end: Any = table[derived.end]
    if derived.kind == "days_between":
        return end.epoch_days().cast("int64") - start.epoch_days().cast("int64")
    return (end.epoch_seconds() - start.epoch_seconds()).cast("float64") / 60.0


def _condition(table: ir.Table, table_name: str, condition: Condition) -> ir.BooleanValue:
    value: Any = _field(table, table_name, condition.field)
    if condition.in_ is not None:
        return value.isin(list(condition.in_))
    if condition.not_in is not None:
        return value.isnull() | ~value.isin(list(condition.not_in))
    if condition.admission_method_groups is not None:
        codes = [
            code
            for code, method in admission_methods().items()
            if method.group in condition.admission_method_groups
        ]
        return value.isin(codes)
    if condition.code_list is not None:
        listed = code_list(condition.code_list).codes
        by_length = itertools.groupby(sorted(listed, key=len), key=len)
        tests = [value.substr(0, length).isin(list(group)) for length, group in by_length]
        return ibis.or_(*tests)
    if condition.present is not None:
        return value.notnull() if condition.present else value.isnull()
    test = ibis.literal(True)
    if condition.min is not None:
        test = test & (value >= condition.min)
    if condition.max is not None:
        test = test & (value <= condition.max)
    return test


class IbisEngine:
    """Counts indicators with Ibis expressions on one backend (see the module docstring)."""

    def __init__(
        self,
        name: str,
        backend: BaseBackend,
        table: Callable[[str], ir.Table],
        *,
        on_close: Callable[[], None] | None = None,
        constant: Callable[[pd.DataFrame], ir.Table] | None = None,
    ) -> None:
        self.name = name
        self.backend = backend
        self._table = table
        self._make_constant = constant or ibis.memtable
        self._constants: dict[tuple[Any, ...], ir.Table] = {}
        self._present: dict[tuple[tuple[str, str], ...], frozenset[str]] = {}
        self._tables: dict[str, ir.Table] = {}
        self._on_close = on_close
        self._population_cache: dict[tuple[Any, ...], ir.Table] = {}
        self._months_cache: dict[tuple[str, str], tuple[int, int] | None] = {}

    def _constant(self, frame: pd.DataFrame) -> ir.Table:
        """A small table of known values (months, bands, memberships), made once per engine."""
        key = (
            tuple(frame.columns),
            tuple(str(dtype) for dtype in frame.dtypes),
            tuple(frame.itertuples(index=False, name=None)),
        )
        if key not in self._constants:
            self._constants[key] = self._make_constant(frame)
        return self._constants[key]

    def table(self, name: str) -> ir.Table:
        if name not in self._tables:
            try:
                self._tables[name] = self._table(name)
            except Exception as error:
                raise CaremodelsError(f"the warehouse has no readable table {name!r}: {error}") from error
        return self._tables[name]

    def execute(self, expression: ir.Table) -> pd.DataFrame:
        frame: pd.DataFrame = self.backend.execute(expression)
        return frame

    def close(self) -> None:
        for cached in self._population_cache.values():
            release = getattr(cached, "release", None)
            if release is not None:
                release()
        self._population_cache.clear()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None

    def __enter__(self) -> IbisEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data coverage ---------------------------------------------------------------------------

    def data_months(self, selection: EventSelection) -> tuple[int, int] | None:
        key = (selection.table, selection.date)
        if key not in self._months_cache:
            table = self.table(selection.table)
            month = _month_index(table[selection.date])
            row = self.execute(table.aggregate(first=month.min(), last=month.max())).iloc[0]
            self._months_cache[key] = None if pd.isna(row["first"]) else (int(row["first"]), int(row["last"]))
        return self._months_cache[key]

    # -- events ----------------------------------------------------------------------------------

    def _linked(self, table: ir.Table, source: _Source) -> ir.Table:
        """The rows of ``table`` whose person has the source's linked event."""
        linked = source.linked
        if linked is None:
            return table
        other = self.table(linked.table).view()
        other_tests = [_condition(other, linked.table, condition) for condition in linked.where]
        if other_tests:
            other = other.filter(*other_tests)
        key = EVENT_TABLES[source.table].key
        same_table = linked.table == source.table
        these = table.select(
            this_person=table.person_id,
            this_day=_day_number(table, source.table, linked.this_date),
            **{f"key{i}": table[column] for i, column in enumerate(key)},
        )
        those = other.select(
            that_person=other.person_id,
            that_day=_day_number(other, linked.table, linked.linked_date),
            **({f"other_key{i}": other[column] for i, column in enumerate(key)} if same_table else {}),
        )
        # An equality join on the person, then the window as a filter: a semi-join carrying the
        # window in its condition is planned by DuckDB as a nested loop.
        pairs = these.join(those, [("this_person", "that_person")])
        gap = pairs.that_day - pairs.this_day
        tests = [gap >= linked.min_days, gap <= linked.max_days]
        if same_table:
            tests.append(ibis.or_(*[pairs[f"key{i}"] != pairs[f"other_key{i}"] for i in range(len(key))]))
        matched = pairs.filter(*tests).select(*[f"key{i}" for i in range(len(key))]).distinct()
        return table.semi_join(matched, [(column, f"key{i}") for i, column in enumerate(key)])

    def _measure_months(
        self, source: _Source, measure: _Measure, first: int, last: int, unit: Unit = "practice"
    ) -> ir.Table:
        """By practice and month (and sex and age band): the sum of a measure's weight (``value``)
        and its number of events (``events``) over the source's events passing its conditions."""
        table = self.table(source.table)
        tests = [_condition(table, source.table, condition) for condition in measure.where]
        # The months as a range of the date itself, which the scan can use to skip data.
        when: Any = table[source.date]
        tests += [
            when >= _month_bound(source.table, source.date, first),
            when < _month_bound(source.table, source.date, last + 1),
        ]
        table = table.filter(*tests)
        table = self._linked(table, source)
        columns: dict[str, Any] = {
            # The provider level keys events by their trust instead (the column is still "practice").
            "practice": table[
                event_unit_column(source.table, EVENT_TABLES[source.table].practice_column, unit)
            ],
            "month": _month_index(table[source.date]),
            "weight": _weight_value(table, source.table, measure.weight),
        }
        keys = ["practice", "month"]
        if source.banded:
            age: Any = table.age
            columns["sex"] = table.sex
            columns["age_band"] = ibis.least((age / 5).floor().cast("int64"), AGE_BANDS - 1)
            keys += ["sex", "age_band"]
        if source.cohort == "care_home_residents":
            columns["person_id"] = table.person_id
            columns["day"] = _day_number(table, source.table, source.date)
        rows = table.select(**columns)
        if source.banded:
            rows = rows.filter(rows.sex.isin(["1", "2"]))
        if source.cohort == "care_home_residents":
            rows = self._while_resident(rows)
        return rows.group_by(keys).aggregate(value=rows.weight.sum(), events=rows.count())

    def _while_resident(self, rows: ir.Table, *, keep_person: bool = False) -> ir.Table:
        """Events on a day the person was resident in a care home, moved to the home's practice
        (keeping the person and the day when ``keep_person``)."""
        residence = self.table("care_home_residence")
        stays = residence.select(
            resident=residence.person_id,
            home_practice=residence.practice_code,
            stay_start=_day_number(residence, "care_home_residence", "residence_start"),
            stay_end=residence.residence_end.epoch_days().cast("int64"),
        )
        joined = rows.join(
            stays,
            [
                ("person_id", "resident"),
                rows.day >= stays.stay_start,
                stays.stay_end.isnull() | (rows.day <= stays.stay_end),
            ],
        )
        dropped = ("practice",) if keep_person else ("practice", "person_id", "day")
        kept = [column for column in rows.columns if column not in dropped]
        return joined.select(practice=joined.home_practice, **{column: joined[column] for column in kept})

    # -- person level ----------------------------------------------------------------------------

    def person_day_events(
        self,
        definition: IndicatorDefinition,
        *,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        people: Collection[str] | None = None,
    ) -> pd.DataFrame:
        """The numerator's events per person, practice and day (see ``caremodels.indicators.engines``)."""
        numerator = definition.numerator
        table_name = numerator.table
        check_person_level(definition)
        table = self.table(table_name)
        tests = [_condition(table, table_name, condition) for condition in numerator.where]
        when: Any = table[numerator.date]
        if first_day is not None:
            tests.append(when >= _day_bound(table_name, numerator.date, first_day))
        if last_day is not None:
            tests.append(when < _day_bound(table_name, numerator.date, last_day + dt.timedelta(days=1)))
        if tests:
            table = table.filter(*tests)
        if people is not None:
            wanted = self._constant(pd.DataFrame({"wanted_person": sorted(set(people))}, dtype="string"))
            table = table.semi_join(wanted, [("person_id", "wanted_person")])
        source = _Source(table_name, numerator.date, numerator.cohort, numerator.linked, False)
        table = self._linked(table, source)
        rows = table.select(
            person_id=table.person_id,
            practice=table[EVENT_TABLES[table_name].practice_column],
            day=_day_number(table, table_name, numerator.date),
            weight=_weight_value(table, table_name, _weight(numerator)),
        )
        if numerator.cohort == "care_home_residents":
            rows = self._while_resident(rows, keep_person=True)
        grouped = rows.group_by(["person_id", "practice", "day"]).aggregate(
            numerator=rows.weight.sum(), events=rows.count()
        )
        return person_day_frame(self.execute(grouped).rename(columns={"practice": "practice_code"}))

    # -- denominators ----------------------------------------------------------------------------

    def _registered_population(
        self, first: int, last: int, *, banded: bool, min_age: int | None, max_age: int | None
    ) -> ir.Table:
        """Mid-month list sizes by practice and month (and sex and age band when ``banded``)."""
        cache_key = ("registered", first, last, banded, min_age, max_age)
        if cache_key in self._population_cache:
            return self._population_cache[cache_key]
        registrations = self.table("gp_registrations")
        start: Any = registrations.registration_start
        end: Any = registrations.registration_end
        birth: Any = registrations.birth_month  # the 1st of the month of birth
        # A registration counts in a month when it covers the 15th of that month.
        counted_from = _month_index(start) + ibis.ifelse(start.day() > 15, 1, 0)
        counted_to = ibis.ifelse(end.isnull(), last, _month_index(end) - ibis.ifelse(end.day() < 15, 1, 0))
        # Age at mid-month m is floor((m - born) / 12): the birthday counts once its 15th has passed
        # (birth_month is the 1st of the month of birth, so from the birth month's mid-month on).
        born = _month_index(birth) + ibis.ifelse(birth.day() > 15, 1, 0)
        spans = registrations.select(
            practice=registrations.practice_code,
            sex=registrations.sex,
            born=born,
            low=ibis.greatest(counted_from, first),
            high=ibis.least(counted_to, last),
        )
        if min_age is not None:
            spans = spans.mutate(low=ibis.greatest(spans.low, spans.born + 12 * min_age))
        if max_age is not None:
            spans = spans.mutate(high=ibis.least(spans.high, spans.born + 12 * max_age + 11))
        keys = ["practice"]
        if banded:
            # Within the months asked for, a registration crosses at most a few five-year bands:
            # enumerate them from the band at its first month rather than joining to all 19.
            offsets = self._constant(
                pd.DataFrame({"band_offset": range((last - first) // 60 + 2)}).astype("int64")
            )
            spans = spans.filter((spans.sex.isin(["1", "2"])) & (spans.low <= spans.high))
            first_band = ibis.least(((spans.low - spans.born) / 60).floor().cast("int64"), AGE_BANDS - 1)
            last_band = ibis.least(((spans.high - spans.born) / 60).floor().cast("int64"), AGE_BANDS - 1)
            spans = spans.mutate(first_band=first_band, last_band=last_band).cross_join(offsets)
            spans = spans.mutate(age_band=spans.first_band + spans.band_offset)
            spans = spans.filter(spans.age_band <= spans.last_band)
            band_end = ibis.ifelse(
                spans.age_band == AGE_BANDS - 1, spans.high, spans.born + 60 * spans.age_band + 59
            )
            spans = spans.select(
                "practice",
                "sex",
                "age_band",
                low=ibis.greatest(spans.low, spans.born + 60 * spans.age_band),
                high=ibis.least(spans.high, band_end),
            )
            keys = ["practice", "sex", "age_band"]
        spans = spans.filter(spans.low <= spans.high)
        joins = spans.select(*keys, month=spans.low, change=ibis.literal(1, type="int64"))
        leaves = spans.filter(spans.high < last).select(
            *keys, month=spans.high + 1, change=ibis.literal(-1, type="int64")
        )
        changes = joins.union(leaves)
        changes = changes.group_by([*keys, "month"]).aggregate(change=changes.change.sum())
        months = self._constant(pd.DataFrame({"month": range(first, last + 1)}).astype("int64"))
        grid = changes.select(*keys).distinct().cross_join(months)
        joined = grid.left_join(changes, [*keys, "month"])
        filled = joined.select(
            *[joined[key] for key in keys],
            month=joined.month,
            change=ibis.coalesce(joined.change, 0),
        )
        running = filled.mutate(
            denominator=filled.change.sum().over(ibis.cumulative_window(group_by=keys, order_by="month"))
        )
        population = running.filter(running.denominator > 0).select(*keys, "month", "denominator")
        cached = population.cache()
        self._population_cache[cache_key] = cached
        return cached

    def _resident_days(self, first: int, last: int) -> ir.Table:
        """Days of care-home residence by the home's practice and month."""
        residence = self.table("care_home_residence")
        last_day = (month_start(last + 1) - _EPOCH).days - 1
        months = self._constant(
            pd.DataFrame(
                {
                    "month": range(first, last + 1),
                    "month_first_day": [(month_start(m) - _EPOCH).days for m in range(first, last + 1)],
                    "month_last_day": [
                        (month_start(m + 1) - _EPOCH).days - 1 for m in range(first, last + 1)
                    ],
                }
            ).astype("int64")
        )
        stays = residence.select(
            practice=residence.practice_code,
            stay_start=_day_number(residence, "care_home_residence", "residence_start"),
            stay_end=ibis.coalesce(residence.residence_end.epoch_days().cast("int64"), last_day),
        )
        joined = stays.join(
            months, [stays.stay_start <= months.month_last_day, stays.stay_end >= months.month_first_day]
        )
        days = (
            ibis.least(joined.stay_end, joined.month_last_day)
            - ibis.greatest(joined.stay_start, joined.month_first_day)
            + 1
        )
        rows = joined.select("practice", "month", days=days)
        return rows.group_by(["practice", "month"]).aggregate(denominator=rows.days.sum())

    # -- putting it together ---------------------------------------------------------------------

    def _stacked(
        self, definitions: Sequence[IndicatorDefinition], first: int, last: int, unit: Unit = "practice"
    ) -> tuple[ir.Table, dict[str, tuple[str, str, str]]]:
        """Practice-month sums for several definitions at once, in long form (practice, month,
        [sex, age_band], quantity, amount), and for each definition the names of its numerator,
        events and denominator quantities.

        A measure shared by several definitions (the same events and weight) is computed once, and
        so are the registered population and care-home residence. A quantity with no row for a
        practice-month counts as zero; one query answers them all.
        """
        banded = definitions[0].standardisation == "esp2013"
        sources: dict[_Source, list[_Measure]] = {}
        populations: dict[tuple[Any, ...], str] = {}

        def measured(selection: EventSelection, weight: str) -> tuple[str, str]:
            source = _Source(selection.table, selection.date, selection.cohort, selection.linked, banded)
            measures = sources.setdefault(source, [])
            measure = _Measure(selection.where, weight)
            if measure not in measures:
                measures.append(measure)
            prefix = f"s{list(sources).index(source)}"
            return f"{prefix}_v{measures.index(measure)}", f"{prefix}_n{measures.index(measure)}"

        columns_of: dict[str, tuple[str, str, str]] = {}
        for definition in definitions:
            value, events = measured(definition.numerator, _weight(definition.numerator))
            denominator = definition.denominator
            if isinstance(denominator, RegisteredPopulation):
                key: tuple[Any, ...] = ("registered", denominator.min_age, denominator.max_age)
                counted = populations.setdefault(key, f"p{len(populations)}")
            elif isinstance(denominator, CareHomeResidentYears):
                counted = populations.setdefault(("resident_days",), f"p{len(populations)}")
            else:
                _, counted = measured(denominator, "count")
            columns_of[definition.id] = (value, events, counted)

        parts: list[ir.Table] = []

        def long(part: ir.Table, **amounts: Any) -> None:
            for quantity, amount in amounts.items():
                parts.append(
                    part.select(
                        practice=part.practice.cast("string"),
                        month=part.month.cast("int64"),
                        **(
                            {"sex": part.sex.cast("string"), "age_band": part.age_band.cast("int64")}
                            if banded
                            else {}
                        ),
                        quantity=ibis.literal(quantity),
                        amount=amount.cast("float64"),
                    )
                )

        # One filtered aggregation per distinct measure (DuckDB pushes the filters into its scans),
        # stacked in long form: a quantity name and an amount per row.
        for index, (source, measures) in enumerate(sources.items()):
            for number, measure in enumerate(measures):
                part = self._measure_months(source, measure, first, last, unit)
                long(part, **{f"s{index}_v{number}": part.value, f"s{index}_n{number}": part.events})
        for population, name in populations.items():
            if unit == "provider":
                break  # a trust has no registered list or care-home residents: the denominator is 0
            if population[0] == "registered":
                part = self._registered_population(
                    first, last, banded=banded, min_age=population[1], max_age=population[2]
                )
            else:
                part = self._resident_days(first, last)
            long(part, **{name: part.denominator})
        stacked = ibis.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
        return stacked, columns_of

    def practice_months(self, definition: IndicatorDefinition, first: int, last: int) -> ir.Table:
        """Numerator, denominator and events by practice and month (and sex and age band if
        standardised). Denominators are raw: list size on the 15th, or days of care-home residence."""
        stacked, columns_of = self._stacked([definition], first, last)
        value, events, counted = columns_of[definition.id]
        keys = [column for column in ("practice", "month", "sex", "age_band") if column in stacked.columns]

        def total(quantity: str) -> Any:
            return ibis.ifelse(stacked.quantity == quantity, stacked.amount, 0.0).sum()

        return (
            stacked.group_by(keys)
            .aggregate(numerator=total(value), denominator=total(counted), events=total(events))
            .view()  # closes the join chain (see counts_many)
        )

    def counts(
        self, definition: IndicatorDefinition, area_sets: Sequence[AreaSet], periods: Sequence[Period]
    ) -> pd.DataFrame:
        return self.counts_many([definition], area_sets, {definition.id: periods})[definition.id]

    def counts_many(
        self,
        definitions: Sequence[IndicatorDefinition],
        area_sets: Sequence[AreaSet],
        periods: Mapping[str, Sequence[Period]],
    ) -> dict[str, pd.DataFrame]:
        """``counts`` for several definitions in one query (two if some are standardised), over
        every period any of them asks for; each then keeps its own periods."""
        banded = [d for d in definitions if d.standardisation == "esp2013"]
        crude = [d for d in definitions if d.standardisation != "esp2013"]
        if banded and crude:
            return {
                **self.counts_many(crude, area_sets, periods),
                **self.counts_many(banded, area_sets, periods),
            }
        if not definitions:
            return {}
        band_keys = ["sex", "age_band"] if banded else []
        own_periods = {d.id: set(periods[d.id]) for d in definitions}
        every_period = sorted(set().union(*own_periods.values()))
        if not every_period or not area_sets:
            return {d.id: pd.DataFrame(columns=COUNT_COLUMNS + band_keys) for d in definitions}
        first = min(period.first_month for period in every_period)
        last = max(period.last_month for period in every_period)
        units = {area_set.unit for area_set in area_sets}
        if len(units) > 1:
            raise CaremodelsError("count the provider level apart from the practice-based levels")
        stacked, columns_of = self._stacked(definitions, first, last, units.pop())
        if len(area_sets) == 1:
            mapped = self._areas(stacked, area_sets[0])
        else:
            # One table of (level, code, practice) for every level, so the plan has a single
            # branch however many levels are asked for.
            present = self._practices_present(definitions)
            area_map = self._constant(
                pd.DataFrame(
                    [
                        (area_set.level, code, practice, first_month, last_month)
                        for area_set in area_sets
                        for code in area_set.codes(present)
                        for practice in sorted(area_set.practices_of(code, present))
                        for first_month, last_month in area_set.spans_of(code, practice)
                    ],
                    columns=["level", "code", "member", "member_from", "member_to"],
                ).astype({"member_from": "int64", "member_to": "int64"})
            )
            joined = stacked.join(area_map, [("practice", "member")])
            if any(area_set.windows for area_set in area_sets):
                # A dated member's events count for its area only in its months.
                joined = joined.filter(
                    (joined.month >= joined.member_from) & (joined.month <= joined.member_to)
                )
            mapped = joined.select(*[c for c in stacked.columns if c != "practice"], "level", "code")
        # Ibis 12 extends a join chain when a projection of a join is joined again, and can then
        # mis-resolve its columns; a view closes the chain.
        mapped = mapped.view()
        period_map = self._constant(
            pd.DataFrame(
                [
                    (period.kind, month, period.first_month, period.last_month)
                    for period in every_period
                    for month in range(period.first_month, period.last_month + 1)
                ],
                columns=["period", "period_month", "first_month", "last_month"],
            ).astype({"period_month": "int64", "first_month": "int64", "last_month": "int64"})
        )
        placed = mapped.join(period_map, [("month", "period_month")])
        keys = ["level", "code", "period", "first_month", "last_month", *band_keys]
        quantities = sorted({name for names in columns_of.values() for name in names})
        if len(quantities) <= _FEW_QUANTITIES:
            # A column per quantity, summed in the engine.
            frame = self.execute(
                placed.group_by(keys).aggregate(
                    **{
                        quantity: ibis.ifelse(placed.quantity == quantity, placed.amount, 0.0).sum()
                        for quantity in quantities
                    }
                )
            )
        else:
            # With many quantities, conditional sums over every row cost more than summing by
            # quantity and turning the rows (unique per key and quantity) into columns here.
            long = self.execute(placed.group_by([*keys, "quantity"]).aggregate(amount=placed.amount.sum()))
            frame = (
                long.set_index([*keys, "quantity"])["amount"]
                .unstack("quantity", fill_value=0)
                .reindex(columns=quantities, fill_value=0.0)
                .rename_axis(columns=None)
                .reset_index()
            )
        results = {}
        for definition in definitions:
            value, events, counted = columns_of[definition.id]
            mine = frame
            if own_periods[definition.id] != set(every_period):
                # A period is named by its kind and first month.
                starts_by_kind: dict[str, list[int]] = {}
                for period in own_periods[definition.id]:
                    starts_by_kind.setdefault(period.kind, []).append(period.first_month)
                wanted = pd.Series(False, index=frame.index)
                for kind, starts in starts_by_kind.items():
                    wanted |= (frame["period"] == kind) & frame["first_month"].isin(starts)
                mine = frame[wanted]
            counts = mine[keys].assign(numerator=mine[value], denominator=mine[counted], events=mine[events])[
                COUNT_COLUMNS + band_keys
            ]
            # Rows that only other definitions' quantities brought in are not this definition's.
            held = (counts["numerator"] != 0) | (counts["denominator"] != 0) | (counts["events"] != 0)
            results[definition.id] = counts[held].reset_index(drop=True)
        return results

    def _practices_present(self, definitions: Sequence[IndicatorDefinition]) -> frozenset[str]:
        """Every practice code in the tables the indicators read (whatever the dates)."""
        sources: set[tuple[str, str]] = set()
        for definition in definitions:
            sources.add(
                (definition.numerator.table, EVENT_TABLES[definition.numerator.table].practice_column)
            )
            denominator = definition.denominator
            if isinstance(denominator, RegisteredPopulation):
                sources.add(("gp_registrations", "practice_code"))
            elif isinstance(denominator, CareHomeResidentYears):
                sources.add(("care_home_residence", "practice_code"))
            else:
                sources.add((denominator.table, EVENT_TABLES[denominator.table].practice_column))
            if definition.numerator.cohort == "care_home_residents":
                sources.add(("care_home_residence", "practice_code"))
        key = tuple(sorted(sources))
        if key not in self._present:
            codes = ibis.union(
                *[self.table(name).select(practice=self.table(name)[column]) for name, column in key],
                distinct=True,
            )
            self._present[key] = frozenset(self.execute(codes)["practice"].dropna())
        return self._present[key]

    def _areas(self, practice_months: ir.Table, area_set: AreaSet) -> ir.Table:
        """Practice-month rows labelled with the level and area code(s) of their practice."""
        level = ibis.literal(area_set.level)
        values = [column for column in practice_months.columns if column != "practice"]
        if area_set.kind == "each_practice":
            return practice_months.select(*values, level=level, code=practice_months.practice)
        if area_set.kind == "all_except":
            codes = self._constant(pd.DataFrame({"code": sorted(area_set.areas)}))
            labelled = practice_months.cross_join(codes)
            left_out = [
                (code, practice)
                for code, members in sorted(area_set.areas.items())
                for practice in sorted(members)
            ]
            if left_out:
                excluded = self._constant(
                    pd.DataFrame(left_out, columns=["left_out_code", "left_out_practice"])
                )
                labelled = labelled.anti_join(
                    excluded,
                    [("code", "left_out_code"), ("practice", "left_out_practice")],
                )
            return labelled.select(*values, level=level, code=labelled.code)
        membership = self._constant(
            pd.DataFrame(
                [
                    (code, practice, first_month, last_month)
                    for code, members in sorted(area_set.areas.items())
                    for practice in sorted(members)
                    for first_month, last_month in area_set.spans_of(code, practice)
                ],
                columns=["member_code", "member", "member_from", "member_to"],
            ).astype({"member_from": "int64", "member_to": "int64"})
        )
        joined = practice_months.join(membership, [("practice", "member")])
        if area_set.windows:
            # A dated member's events count for its area only in its months.
            joined = joined.filter((joined.month >= joined.member_from) & (joined.month <= joined.member_to))
        return joined.select(*values, level=level, code=joined.member_code)


@dataclass(frozen=True)
class _Source:
    """Events read in one scan: a table placed in months by one date, for one cohort, with or
    without a linked event, banded by sex and age or not."""

    table: str
    date: str
    cohort: str
    linked: LinkedEvent | None
    banded: bool


@dataclass(frozen=True)
class _Measure:
    """What is summed over the events of a source that pass ``where``: one per event (``count``),
    bed days, or a numeric field."""

    where: tuple[Condition, ...]
    weight: str


def _month_bound(table_name: str, column: str, month: int) -> Any:
    """The first moment of month index ``month``, typed like the column it is compared with."""
    day = month_start(month)
    if SOURCE_TABLES[table_name].column(column).type == "timestamp":
        return ibis.literal(dt.datetime(day.year, day.month, 1), type="timestamp")
    return ibis.literal(day, type="date")


def _day_bound(table_name: str, column: str, day: dt.date) -> Any:
    """The first moment of ``day``, typed like the column it is compared with."""
    if SOURCE_TABLES[table_name].column(column).type == "timestamp":
        return ibis.literal(dt.datetime(day.year, day.month, day.day), type="timestamp")
    return ibis.literal(day, type="date")


def _weight_value(table: ir.Table, table_name: str, weight: str) -> Any:
    if weight == "count":
        return ibis.literal(1.0, type="float64")
    if weight == "bed_days":
        bed_days: Any = _field(table, table_name, "length_of_stay_days")
        return bed_days.cast("float64")
    summed: Any = table[weight]
    return summed.cast("float64")


def _weight(numerator: Numerator) -> str:
    if numerator.measure == "sum" and numerator.sum_of is not None:
        return numerator.sum_of
    return numerator.measure


def duckdb_engine(warehouse_path: Path) -> IbisEngine:
    """The default engine: DuckDB on the warehouse file, opened read-only."""
    path = Path(warehouse_path)
    if not path.is_file():
        raise CaremodelsError(f"no warehouse at {path} (load one with: caremodels ingest)")
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise CaremodelsError(f"cannot open warehouse {path}: {error}") from error
    backend = ibis.duckdb.from_connection(connection)
    return IbisEngine("duckdb", backend, backend.table, on_close=connection.close)


def duckdb_engine_for(warehouse: Warehouse) -> IbisEngine:
    """A DuckDB engine on an open ``Warehouse`` (its connection stays open when the engine closes)."""
    backend = ibis.duckdb.from_connection(warehouse.connection)
    return IbisEngine("duckdb", backend, backend.table)


def _parquet_tables(warehouse: Path | str) -> tuple[Callable[[str], str], Callable[[], None]]:
    """Where Spark reads each table, and how to clean up: a DuckDB file is exported to Parquet in a
    temporary folder; a folder (or URI) is read as ``<folder>/<table>.parquet``."""
    text = str(warehouse)
    if "://" in text or Path(text).is_dir():
        root = text.rstrip("/")

        def located(name: str) -> str:
            single = Path(f"{root}/{name}.parquet")
            if "://" in root or single.exists() or not Path(f"{root}/{name}").is_dir():
                return f"{root}/{name}.parquet"
            return f"{root}/{name}"

        return located, lambda: None
    path = Path(text)
    if not path.is_file():
        raise CaremodelsError(f"no warehouse at {path} (a DuckDB file, or a folder of <table>.parquet)")
    folder = Path(tempfile.mkdtemp(prefix="caremodels-spark-"))
    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            present = {
                row[0]
                for row in connection.execute("SELECT table_name FROM information_schema.tables").fetchall()
            }
            for name in SOURCE_TABLES:
                if name in present:
                    target = str(folder / f"{name}.parquet").replace("'", "''")
                    connection.execute(f"COPY (SELECT * FROM {name}) TO '{target}' (FORMAT parquet)")
    except duckdb.Error as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise CaremodelsError(f"cannot export warehouse {path} for Spark: {error}") from error
    return (lambda name: str(folder / f"{name}.parquet")), (lambda: shutil.rmtree(folder, ignore_errors=True))


_spark_engines = itertools.count(1)


def spark_engine(
    warehouse: Path | str,
    *,
    master: str | None = None,
    session: SparkSession | None = None,
    config: dict[str, str] | None = None,
) -> IbisEngine:
    """The Spark engine. ``warehouse`` is a DuckDB warehouse file (exported to Parquet for Spark; for
    a laptop) or a folder or URI holding ``<table>.parquet`` (for a cluster, which must be able to
    read it). ``master`` is the Spark master (``local[*]`` by default, or e.g. ``spark://host:7077``).
    A given ``session``, or one already active in the process, is used and left running on close;
    otherwise one is started with ``DEFAULT_SPARK_CONFIG`` and ``config`` and stopped on close."""
    from pyspark.sql import SparkSession

    located, clean_up = _parquet_tables(warehouse)
    # A session already running in this process (a notebook's, or a test run's) is used and left
    # running; builder.getOrCreate() would silently return it and ignore ``master`` anyway.
    session = session or SparkSession.getActiveSession()
    owns_session = session is None
    if session is None:
        builder: Any = SparkSession.builder.appName("caremodels").master(master or "local[*]")
        for key, value in {**DEFAULT_SPARK_CONFIG, **(config or {})}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    else:
        for key in ("spark.sql.session.timeZone", "spark.sql.execution.arrow.pyspark.enabled"):
            session.conf.set(key, DEFAULT_SPARK_CONFIG[key])
    active: SparkSession = session
    backend = ibis.pyspark.connect(active)
    prefix = f"caremodels_{next(_spark_engines)}_"

    views: list[str] = []

    def table(name: str) -> ir.Table:
        parquet: ir.Table = backend.read_parquet(located(name), table_name=prefix + name)
        views.append(prefix + name)
        return parquet

    def constant(frame: pd.DataFrame) -> ir.Table:
        # Registered here rather than as Ibis memtables, which the PySpark backend does not register
        # for expressions it caches.
        name = f"{prefix}constant_{len(views)}"
        active.createDataFrame(frame).createOrReplaceTempView(name)
        views.append(name)
        registered: ir.Table = backend.table(name)
        return registered

    def close() -> None:
        for view in views:
            active.catalog.dropTempView(view)
        clean_up()
        if owns_session:
            active.stop()

    return IbisEngine("spark", backend, table, on_close=close, constant=constant)
