"""Compute an indicator at geographies and periods: counts from an engine, then values and
confidence intervals from ``caremodels.stats`` on the true counts.

One path to a published number: ``finish`` (a frame of summed counts) and ``finish_arrays`` (the
same sums as arrays, for callers that sum with matrices, such as the dashboard) are the only code
that turns counts into values and intervals. Every output (the CLI, the JSON API, the downloads,
the dashboard's pages and charts) takes its values from them.

Denominators as reported: the registered population is the mean mid-month list size over the
period's months; care-home residence is in resident-years (days / 365.25); events are counted.

Rate basis: rates over person-time are annualised by default (``per_year``, as Fingertips does: a
month's events over the registered population are expressed per patient per year, person-years
being the summed mid-month list sizes / 12); ``per_period`` gives the rate per patient (or per
resident, the mean over the period) over the period itself, and says so in the unit. A rate over
events (a proportion, days per spell) has no period basis.

Statistics: crude rates of counted events use Byar's method from 10 events and the exact Poisson
method below; directly standardised rates use Dobson's method and are withheld (NaN) below 10 events
or when a band has events but no population; proportions use Wilson's score interval (no value when
the numerator exceeds the denominator); rates of bed days or of summed fields have no interval. A
row whose denominator is 0 has no value.

Results are the true figures: apply ``caremodels.indicators.output.publish`` before anything leaves
the process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from caremodels.errors import CaremodelsError
from caremodels.indicators.definition import CareHomeResidentYears, IndicatorDefinition, RegisteredPopulation
from caremodels.indicators.engines import AGE_BANDS, BAND_COLUMNS, CountingEngine
from caremodels.indicators.geography import Level, area_set, provider_level_note
from caremodels.indicators.periods import Period, PeriodKind, complete_periods, month_index, month_start
from caremodels.reference import european_standard_population
from caremodels.stats import (
    crude_rate_ci_arrays,
    dsr_ci_arrays,
    dsr_log_variance_arrays,
    proportion_ci_arrays,
)

__all__ = [
    "BANDS",
    "DAYS_PER_YEAR",
    "RATE_BASES",
    "RESULT_COLUMNS",
    "Finished",
    "RateBasis",
    "finish",
    "finish_arrays",
    "held",
    "indicator_results",
    "indicator_results_many",
    "period_basis",
    "requested_periods",
    "value_unit",
]

DAYS_PER_YEAR = 365.25
RateBasis = Literal["per_year", "per_period"]
RATE_BASES: tuple[RateBasis, ...] = get_args(RateBasis)
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
    "unit",
]
BANDS = pd.MultiIndex.from_product([["1", "2"], range(AGE_BANDS)], names=BAND_COLUMNS)
"""The sex and age bands of a standardised indicator, in the order ``finish_arrays`` expects:
males (sex 1) then females (sex 2), each five-year age band 0-4 to 90+."""
_GROUP = ["level", "code", "period", "first_month", "last_month"]
FloatArray = NDArray[np.float64]
_PERIOD_WORDS: dict[str, str] = {
    "month": "per month",
    "quarter": "per quarter",
    "financial_year": "per financial year",
    "rolling_12_months": "per 12 months",
}


def period_basis(definition: IndicatorDefinition, period: str, rate_basis: RateBasis = "per_year") -> str:
    """How a value of ``definition`` relates to time: "per year" for annualised rates, "per month"
    (or the period's own length) for per-period rates, "" for rates over events."""
    if definition.denominator.kind == "events":
        return ""
    if rate_basis == "per_year":
        return "per year"
    return _PERIOD_WORDS.get(period, f"per {period.replace('_', ' ')}")


def value_unit(definition: IndicatorDefinition, period: str, rate_basis: RateBasis = "per_year") -> str:
    """The unit of a value with its period basis, e.g. "per 1,000 registered patients per year";
    a resident-year rate per period is "per care home resident per month"."""
    basis = period_basis(definition, period, rate_basis)
    if not basis:
        return definition.unit
    unit = definition.unit
    if isinstance(definition.denominator, CareHomeResidentYears):
        if rate_basis == "per_year":
            return unit  # "per resident-year" already says per year
        unit = unit.replace("per resident-year", "per care home resident")
    return f"{unit} {basis}"


def _standard_weights() -> FloatArray:
    weights_by_band = np.array([band.weight for band in european_standard_population()], dtype=float)
    if len(weights_by_band) != AGE_BANDS:
        raise CaremodelsError(f"ESP2013 has {len(weights_by_band)} bands, the engines use {AGE_BANDS}")
    # Age-sex standardisation: the same ESP2013 age weights for each sex.
    return np.tile(weights_by_band, 2)


@dataclass(frozen=True)
class Finished:
    """Values of many area-periods, one element per row (see ``finish_arrays``)."""

    numerator: FloatArray
    denominator: FloatArray
    """As reported: mean list size, resident-years, or events."""
    exposure: FloatArray
    """What the value is per (before the multiplier): person-years (or resident-years) for an
    annual rate, mean list size (or mean residents) for a per-period rate, events for a ratio."""
    events: FloatArray
    value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    log_variance: FloatArray
    """The variance of log(value) for a rate of counted events: 1 / count for a crude rate,
    var(DSR) / DSR^2 for a standardised one (NaN for proportions, rates of sums and zero values).
    Comparisons on the log scale (growth against the rest of England) read it from here."""


def _scaled(
    definition: IndicatorDefinition, raw: FloatArray, months: FloatArray, rate_basis: RateBasis
) -> tuple[FloatArray, FloatArray]:
    """Reported denominator and exposure from raw denominator sums (``months`` broadcast to ``raw``)."""
    if isinstance(definition.denominator, RegisteredPopulation):
        # Summed mid-month list sizes: / months is the mean list, / 12 person-years.
        reported = raw / months
        return reported, (raw / 12 if rate_basis == "per_year" else reported)
    if isinstance(definition.denominator, CareHomeResidentYears):
        years = raw / DAYS_PER_YEAR
        # Per period: per mean resident over the period (resident-years x 12 / months).
        return years, (years if rate_basis == "per_year" else years * 12 / months)
    return raw, raw


def finish_arrays(
    definition: IndicatorDefinition,
    numerator: FloatArray,
    denominator: FloatArray,
    events: FloatArray,
    months: FloatArray,
    *,
    rate_basis: RateBasis = "per_year",
    confidence: float = 0.95,
) -> Finished:
    """Values and intervals of summed counts, one row per area-period (intervals at
    ``confidence``: 0.95 for every output, 0.998 for the comparisons of ``comparison``).

    ``numerator`` and ``denominator`` are the engine's raw sums (see ``caremodels.indicators.engines``):
    shape ``(rows,)``, or ``(rows, 38)`` by sex and age band (``BANDS``) for a standardised
    indicator; ``events`` is ``(rows,)`` or banded the same way; ``months`` is the number of months
    in each row's period.
    """
    if rate_basis not in RATE_BASES:
        raise CaremodelsError(f"no rate basis {rate_basis!r} (choose from {', '.join(RATE_BASES)})")
    numerator = np.asarray(numerator, dtype=np.float64)
    raw = np.asarray(denominator, dtype=np.float64)
    events = np.asarray(events, dtype=np.float64)
    months = np.asarray(months, dtype=np.float64)
    standardised = definition.standardisation == "esp2013"
    if standardised and (numerator.ndim != 2 or numerator.shape[1] != len(BANDS)):
        raise CaremodelsError(f"{definition.id} is standardised: its counts come by sex and age band")
    shaped_months = months[:, None] if numerator.ndim == 2 else months
    reported, exposure = _scaled(definition, raw, shaped_months, rate_basis)
    if standardised:
        undefined = ((exposure == 0) & (numerator > 0)).any(axis=1)
        population = np.where(undefined[:, None], np.nan, exposure)
        interval = dsr_ci_arrays(
            numerator,
            population,
            _standard_weights(),
            multiplier=definition.multiplier,
            confidence=confidence,
        )
        values = (interval.value, interval.lower, interval.upper)
        log_variance = dsr_log_variance_arrays(numerator, population, _standard_weights())
        numerator, reported, exposure = numerator.sum(axis=1), reported.sum(axis=1), exposure.sum(axis=1)
    else:
        values = _crude(definition, numerator, exposure, confidence)
        counted = definition.interval_method == "byar_or_exact" and definition.numerator.measure == "count"
        with np.errstate(divide="ignore"):
            log_variance = np.where(
                counted & (numerator > 0), 1 / np.where(numerator > 0, numerator, 1), np.nan
            )
    if events.ndim == 2:
        events = events.sum(axis=1)
    return Finished(numerator, reported, exposure, events, *values, log_variance)


def _crude(
    definition: IndicatorDefinition, numerator: FloatArray, exposure: FloatArray, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray, FloatArray]:
    usable = np.where(exposure > 0, exposure, np.nan)
    method = definition.interval_method
    if method == "wilson":
        # A numerator above its denominator (inconsistent data) has no proportion.
        usable = np.where(numerator <= exposure, usable, np.nan)
        interval = proportion_ci_arrays(
            numerator, usable, multiplier=definition.multiplier, confidence=confidence
        )
        return interval.value, interval.lower, interval.upper
    if method == "byar_or_exact":
        interval = crude_rate_ci_arrays(
            numerator, usable, multiplier=definition.multiplier, confidence=confidence
        )
        return interval.value, interval.lower, interval.upper
    missing = np.full(numerator.shape, np.nan)
    return numerator / usable * definition.multiplier, missing, missing.copy()


def held(numerator: FloatArray, denominator: FloatArray, events: FloatArray) -> NDArray[np.bool_]:
    """Rows that are reported: any count is non-zero (an area-period with nothing has no row)."""
    kept: NDArray[np.bool_] = (numerator != 0) | (denominator != 0) | (events != 0)
    return kept


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
    rate_basis: RateBasis = "per_year",
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
        rate_basis=rate_basis,
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
    rate_basis: RateBasis = "per_year",
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
    return {
        definition.id: finish(definition, counted[definition.id], rate_basis=rate_basis)
        for definition in definitions
    }


def finish(
    definition: IndicatorDefinition, counts: pd.DataFrame, *, rate_basis: RateBasis = "per_year"
) -> pd.DataFrame:
    """Results (``RESULT_COLUMNS``) from summed counts: an engine's ``counts`` (``COUNT_COLUMNS``,
    and ``BAND_COLUMNS`` for a standardised indicator), or any sums of the same shape. Rows with
    nothing counted are dropped; the rest are sorted by level, code, period and start."""
    if counts.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    counts = counts.astype({"first_month": "int64", "last_month": "int64"})
    units = {kind: value_unit(definition, kind, rate_basis) for kind in counts["period"].astype(str).unique()}
    if definition.standardisation == "esp2013":
        frame = counts.astype({"age_band": "int64", "sex": str})
        by_band = frame.set_index(_GROUP + BAND_COLUMNS)[["numerator", "denominator", "events"]]
        if by_band.index.has_duplicates:
            by_band = by_band.groupby(level=list(range(by_band.index.nlevels))).sum()
        # One row per area-period, one column per quantity and band (unstack: a pivot without grouping).
        wide = pd.DataFrame(by_band.astype(float).unstack(BAND_COLUMNS, fill_value=0.0))

        def banded(name: str) -> FloatArray:
            part = pd.DataFrame(wide[name]).reindex(columns=BANDS, fill_value=0.0).fillna(0.0)
            return part.to_numpy(dtype=np.float64)

        keys = wide.index.to_frame(index=False)
        numerator, denominator = banded("numerator"), banded("denominator")
        events = pd.DataFrame(wide["events"]).fillna(0.0).sum(axis=1).to_numpy(dtype=np.float64)
    else:
        keys = counts[_GROUP].reset_index(drop=True)
        numerator = counts["numerator"].to_numpy(dtype=np.float64)
        denominator = counts["denominator"].to_numpy(dtype=np.float64)
        events = counts["events"].to_numpy(dtype=np.float64)
    months = (keys["last_month"] - keys["first_month"] + 1).to_numpy(dtype=np.float64)
    done = finish_arrays(definition, numerator, denominator, events, months, rate_basis=rate_basis)
    results = keys.assign(
        numerator=done.numerator,
        denominator=done.denominator,
        events=done.events,
        value=done.value,
        ci_low=done.ci_low,
        ci_high=done.ci_high,
    )
    results = results[held(done.numerator, done.denominator, done.events)]
    results = results.sort_values(["level", "code", "period", "first_month"], kind="stable")
    # Dates by lookup: there are few distinct months and many rows.
    month_set = set(results["first_month"]) | set(results["last_month"])
    starts = {month: month_start(month) for month in month_set}
    ends = {month: month_start(month + 1) - dt.timedelta(days=1) for month in month_set}
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
            "unit": results["period"].astype(str).map(units),
        }
    ).reset_index(drop=True)
