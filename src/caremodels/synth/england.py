"""England's population by sex and single year of age (ONS mid-2023), the shape every synthetic
practice's age-sex structure starts from.

Boundaries: reads only reference data. It is its own module so that the rate model
(``caremodels.synth.rates``) and the economy (``caremodels.synth.economy``, which uses the rate
model) can both use it without importing each other.
"""

from __future__ import annotations

import csv
import functools

import numpy as np

from caremodels.reference import data_path

__all__ = ["age_sex_distribution"]


@functools.cache
def age_sex_distribution() -> tuple[np.ndarray, np.ndarray]:
    """England 2023 population as (ages 0..90, counts[sex, age]) with sex 0 = male, 1 = female."""
    counts = np.zeros((2, 91))
    with data_path("ons_england_population_2023.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            age = 90 if row["age"].startswith("90") else int(row["age"])
            counts[0 if row["sex"] == "males" else 1, age] += float(row["count"])
    counts.setflags(write=False)
    return np.arange(91), counts
