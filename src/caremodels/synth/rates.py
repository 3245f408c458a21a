"""Event rates by age and sex, and the modifiers that make practices differ.

Sources (see docs/synthetic-data.md): NHS Digital Hospital Episode Statistics, Admitted Patient Care,
England 2014-15 (about 100 emergency admissions and 140 elective admissions per 1,000 people a year,
rising steeply after 65); ONS deaths registered in England and Wales 2015 (about 9 deaths per 1,000).
Shapes are smooth approximations; ``national_scale`` rescales each curve so that England's age
structure gives the published crude rate.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DEPRIVATION_SLOPE",
    "ELECTIVE_PER_PERSON_YEAR",
    "EMERGENCY_PER_PERSON_YEAR",
    "age_curve",
    "annual_mortality",
    "seasonal_factor",
]

EMERGENCY_PER_PERSON_YEAR = 0.100
ELECTIVE_PER_PERSON_YEAR = 0.140
EMERGENCY_ANNUAL_GROWTH = 0.025
ELECTIVE_ANNUAL_GROWTH = 0.02
# log-rate change per IMD point: the most deprived practices (IMD ~50) have about 1.8 times the
# emergency admission rate of the least deprived (IMD ~10).
DEPRIVATION_SLOPE = 0.015
ENGLAND_MEAN_IMD = 23.0
# Gamma shape of the between-practice rate multiplier: coefficient of variation 1/sqrt(25) = 20%.
PRACTICE_DISPERSION_SHAPE = 25.0
# Gamma shape of the person-level frailty: most people have no admission, a few have many.
PERSON_FRAILTY_SHAPE = 1.0
REGISTRATION_TURNOVER = 0.05  # people leaving a practice list each year for reasons other than death

# Relative rates at ages 0..90 (90 meaning 90 and over), before rescaling.
_EMERGENCY_KNOTS = {
    0: 3.0,
    1: 1.2,
    5: 0.5,
    15: 0.7,
    25: 0.7,
    45: 0.8,
    55: 1.0,
    65: 1.6,
    75: 3.0,
    85: 5.5,
    90: 7.0,
}
_ELECTIVE_KNOTS = {0: 0.4, 5: 0.3, 15: 0.5, 25: 0.6, 45: 1.0, 55: 1.5, 65: 2.4, 75: 2.8, 85: 2.0, 90: 1.5}


def _interpolate(knots: dict[int, float]) -> np.ndarray:
    ages = np.arange(91)
    return np.interp(ages, list(knots), list(knots.values()))


def age_curve(kind: str, population_by_age: np.ndarray) -> np.ndarray:
    """Per-person annual rate at ages 0..90 whose population-weighted mean is the national rate."""
    if kind == "emergency":
        shape, target = _interpolate(_EMERGENCY_KNOTS), EMERGENCY_PER_PERSON_YEAR
    elif kind == "elective":
        shape, target = _interpolate(_ELECTIVE_KNOTS), ELECTIVE_PER_PERSON_YEAR
    else:
        raise ValueError(f"unknown rate curve {kind!r}")
    weights = population_by_age / population_by_age.sum()
    return np.asarray(shape * target / float(shape @ weights))


def annual_mortality(age: np.ndarray) -> np.ndarray:
    """Gompertz-Makeham annual probability of death: about 9 per 1,000 across England's ages."""
    hazard = 0.0002 + np.exp(-10.4 + 0.094 * np.minimum(age, 105))
    return np.asarray(1.0 - np.exp(-hazard))


def seasonal_factor(month_numbers: np.ndarray, amplitude: float = 0.08) -> np.ndarray:
    """Winter peak in January: 1 + amplitude at January, 1 - amplitude at July."""
    return np.asarray(1.0 + amplitude * np.cos(2 * np.pi * (month_numbers - 1) / 12))


# Joiners replace leavers and deaths and grow the list by about 0.8% a year.
ANNUAL_GROWTH_WITH_DEATHS = 0.008 + 0.009
