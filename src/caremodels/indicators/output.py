"""Write an indicator's results to a file, with intervals and disclosure control.

Columns: indicator_id, level, code, period_start, period_end, numerator, denominator, value,
ci_low, ci_high, suppressed. Values and intervals come from the true counts; the published counts
are rounded and small ones suppressed (with value and interval withheld).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.indicators.definition import find_indicator
from caremodels.indicators.disclosure import apply_disclosure_control
from caremodels.indicators.engine import practice_month_counts
from caremodels.stats import crude_rate_ci_arrays
from caremodels.warehouse.store import Warehouse

__all__ = ["OUTPUT_COLUMNS", "compute", "compute_to_file"]

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


def _month_end(day: dt.date) -> dt.date:
    following = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def compute(warehouse: Warehouse, indicator_id: str, *, level: str, period: str) -> pd.DataFrame:
    """True (not yet disclosure-controlled) results of an indicator."""
    definition = find_indicator(indicator_id)
    if (level, period) != ("practice", "month"):
        raise CaremodelsError(f"level {level!r} by {period!r} is not available yet")
    counts = practice_month_counts(warehouse, definition)
    interval = crude_rate_ci_arrays(
        counts["numerator"], counts["denominator"], multiplier=definition.multiplier
    )
    return pd.DataFrame(
        {
            "indicator_id": definition.id,
            "level": level,
            "code": counts["practice_code"],
            "period_start": counts["month"],
            "period_end": counts["month"].map(_month_end),
            "numerator": counts["numerator"],
            "denominator": counts["denominator"],
            "value": interval.value,
            "ci_low": interval.lower,
            "ci_high": interval.upper,
        }
    )


def compute_to_file(
    warehouse_path: Path, indicator_id: str, *, level: str, period: str, out_file: Path
) -> int:
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        results = compute(warehouse, indicator_id, level=level, period=period)
    published = apply_disclosure_control(
        results, ["numerator", "denominator"], withheld_columns=["value", "ci_low", "ci_high"]
    )[OUTPUT_COLUMNS]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    if out_file.suffix == ".csv":
        published.to_csv(out_file, index=False)
    elif out_file.suffix == ".parquet":
        published.to_parquet(out_file, index=False)
    elif out_file.suffix == ".json":
        published.assign(
            period_start=published["period_start"].map(dt.date.isoformat),
            period_end=published["period_end"].map(dt.date.isoformat),
        ).to_json(out_file, orient="records", indent=1)
    else:
        raise CaremodelsError(f"cannot write {out_file.name}: use .csv, .parquet or .json")
    return len(published)
