"""England's registered population over time, as a multiple of the shipped January 2021 list sizes.

One definition, used by the synthetic generator (``caremodels.synth``), the programme view's coverage
and the population budgets: England's registered population was 57.1 million in mid-2015 (NHS
Digital, Numbers of Patients Registered at a GP Practice, via House of Commons Library 2016) and grew
about 0.8% a year. A practice's list on a day is its January 2021 list times ``list_scale_at(day)``.

Boundaries: reads only the shipped practice list; no randomness.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np

from caremodels.reference import practices

__all__ = [
    "ANNUAL_LIST_GROWTH",
    "DAYS_PER_YEAR",
    "LIST_SIZE_DATE",
    "REGISTERED_POPULATION_2015",
    "REGISTERED_POPULATION_DATE",
    "list_scale_at",
    "list_scale_between",
]

# The date of the list sizes in the reference data.
LIST_SIZE_DATE = dt.date(2021, 1, 1)
REGISTERED_POPULATION_2015 = 57.1e6
REGISTERED_POPULATION_DATE = np.datetime64("2015-07-01")
ANNUAL_LIST_GROWTH = 0.008
DAYS_PER_YEAR = 365.25


@functools.cache
def _national_list_2021() -> int:
    return sum(p.list_size_2021 for p in practices())


def list_scale_at(day: dt.date) -> float:
    """Registered population on ``day`` as a multiple of the January 2021 list sizes."""
    # numpy arithmetic, kept exactly as the generator has always done it, so synthetic output stays
    # byte-identical for a seed.
    years = (np.datetime64(day, "D") - REGISTERED_POPULATION_DATE).astype(np.int64) / DAYS_PER_YEAR
    national = REGISTERED_POPULATION_2015 * (1 + ANNUAL_LIST_GROWTH) ** years
    return float(national / _national_list_2021())


def list_scale_between(source: dt.date, target: dt.date) -> float:
    """The factor taking a list size on ``source`` to ``target`` along England's path."""
    return list_scale_at(target) / list_scale_at(source)
