"""Publish an indicator's results: disclosure control, then a file (CSV, Parquet or JSON).

Columns: indicator_id, level, code, period_start, period_end, numerator, denominator, value,
ci_low, ci_high, suppressed. Values and intervals come from the true counts; the published counts
are rounded and small ones suppressed (with value and interval withheld). Every export goes through
``publish``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.compute import indicator_results_many
from caremodels.indicators.definition import catalogue, find_indicator
from caremodels.indicators.disclosure import DisclosurePolicy, apply_disclosure_control
from caremodels.indicators.engines import CountingEngine
from caremodels.indicators.geography import ENGLAND_CODE, level_name, provider_level_note
from caremodels.indicators.periods import period_kind

__all__ = ["OUTPUT_COLUMNS", "OUTPUT_SUFFIXES", "compute_to_file", "open_engine", "publish", "write_results"]

OUTPUT_COLUMNS = [
    "indicator_id",
    "level",
    "code",
    "period_start",
    "period_end",
    "numerator",
    "denominator",
    "value",
    "ci_low",
    "ci_high",
    "suppressed",
]
OUTPUT_SUFFIXES = (".csv", ".parquet", ".json")
# At provider level a trust's name follows its ODS code (codes of non-trust providers get none).
_NAMED_COLUMNS = [*OUTPUT_COLUMNS[:3], "name", *OUTPUT_COLUMNS[3:]]


def publish(results: pd.DataFrame, policy: DisclosurePolicy | None = None) -> pd.DataFrame:
    """``OUTPUT_COLUMNS`` of true results after disclosure control."""
    policy = policy or DisclosurePolicy()
    exempt = (results["level"] == "england") & (results["code"] == ENGLAND_CODE) & policy.exempt_national
    published = apply_disclosure_control(
        results,
        ["numerator", "denominator"],
        withheld_columns=["value", "ci_low", "ci_high"],
        rules=policy.rules,
        also_suppress_on=["events"],
        exempt=exempt,
    )
    return published[OUTPUT_COLUMNS].reset_index(drop=True)


def write_results(published: pd.DataFrame, out_file: Path) -> None:
    """Write published results by the file's suffix: .csv, .parquet or .json."""
    if out_file.suffix not in OUTPUT_SUFFIXES:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    if list(published.columns) not in (OUTPUT_COLUMNS, _NAMED_COLUMNS):
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
) -> int:
    """Compute one indicator (or several, or ``"all"``: the whole catalogue) at one level and period
    on one engine, publish the results and write ``out_file``; returns the number of rows written."""
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
    if chosen_level == "provider" and not any(provider_level_note(d)[0] for d in definitions):
        reasons = "; ".join(f"{d.id}: {provider_level_note(d)[1]}" for d in definitions)
        raise CaremodelsError(f"no indicator asked for can be computed at provider level ({reasons})")
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
        )
    finally:
        counting.close()
    published = publish(pd.concat(list(results.values()), ignore_index=True), policy)
    if chosen_level == "provider":
        from caremodels.reference import trust_names

        names = trust_names()
        published.insert(3, "name", published["code"].map(lambda code: names.get(code, "")))
    write_results(published, out_file)
    return len(published)
