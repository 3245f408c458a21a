"""Practice-by-month counts with a planted effect, for testing the panel methods quickly.

Counts are over-dispersed and serially correlated within practice (a practice-year shock on top of
a month-level gamma shock), as real practice counts are, so a method that trusts Poisson noise alone
would give intervals that are too narrow.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from caremodels.evaluation.targets import EvaluationTarget

MONTHS = [dt.date(2013 + (3 + index) // 12, (3 + index) % 12 + 1, 1) for index in range(84)]
START = dt.date(2015, 4, 1)


def simulate_panel(
    rng: np.random.Generator,
    *,
    rate_ratio: float,
    treated_practices: int = 6,
    comparison_groups: int = 14,
    practices_per_group: int = 3,
    pre_trend_per_year: float = 0.0,
) -> tuple[pd.DataFrame, EvaluationTarget]:
    """Counts for one treated site and ``comparison_groups`` comparison CCGs, and the target."""
    treated = [f"T{index:05d}" for index in range(treated_practices)]
    groups = {
        f"{index:02d}X": [f"C{index:02d}{member:03d}" for member in range(practices_per_group)]
        for index in range(comparison_groups)
    }
    codes = treated + [code for members in groups.values() for code in members]
    month_index = np.arange(len(MONTHS))
    after = np.array([month >= START for month in MONTHS])
    years_to_start = (month_index - MONTHS.index(START)) / 12
    season = 1 + 0.08 * np.cos(2 * np.pi * (np.array([m.month for m in MONTHS]) - 1) / 12)
    trend = 1.025 ** (month_index / 12)
    rows = []
    for code in codes:
        population = rng.integers(3000, 12000)
        level = 0.008 * rng.gamma(25, 1 / 25)
        year_shock = np.repeat(rng.gamma(60, 1 / 60, size=len(MONTHS) // 12 + 1), 12)[: len(MONTHS)]
        month_shock = rng.gamma(80, 1 / 80, size=len(MONTHS))
        expected = population * level * season * trend * year_shock * month_shock
        if code in treated:
            expected = expected * np.where(after, rate_ratio, 1.0)
            expected = expected * np.exp(pre_trend_per_year * np.minimum(years_to_start, 0))
        events = rng.poisson(expected)
        for month, count in zip(MONTHS, events, strict=True):
            rows.append(
                {
                    "practice_code": code,
                    "month": month,
                    "numerator": int(count),
                    "denominator": int(population),
                }
            )
    target = EvaluationTarget(
        area="Simulated site",
        care_model="MCP",
        site_ids=("simulated",),
        treated={"simulated": tuple(treated)},
        controls={group: tuple(members) for group, members in groups.items()},
        start=START,
    )
    return pd.DataFrame(rows), target
