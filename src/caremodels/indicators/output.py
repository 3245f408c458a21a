"""Publish an indicator's results: disclosure control, then a file (CSV, Parquet or JSON).

Columns (``OUTPUT_COLUMNS``): indicator_id, title, level, code, name, period, period_start,
period_end, numerator, denominator, denominator_unit, value, ci_low, ci_high, unit, suppressed.
Every figure says what it is: the indicator's title, the area's name beside its code, and the
value's unit with its period basis ("per 1,000 registered patients per year"). Values and intervals
come from the true counts; the published counts are rounded and small ones suppressed (with value
and interval withheld). Values and intervals are rounded for publication in one place
(``round_figure``: 4 significant figures, or 1 decimal place from 100 up). Every export, the
dashboard's included, goes through ``publish``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.compute import RateBasis, indicator_results_many, value_unit
from caremodels.indicators.definition import IndicatorDefinition, catalogue, find_indicator
from caremodels.indicators.disclosure import DisclosurePolicy, apply_disclosure_control
from caremodels.indicators.engines import CountingEngine
from caremodels.indicators.geography import ENGLAND_CODE, level_name
from caremodels.indicators.names import area_names
from caremodels.indicators.periods import period_kind

__all__ = [
    "OUTPUT_COLUMNS",
    "OUTPUT_SUFFIXES",
    "compute_to_file",
    "denominator_unit",
    "format_figure",
    "open_engine",
    "publish",
    "round_figure",
    "write_results",
]

OUTPUT_COLUMNS = [
    "indicator_id",
    "title",
    "level",
    "code",
    "name",
    "period",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "denominator_unit",
    "value",
    "ci_low",
    "ci_high",
    "unit",
    "suppressed",
]
OUTPUT_SUFFIXES = (".csv", ".parquet", ".json")
_SIGNIFICANT = 4
_DECIMALS_FROM_100 = 1


def round_figure(values: pd.Series | np.ndarray | Sequence[float]) -> np.ndarray:
    """Values as published: 4 significant figures, or 1 decimal place from 100 up (so 11,098.3
    per 100,000 keeps its units digit); NaN stays NaN."""
    numbers = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(numbers) & (numbers != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, numbers, 1.0))))
    decimals = np.where(magnitude >= 2, _DECIMALS_FROM_100, _SIGNIFICANT - 1 - magnitude).astype(int)
    rounded = numbers.copy()
    for places in np.unique(decimals[finite]):
        chosen = finite & (decimals == places)
        rounded[chosen] = np.round(numbers[chosen], int(places))
    return rounded


def format_figure(value: float | None) -> str:
    """A published value as text, with the digits ``round_figure`` keeps and thousands separators
    ("11,098.3", "97.69", "0.7543"); "" for None."""
    if value is None or not np.isfinite(value):
        return ""
    (rounded,) = round_figure([value])
    if rounded == 0:
        return "0"
    magnitude = int(np.floor(np.log10(abs(rounded))))
    decimals = _DECIMALS_FROM_100 if magnitude >= 2 else _SIGNIFICANT - 1 - magnitude
    return f"{rounded:,.{decimals}f}"


def denominator_unit(definition: IndicatorDefinition) -> str:
    """What a published denominator counts."""
    kind = definition.denominator.kind
    if kind == "registered_population":
        return "registered patients (mean mid-month list over the period)"
    if kind == "care_home_resident_years":
        return "care home resident-years"
    return f"{definition.denominator.table.replace('_', ' ')} (events)"  # type: ignore[union-attr]


def publish(
    results: pd.DataFrame,
    policy: DisclosurePolicy | None = None,
    *,
    rate_basis: RateBasis = "per_year",
    also_publish: Sequence[str] = (),
) -> pd.DataFrame:
    """``OUTPUT_COLUMNS`` of true results after disclosure control, labelled and rounded, in the
    same row order; then any ``also_publish`` counts (such as ``events``), controlled the same way.

    Labels missing from ``results`` are added: the title and denominator unit from the indicator
    catalogue, the area name from ``caremodels.indicators.names``, and the unit from the
    indicator, the period and ``rate_basis`` (results from ``finish`` carry their own unit).
    """
    policy = policy or DisclosurePolicy()
    exempt = (results["level"] == "england") & (results["code"] == ENGLAND_CODE) & policy.exempt_national
    published = apply_disclosure_control(
        results,
        ["numerator", "denominator", *also_publish],
        withheld_columns=["value", "ci_low", "ci_high"],
        rules=policy.rules,
        also_suppress_on=["events"],
        exempt=exempt,
    )
    labelled = _labelled(published, rate_basis)
    for column in ("value", "ci_low", "ci_high"):
        labelled[column] = pd.array(round_figure(labelled[column].astype("float64")), dtype="Float64").fillna(
            pd.NA
        )
    return labelled[[*OUTPUT_COLUMNS, *also_publish]].reset_index(drop=True)


def _labelled(frame: pd.DataFrame, rate_basis: RateBasis) -> pd.DataFrame:
    frame = frame.copy()
    definitions = {
        indicator_id: find_indicator(str(indicator_id)) for indicator_id in frame["indicator_id"].unique()
    }
    ids = frame["indicator_id"]
    if "title" not in frame:
        frame["title"] = ids.map({key: definition.title for key, definition in definitions.items()})
    if "denominator_unit" not in frame:
        frame["denominator_unit"] = ids.map(
            {key: denominator_unit(definition) for key, definition in definitions.items()}
        )
    if "unit" not in frame:
        pairs = frame[["indicator_id", "period"]].drop_duplicates().itertuples(index=False)
        units = {
            (key, period): value_unit(definitions[key], str(period), rate_basis) for key, period in pairs
        }
        frame["unit"] = [units[pair] for pair in zip(frame["indicator_id"], frame["period"], strict=True)]
    if "name" not in frame:
        frame["name"] = area_names(frame["level"].astype(str), frame["code"].astype(str))
    return frame


def write_results(published: pd.DataFrame, out_file: Path) -> None:
    """Write published results by the file's suffix: .csv, .parquet or .json."""
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    if list(published.columns) != OUTPUT_COLUMNS:
        raise CaremodelsError("only published results (see caremodels.indicators.output.publish) are written")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".csv":
        published.to_csv(out_file, index=False)
    elif out_file.suffix == ".parquet":
        published.to_parquet(out_file, index=False)
    else:
        published.assign(
            period_start=published["period_start"].map(dt.date.isoformat),
            period_end=published["period_end"].map(dt.date.isoformat),
        ).to_json(out_file, orient="records", indent=1)


def open_engine(
    engine: str, warehouse_path: Path | str, *, spark_master: str | None = None
) -> CountingEngine:
    """An engine by name: ``duckdb`` (default), ``spark`` or ``reference`` (slow; small data only)."""
    from caremodels.indicators.ibis_engine import duckdb_engine, spark_engine
    from caremodels.indicators.reference_engine import ReferenceEngine

    if engine == "duckdb":
        return duckdb_engine(Path(warehouse_path))
    if engine == "spark":
        return spark_engine(warehouse_path, master=spark_master)
    if engine == "reference":
        return ReferenceEngine(Path(warehouse_path))
    raise CaremodelsError(f"no engine {engine!r} (choose duckdb, spark or reference)")


def compute_to_file(
    warehouse_path: Path | str,
    indicator_id: str | Sequence[str],
    *,
    level: str,
    period: str,
    out_file: Path,
    engine: str = "duckdb",
    spark_master: str | None = None,
    groups_file: Path | None = None,
    site_membership_file: Path | None = None,
    first_month: dt.date | None = None,
    last_month: dt.date | None = None,
    policy: DisclosurePolicy | None = None,
    rate_basis: RateBasis = "per_year",
) -> int:
    """Compute one indicator (or several, or ``"all"``: the whole catalogue) at one level and period
    on one engine, publish the results and write ``out_file``; returns the number of rows written.
    Rates over person-time are annual unless ``rate_basis`` is ``per_period``."""
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    if isinstance(indicator_id, str):
        definitions = list(catalogue()) if indicator_id == "all" else [find_indicator(indicator_id)]
    else:
        definitions = [find_indicator(one) for one in indicator_id]
    try:
        chosen_level, chosen_period = level_name(level), period_kind(period)
    except ValueError as error:
        raise CaremodelsError(str(error)) from error
    counting = open_engine(engine, warehouse_path, spark_master=spark_master)
    try:
        results = indicator_results_many(
            counting,
            definitions,
            levels=[chosen_level],
            periods=[chosen_period],
            groups_file=groups_file,
            site_membership_file=site_membership_file,
            first_month=first_month,
            last_month=last_month,
            rate_basis=rate_basis,
        )
    finally:
        counting.close()
    published = publish(pd.concat(list(results.values()), ignore_index=True), policy, rate_basis=rate_basis)
    write_results(published, out_file)
    return len(published)
