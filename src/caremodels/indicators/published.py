"""Measures from published aggregate statistics in the warehouse (loaded by
``caremodels.ingest.aggregates``), beside the indicators counted from events.

4-hour A&E performance is NHS England's headline figure: ``1 - breaches / attendances`` over all
department types of a provider in a month (months with no attendances have none). A group of
trusts (an acute care collaboration, say) pools its members' attendances and breaches; it is
never an average of their percentages.

Boundaries: opens the warehouse read-only; reads only ``published_ae_monthly``; names trusts from
the shipped ODS list (``caremodels.reference.trust_names``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd

from caremodels.errors import DataError
from caremodels.reference import trust_names
from caremodels.warehouse.store import Warehouse

__all__ = [
    "FOUR_HOUR_STANDARD",
    "PUBLISHED_AE_TABLE",
    "four_hour_performance",
    "group_four_hour_performance",
    "pooled_four_hour_performance",
]

FOUR_HOUR_STANDARD = 0.95
"""The NHS Constitution standard: 95% of A&E attendances within 4 hours."""
PUBLISHED_AE_TABLE = _TABLE = "published_ae_monthly"


def _read(warehouse_path: Path) -> pd.DataFrame:
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        if _TABLE not in warehouse.tables():
            raise DataError(
                "the warehouse holds no published A&E statistics: load them with "
                "`caremodels aggregates load ae FILE --warehouse W`",
                file=warehouse_path,
            )
        frame: pd.DataFrame = warehouse.connection.execute(
            f"SELECT period, org_code, department_type, attendances, breaches FROM {_TABLE}"
        ).df()
    return frame


def four_hour_performance(
    warehouse_path: Path,
    *,
    department_type: Literal["1"] | None = "1",
    org_codes: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per provider and month: ``period`` (first day), ``org_code``, ``org_name`` (empty
    when the provider is not an NHS trust), ``attendances``, ``breaches`` and ``performance``.

    ``department_type="1"`` keeps the providers with a type 1 (major) A&E department in any month;
    None keeps every provider. ``org_codes`` narrows to those providers.
    """
    raw = _read(warehouse_path)
    if department_type == "1":
        raw = raw[raw["org_code"].isin(set(raw.loc[raw["department_type"] == "1", "org_code"]))]
    if org_codes is not None:
        raw = raw[raw["org_code"].isin(set(org_codes))]
    monthly = raw.groupby(["org_code", "period"], as_index=False)[["attendances", "breaches"]].sum()
    monthly = monthly[monthly["attendances"] > 0]
    names = trust_names()
    monthly = monthly.assign(
        period=pd.to_datetime(monthly["period"]).dt.date,
        org_name=monthly["org_code"].map(lambda code: names.get(code, "")),
        performance=1 - monthly["breaches"] / monthly["attendances"],
    )
    columns = ["period", "org_code", "org_name", "attendances", "breaches", "performance"]
    return monthly[columns].sort_values(["org_code", "period"]).reset_index(drop=True)


def group_four_hour_performance(warehouse_path: Path, org_codes: Iterable[str]) -> pd.DataFrame:
    """A group of providers' pooled 4-hour performance by month: ``period``, ``attendances``,
    ``breaches``, ``performance`` and ``providers`` (how many members reported that month).

    Raises ``DataError`` when no member is in the published statistics.
    """
    wanted = sorted(set(org_codes))
    return pooled_four_hour_performance(
        four_hour_performance(warehouse_path, department_type=None, org_codes=wanted), wanted
    )


def pooled_four_hour_performance(providers: pd.DataFrame, org_codes: Iterable[str]) -> pd.DataFrame:
    """As :func:`group_four_hour_performance`, from rows :func:`four_hour_performance` already gave
    (a caller that read every provider once pools many groups from them)."""
    wanted = sorted(set(org_codes))
    members = providers[providers["org_code"].isin(wanted)]
    if members.empty:
        raise DataError(f"none of the providers {', '.join(wanted)} is in the published A&E statistics")
    pooled = members.groupby("period", as_index=False).agg(
        attendances=("attendances", "sum"), breaches=("breaches", "sum"), providers=("org_code", "nunique")
    )
    pooled["performance"] = 1 - pooled["breaches"] / pooled["attendances"]
    return pooled[["period", "attendances", "breaches", "performance", "providers"]]
