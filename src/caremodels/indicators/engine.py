"""Practice-by-month counts of an indicator on an open warehouse, for the evaluation, the demo and
the dashboard, which compare groups of practices themselves.

Columns: practice_code, month (first day, a ``datetime.date``), numerator, denominator, for every
practice-month with a numerator event or a denominator, including months with no events. For the
registered population the denominator is the mid-month list size (people registered on the 15th).
These are true counts: publish them only through disclosure control.
"""

from __future__ import annotations

import pandas as pd

from caremodels.indicators.compute import indicator_results
from caremodels.indicators.definition import IndicatorDefinition
from caremodels.indicators.ibis_engine import duckdb_engine_for
from caremodels.indicators.periods import month_start
from caremodels.warehouse.store import Warehouse

__all__ = ["practice_month_band_counts", "practice_month_counts"]


def practice_month_counts(warehouse: Warehouse, definition: IndicatorDefinition) -> pd.DataFrame:
    """Numerator and denominator of ``definition`` by practice and month (see the module docstring)."""
    engine = duckdb_engine_for(warehouse)
    try:
        results = indicator_results(engine, definition, levels=["practice"], periods=["month"])
    finally:
        engine.close()
    whole = definition.numerator.measure == "count"
    frame = pd.DataFrame(
        {
            "practice_code": results["code"],
            "month": results["period_start"],
            "numerator": results["numerator"].astype("int64") if whole else results["numerator"],
            "denominator": results["denominator"],
        }
    )
    if definition.denominator.kind != "care_home_resident_years":
        frame["denominator"] = frame["denominator"].astype("int64")
    return frame.sort_values(["practice_code", "month"]).reset_index(drop=True)


def practice_month_band_counts(warehouse: Warehouse, definition: IndicatorDefinition) -> pd.DataFrame | None:
    """A standardised indicator's counts by practice, month, sex and age band, as the engine sums
    them (columns practice_code, month, sex, age_band, numerator, denominator; the denominator
    raw, the sum of list sizes on the 15th), for callers that standardise groups of practices
    through ``caremodels.indicators.finish_arrays``; None for an indicator that is not standardised."""
    if definition.standardisation != "esp2013":
        return None
    engine = duckdb_engine_for(warehouse)
    try:
        months = engine.data_months(definition.numerator)
        if months is None:
            return pd.DataFrame(
                columns=["practice_code", "month", "sex", "age_band", "numerator", "denominator"]
            )
        frame = engine.execute(engine.practice_months(definition, *months))
    finally:
        engine.close()
    starts = {index: month_start(int(index)) for index in frame["month"].unique()}
    frame = frame.rename(columns={"practice": "practice_code"}).assign(
        month=lambda rows: rows["month"].map(starts), sex=lambda rows: rows["sex"].astype(str)
    )
    columns = ["practice_code", "month", "sex", "age_band", "numerator", "denominator"]
    return frame[columns].astype({"age_band": "int64"}).sort_values(columns[:4]).reset_index(drop=True)
