"""Compute an indicator at geographies and periods: counts from an engine, then values and
confidence intervals from ``caremodels.stats`` on the true counts.

Denominators as reported: the registered population is the mean mid-month list size over the
period's months (so a rate over a year is per patient per year, and over a month per patient per
month); care-home residence is in resident-years (days / 365.25); events are counted.

Statistics: crude rates of counted events use Byar's method from 10 events and the exact Poisson
method below; directly standardised rates use Dobson's method and are withheld (NaN) below 10 events
or when a band has events but no population; proportions use Wilson's score interval; rates of bed
days or of summed fields have no interval. A row whose denominator is 0 has no value.

Results are the true figures: apply ``caremodels.indicators.output.publish`` before anything leaves
the process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.definition import CareHomeResidentYears, IndicatorDefinition, RegisteredPopulation
from caremodels.indicators.engines import AGE_BANDS, BAND_COLUMNS, CountingEngine
from caremodels.indicators.geography import Level, area_set, provider_level_note
from caremodels.indicators.periods import Period, PeriodKind, complete_periods, month_index, month_start
from caremodels.reference import european_standard_population
from caremodels.stats import crude_rate_ci_arrays, dsr_ci_arrays, proportion_ci_arrays

__all__ = [
    "DAYS_PER_YEAR",
    "RESULT_COLUMNS",
    "indicator_results",
    "indicator_results_many",
    "requested_periods",
]

DAYS_PER_YEAR = 365.25
RESULT_COLUMNS = [
    "indicator_id",
    "level",
    "code",
    "period",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "value",
    "ci_low",
    "ci_high",
    "events",
]
_GROUP = ["level", "code", "period", "first_month", "last_month"]


def requested_periods(
    engine: CountingEngine,
    definition: IndicatorDefinition,
    periods: Sequence[PeriodKind],
    *,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
) -> list[Period]:
    """The complete periods of each kind within the months the numerator's table covers,
    narrowed to ``first_month``..``last_month`` when given."""
    covered = engine.data_months(definition.numerator)
    if covered is None:
        return []
    first, last = covered
    if first_month is not None:
        first = max(first, month_index(first_month))
    if last_month is not None:
        last = min(last, month_index(last_month))
    return [period for kind in periods for period in complete_periods(kind, first, last)]


def _dsr(counts: pd.DataFrame, multiplier: int) -> pd.DataFrame:
    """One row per area-period: total count and population, and the DSR with Dobson limits."""
    weights_by_band = np.array([band.weight for band in european_standard_population()], dtype=float)
    if len(weights_by_band) != AGE_BANDS:
        raise CaremodelsError(f"ESP2013 has {len(weights_by_band)} bands, the engines use {AGE_BANDS}")
    bands = pd.MultiIndex.from_product([["1", "2"], range(AGE_BANDS)], names=BAND_COLUMNS)
    # Age-sex standardisation: the same ESP2013 age weights for each sex.
    weights = np.tile(weights_by_band, 2)
    frame = counts.astype({"age_band": "int64"})
    by_band = frame.set_index(_GROUP + BAND_COLUMNS)[["numerator", "denominator", "events"]]
    if by_band.index.has_duplicates:
        by_band = by_band.groupby(level=list(range(by_band.index.nlevels))).sum()
    # One row per area-period, one column per quantity and band (unstack: a pivot without grouping).
    wide = pd.DataFrame(by_band.unstack(BAND_COLUMNS, fill_value=0.0))
    observed = pd.DataFrame(wide["numerator"]).reindex(columns=bands, fill_value=0.0).fillna(0.0)
    population = pd.DataFrame(wide["denominator"]).reindex(columns=bands, fill_value=0.0).fillna(0.0)
    events = pd.DataFrame(wide["events"]).fillna(0.0).sum(axis=1)
    counts_array = observed.to_numpy(dtype=float)
    population_array = population.to_numpy(dtype=float)
    undefined = ((population_array == 0) & (counts_array > 0)).any(axis=1)
    population_for_stats = np.where(undefined[:, None], np.nan, population_array)
    interval = dsr_ci_arrays(counts_array, population_for_stats, weights, multiplier=multiplier)
    result = observed.index.to_frame(index=False)
    result["numerator"] = counts_array.sum(axis=1)
    result["denominator"] = population_array.sum(axis=1)
    result["events"] = events.reindex(observed.index).to_numpy()
    result["value"], result["ci_low"], result["ci_high"] = interval
    return result


def _statistics(definition: IndicatorDefinition, frame: pd.DataFrame) -> pd.DataFrame:
    numerator = frame["numerator"].to_numpy(dtype=float)
    denominator = frame["denominator"].to_numpy(dtype=float)
    usable = np.where(denominator > 0, denominator, np.nan)
    method = definition.interval_method
    if method == "wilson":
        interval = proportion_ci_arrays(numerator, usable, multiplier=definition.multiplier)
        values = (interval.value, interval.lower, interval.upper)
    elif method == "byar_or_exact":
        interval = crude_rate_ci_arrays(numerator, usable, multiplier=definition.multiplier)
        values = (interval.value, interval.lower, interval.upper)
    else:
        missing = np.full(len(frame), np.nan)
        values = (numerator / usable * definition.multiplier, missing, missing.copy())
    return frame.assign(value=values[0], ci_low=values[1], ci_high=values[2])


def _reported_denominator(definition: IndicatorDefinition, counts: pd.DataFrame) -> pd.Series:
    raw = counts["denominator"].astype(float)
    if isinstance(definition.denominator, RegisteredPopulation):
        months = counts["last_month"].astype(int) - counts["first_month"].astype(int) + 1
        return raw / months
    if isinstance(definition.denominator, CareHomeResidentYears):
        return raw / DAYS_PER_YEAR
    return raw


def indicator_results(
    engine: CountingEngine,
    definition: IndicatorDefinition,
    *,
    levels: Sequence[Level],
    periods: Sequence[PeriodKind],
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
) -> pd.DataFrame:
    """True results (``RESULT_COLUMNS``) of one indicator for every area of each level and every
    complete period of each kind, sorted by level, code, period and start."""
    return indicator_results_many(
        engine,
        [definition],
        levels=levels,
        periods=periods,
        groups_file=groups_file,
        site_membership_file=site_membership_file,
        first_month=first_month,
        last_month=last_month,
    )[definition.id]


def indicator_results_many(
    engine: CountingEngine,
    definitions: Sequence[IndicatorDefinition],
    *,
    levels: Sequence[Level],
    periods: Sequence[PeriodKind],
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
) -> dict[str, pd.DataFrame]:
    """``indicator_results`` for several indicators, by id. They are counted together, each for the
    complete periods its own data cover, which lets an engine share work between them."""
    area_sets = [
        area_set(level, groups_file=groups_file, site_membership_file=site_membership_file)
        for level in levels
    ]
    periods_of: dict[str, list[Period]] = {
        definition.id: requested_periods(
            engine, definition, periods, first_month=first_month, last_month=last_month
        )
        for definition in definitions
    }
    practice_sets = [one for one in area_sets if one.unit == "practice"]
    counted = engine.counts_many(definitions, practice_sets, periods_of) if practice_sets else {}
    provider_sets = [one for one in area_sets if one.unit == "provider"]
    if provider_sets:
        # Keyed by the trust on each event, so counted apart; definitions that cannot be counted by
        # provider (provider_level_note) have no provider rows.
        countable = [d for d in definitions if provider_level_note(d)[0]]
        by_provider = engine.counts_many(countable, provider_sets, periods_of)
        for definition in definitions:
            parts = [
                part
                for part in (counted.get(definition.id), by_provider.get(definition.id))
                if part is not None
            ]
            counted[definition.id] = (
                pd.concat(parts, ignore_index=True)
                if len(parts) > 1
                else parts[0]
                if parts
                else pd.DataFrame()
            )
    return {definition.id: _finished(definition, counted[definition.id]) for definition in definitions}


def _finished(definition: IndicatorDefinition, counts: pd.DataFrame) -> pd.DataFrame:
    """Results from an engine's counts: reported denominators, values and intervals."""
    if counts.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    counts = counts.astype({"first_month": "int64", "last_month": "int64"})
    counts["numerator"] = counts["numerator"].astype(float)
    counts["events"] = counts["events"].astype("int64")
    counts["denominator"] = _reported_denominator(definition, counts)
    if definition.standardisation == "esp2013":
        results = _dsr(counts, definition.multiplier)
    else:
        results = _statistics(definition, counts)
    kept = (results["numerator"] != 0) | (results["denominator"] != 0) | (results["events"] != 0)
    results = results[kept].sort_values(["level", "code", "period", "first_month"], kind="stable")
    # Dates by lookup: there are few distinct months and many rows.
    months = set(results["first_month"]) | set(results["last_month"])
    starts = {month: month_start(month) for month in months}
    ends = {month: month_start(month + 1) - dt.timedelta(days=1) for month in months}
    return pd.DataFrame(
        {
            "indicator_id": definition.id,
            "level": results["level"].astype(str),
            "code": results["code"].astype(str),
            "period": results["period"].astype(str),
            "period_start": results["first_month"].map(starts),
            "period_end": results["last_month"].map(ends),
            "numerator": results["numerator"].astype(float),
            "denominator": results["denominator"].astype(float),
            "value": results["value"].astype(float),
            "ci_low": results["ci_low"].astype(float),
            "ci_high": results["ci_high"].astype(float),
            "events": results["events"].astype("int64"),
        }
    ).reset_index(drop=True)
