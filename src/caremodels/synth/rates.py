"""Every rate, share and curve the generator draws from, with the published figure it aims at.

Sources are cited beside each block; ``docs/synthetic-data.md`` lists the targets and how close the
generated data come (``benchmarks/synth_realism.py``). Where no published figure was at hand the value
is marked as an assumption. Age shapes are smooth approximations; ``RateModel`` rescales each so that
England's age structure gives the national crude rate of financial year 2015/16, the reference year.

Boundaries: constants and pure functions only; no randomness (``RateModel`` is deterministic).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import stats

from caremodels.reference import list_growth
from caremodels.synth.england import age_sex_distribution

__all__ = [
    "CONDITIONS",
    "EVENT_KINDS",
    "MEASURE_RATES",
    "REFERENCE_YEAR_MIDPOINT",
    "MeasureRates",
    "RateModel",
    "ae_four_hour_target",
    "ae_type1_breach",
    "annual_mortality",
    "rate_model",
    "unregistered_share",
]

AGES = np.arange(91)  # single years 0..89 and 90 meaning 90 and over
# Rates are stated for financial year 2015/16; trends run from its middle.
REFERENCE_YEAR_MIDPOINT = np.datetime64("2015-10-01")
DAYS_PER_YEAR = 365.25


def _interpolate(knots: dict[int, float]) -> np.ndarray:
    return np.asarray(np.interp(AGES, list(knots), list(knots.values())))


def _cosine_season(amplitude: float, peak_month: int = 1) -> tuple[float, ...]:
    months = np.arange(1, 13)
    return tuple(float(v) for v in 1.0 + amplitude * np.cos(2 * np.pi * (months - peak_month) / 12))


# --- People -------------------------------------------------------------------------------------
# Person frailty: gamma with mean 1. It raises hospital use, mortality, care-home entry and the
# chance of long-term conditions, so the same few people are heavy users across every table.
FRAILTY_SHAPE = 1.2
# People leaving a practice list each year other than by death (moving away), before the age-specific
# flows below. Assumption, in line with NHS Digital registration turnover of about 5-6% a year.
REGISTRATION_TURNOVER = 0.05
# Joiners per person-year beyond the steady-state flows: lists measured 0.6% growth a year without it
# (care-home residents and the frail die faster than the flows assume); this brings it to about 0.8%.
JOINERS_CALIBRATION = 0.002
# England's registered population (57.1 million in mid-2015, growing about 0.8% a year) is defined
# once, in caremodels.reference.list_growth.
REGISTERED_POPULATION_2015 = list_growth.REGISTERED_POPULATION_2015
REGISTERED_POPULATION_DATE = list_growth.REGISTERED_POPULATION_DATE
ANNUAL_LIST_GROWTH = list_growth.ANNUAL_LIST_GROWTH
# Crude death rate about 9 per 1,000 (ONS, Deaths registered in England and Wales, 2015: 495,000 in
# England for 54.8 million residents).
DEATHS_PER_PERSON_YEAR = 0.009

# --- Long-term conditions (QOF register style) ---------------------------------------------------
CONDITIONS = (
    "hypertension",
    "diabetes",
    "copd",
    "asthma",
    "chd",
    "heart_failure",
    "atrial_fibrillation",
    "stroke",
    "ckd",
    "dementia",
    "cancer",
    "depression",
    "serious_mental_illness",
)
# All-age register prevalence, England 2015/16 (NHS Digital, Quality and Outcomes Framework 2015-16;
# registers defined on adults rescaled to all ages).
CONDITION_PREVALENCE = {
    "hypertension": 0.138,
    "diabetes": 0.053,
    "copd": 0.019,
    "asthma": 0.059,
    "chd": 0.032,
    "heart_failure": 0.008,
    "atrial_fibrillation": 0.017,
    "stroke": 0.017,
    "ckd": 0.032,
    "dementia": 0.008,
    "cancer": 0.025,
    "depression": 0.066,
    "serious_mental_illness": 0.009,
}
# Share having the condition by each age (before rescaling to the prevalence above): rises with age.
_CONDITION_SHAPES: dict[str, dict[int, float]] = {
    "hypertension": {0: 0.0, 20: 0.005, 40: 0.06, 50: 0.15, 60: 0.28, 70: 0.42, 80: 0.55, 90: 0.60},
    "diabetes": {0: 0.0, 20: 0.006, 40: 0.03, 50: 0.07, 60: 0.12, 70: 0.17, 80: 0.19, 90: 0.195},
    "copd": {0: 0.0, 40: 0.003, 50: 0.015, 60: 0.04, 70: 0.07, 80: 0.09, 90: 0.10},
    "asthma": {0: 0.0, 5: 0.05, 15: 0.09, 40: 0.10, 60: 0.11, 90: 0.12},
    "chd": {0: 0.0, 40: 0.005, 50: 0.02, 60: 0.05, 70: 0.10, 80: 0.15, 90: 0.18},
    "heart_failure": {0: 0.0, 50: 0.003, 60: 0.01, 70: 0.025, 80: 0.05, 90: 0.08},
    "atrial_fibrillation": {0: 0.0, 50: 0.005, 60: 0.02, 70: 0.05, 80: 0.10, 90: 0.14},
    "stroke": {0: 0.0, 40: 0.003, 50: 0.01, 60: 0.025, 70: 0.05, 80: 0.08, 90: 0.11},
    "ckd": {0: 0.0, 40: 0.005, 50: 0.015, 60: 0.04, 70: 0.10, 80: 0.20, 90: 0.27},
    "dementia": {0: 0.0, 60: 0.003, 65: 0.01, 70: 0.02, 75: 0.04, 80: 0.08, 85: 0.14, 90: 0.22},
    "cancer": {0: 0.0, 30: 0.003, 50: 0.02, 60: 0.04, 70: 0.07, 80: 0.10, 90: 0.11},
    "depression": {0: 0.0, 15: 0.01, 20: 0.05, 40: 0.10, 60: 0.12, 90: 0.13},
    "serious_mental_illness": {0: 0.0, 18: 0.002, 30: 0.008, 50: 0.011, 90: 0.012},
}
# Conditions cluster in frail people: the chance of each is multiplied by frailty ** 0.7 (normalised).
CONDITION_FRAILTY_POWER = 0.7
# More deprived practices have more long-term illness (log-chance per IMD point). Assumption.
CONDITION_DEPRIVATION_SLOPE = 0.012
# Log rate ratios of emergency hospital use and of death for each condition (assumptions of the
# order reported for multimorbidity, e.g. Cassell et al. 2018, Br J Gen Pract).
CONDITION_HOSPITAL_LOG_RR = np.array(
    [0.10, 0.30, 0.60, 0.20, 0.30, 0.70, 0.30, 0.30, 0.30, 0.50, 0.50, 0.20, 0.40]
)
CONDITION_DEATH_LOG_RR = np.array(
    [0.05, 0.30, 0.50, 0.05, 0.30, 0.70, 0.30, 0.30, 0.30, 0.90, 0.80, 0.10, 0.50]
)
# Conditions counted as electronic frailty index deficits (Clegg et al. 2016, Age and Ageing): asthma
# and COPD are one deficit (respiratory disease); cancer, depression and SMI are not deficits.
EFI_CONDITION_DEFICITS = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=np.float64)
EFI_DEFICITS = 36
# Other deficits (falls, mobility, polypharmacy, ...): Poisson with mean rising with age, times the
# square root of frailty. Set so that among people 65 and over about half are fit, a third mildly
# frail, an eighth moderately and a few per cent severely frail (Clegg et al. 2016).
EFI_OTHER_DEFICITS_AT_65 = 3.1
EFI_OTHER_DEFICITS_GROWTH = 0.035
EFI_CARE_HOME_DEFICITS = 3.0  # requirement for care, housebound, mobility problems
EFI_MIN_AGE = 65

# --- Care homes -----------------------------------------------------------------------------------
# About 274,000 people aged 65 and over live in a care home at any time (135,000 residential, 139,000
# nursing) and 398,000 at some point in a year, in about 15,800 homes; residential homes have about
# 38 beds, nursing homes 59 (Health Foundation Improvement Analytics Unit, 2019, "Emergency admissions
# to hospital from care homes: how often and what for?", data for 2016/17). Point prevalence by age:
_CARE_HOME_PREVALENCE = {
    0: 0.0,
    17: 0.0,
    18: 0.0003,
    64: 0.0003,
    65: 0.005,
    70: 0.007,
    75: 0.014,
    80: 0.030,
    85: 0.068,
    90: 0.145,
}
# Annual death rate of residents (assumption: about a third die each year, more in nursing homes),
# and of moving out (to another area or back home; assumption).
CARE_HOME_DEATH_RATE = {"residential": 0.27, "nursing": 0.40}
CARE_HOME_LEAVING_RATE = 0.04
CARE_HOME_DEMENTIA_RR = 4.0  # dementia raises the chance of moving into a care home (assumption)
CARE_HOME_NURSING_SHARE = 0.5
CARE_HOME_RESIDENTS_PER_HOME = {"residential": 30.0, "nursing": 48.0}  # beds times ~80% occupancy
# Years living in the home before the period, for people already resident at its start.
CARE_HOME_PRIOR_STAY_YEARS = 1.5
# Where residents come from on admission (HES ADMISORC): 85 non-NHS care home, 65 local authority home.
CARE_HOME_ADMISSION_SOURCES = (("85", 0.88), ("65", 0.08), ("54", 0.04))

# --- Mortality --------------------------------------------------------------------------------------
# 47% of deaths in England in 2015 were in hospital (ONS / PHE, National End of Life Care Intelligence
# Network); most care-home residents die in the home.
DEATH_IN_HOSPITAL_SHARE = {"community": 0.52, "care_home": 0.25}
TERMINAL_STAY_MEAN_DAYS = 9.0


def annual_mortality(age: np.ndarray) -> np.ndarray:
    """Gompertz-Makeham annual probability of death: about 9 per 1,000 across England's ages."""
    hazard = 0.0002 + np.exp(-10.4 + 0.094 * np.minimum(age, 105))
    return np.asarray(1.0 - np.exp(-hazard))


# --- Hospital and community activity --------------------------------------------------------------
EVENT_KINDS = ("emergency", "elective", "ae", "first_outpatient", "ambulance", "referral")


@dataclass(frozen=True)
class MeasureRates:
    """One kind of event: national crude rate in 2015/16, age shape, trend, season, deprivation,
    how much frailty and conditions drive it, and the rate for care-home residents."""

    kind: str
    per_person_year: float
    age_shape: dict[int, float]
    annual_growth: float  # per head, on top of list growth (about 0.8% a year)
    seasonal: tuple[float, ...]  # rate per day in months January..December, mean about 1
    deprivation_slope: float  # log rate per IMD 2019 point, beyond what conditions explain
    frailty_weight: float  # 1: rate proportional to the person factor; 0: independent of it
    care_home_per_resident_year: float


# A&E attendances per day by calendar month, relative to the 12-month moving average: NHS England A&E
# Attendances and Emergency Admissions, April 2016 - March 2019 (../shared/data, all types).
_AE_SEASON = (0.978, 0.993, 1.012, 0.989, 1.038, 1.028, 1.042, 0.962, 0.997, 1.002, 0.998, 0.977)
# Planned care dips in August and December (holidays); assumption.
_PLANNED_SEASON = (1.027, 1.027, 1.027, 1.027, 1.027, 1.027, 1.027, 0.88, 1.027, 1.027, 1.027, 0.85)

MEASURE_RATES: dict[str, MeasureRates] = {
    # HES Admitted Patient Care 2015-16: about 5.8 million emergency admissions (about 100 per 1,000),
    # rising steeply after 65, growing 2-3% a year in number. The trend per head is set above the
    # 1.7% wanted because frail people leaving (by death or to care homes) pulls the rate back.
    # Winter peak about 7% above the mean in January. Care-home residents: 0.70 a year (Improvement Analytics Unit 2019).
    "emergency": MeasureRates(
        "emergency",
        0.100,
        {0: 3.0, 1: 1.2, 5: 0.5, 15: 0.7, 25: 0.7, 45: 0.8, 55: 1.0, 65: 1.6, 75: 3.0, 85: 5.5, 90: 7.0},
        0.022,
        _cosine_season(0.07),
        0.011,
        1.0,
        0.70,
    ),
    # HES APC 2015-16: about 7.8 million elective admissions including day cases (about 140 per 1,000).
    "elective": MeasureRates(
        "elective",
        0.140,
        {0: 0.4, 5: 0.3, 15: 0.5, 25: 0.6, 45: 1.0, 55: 1.5, 65: 2.4, 75: 2.8, 85: 2.0, 90: 1.5},
        0.012,
        _PLANNED_SEASON,
        0.002,
        0.4,
        0.10,
    ),
    # NHS England A&E statistics 2015-16: about 22.9 million attendances at all types (about 410 per
    # 1,000); care-home residents 0.98 a year (Improvement Analytics Unit 2019).
    "ae": MeasureRates(
        "ae",
        0.410,
        {0: 1.6, 1: 1.1, 5: 0.6, 15: 0.9, 20: 1.1, 25: 1.0, 40: 0.8, 60: 0.8, 70: 1.0, 80: 1.6, 90: 2.4},
        0.015,
        _AE_SEASON,
        0.012,
        0.6,
        0.98,
    ),
    # HES Outpatients 2015-16: about half a first appointment per person a year (attended, did not
    # attend or cancelled); approximate.
    "first_outpatient": MeasureRates(
        "first_outpatient",
        0.50,
        {0: 0.6, 5: 0.4, 15: 0.5, 25: 0.7, 45: 0.9, 55: 1.2, 65: 1.6, 75: 1.9, 85: 1.6, 90: 1.3},
        0.02,
        _PLANNED_SEASON,
        0.0,
        0.4,
        0.35,
    ),
    # Ambulance Quality Indicators 2015-16: about 8 million incidents responded to (about 150 per 1,000),
    # growing fast; about 60% conveyed. Care-home residents: assumption.
    "ambulance": MeasureRates(
        "ambulance",
        0.150,
        {0: 0.5, 5: 0.2, 15: 0.5, 20: 0.8, 40: 0.7, 60: 0.9, 70: 1.5, 80: 3.0, 90: 5.5},
        0.03,
        _cosine_season(0.06),
        0.014,
        1.0,
        1.10,
    ),
    # NHS England Monthly Activity Returns 2015-16: about 10 million GP referrals for a first outpatient
    # appointment (about 180 per 1,000).
    "referral": MeasureRates(
        "referral",
        0.180,
        {0: 0.5, 5: 0.4, 15: 0.5, 25: 0.7, 45: 1.0, 55: 1.3, 65: 1.6, 75: 1.8, 85: 1.5, 90: 1.2},
        0.01,
        _PLANNED_SEASON,
        0.0,
        0.4,
        0.12,
    ),
}
# Practices differ beyond age and deprivation (over-dispersion): a gamma factor shared by every
# measure (coefficient of variation 14%) times one per measure (10%).
PRACTICE_COMMON_SHAPE = 50.0
PRACTICE_MEASURE_SHAPE = 100.0

# --- Emergency and elective spells ------------------------------------------------------------------
# HES ADMIMETH shares of emergency admissions (about 70% via A&E).
EMERGENCY_METHODS = (
    ("21", 0.70),
    ("22", 0.15),
    ("23", 0.02),
    ("24", 0.05),
    ("25", 0.01),
    ("2A", 0.02),
    ("2B", 0.02),
    ("2D", 0.02),
    ("28", 0.01),
)
ELECTIVE_METHODS = (("11", 0.55), ("12", 0.35), ("13", 0.10))
# ICD-10 primary diagnoses (HES style, four characters, no dot). The first nine are ambulatory care
# sensitive conditions (NHS Outcomes Framework 2.3.i and 3a): together about 22% of emergency spells.
EMERGENCY_DIAGNOSES = (
    ("J441", 0.05),
    ("I500", 0.04),
    ("E119", 0.02),
    ("J459", 0.02),
    ("I209", 0.02),
    ("N390", 0.03),
    ("J189", 0.02),
    ("L031", 0.01),
    ("A099", 0.01),
    ("R074", 0.14),
    ("R101", 0.12),
    ("S720", 0.05),
    ("I219", 0.06),
    ("K358", 0.05),
    ("I639", 0.06),
    ("F101", 0.05),
    ("R55X", 0.12),
    ("K297", 0.12),
)
# Care-home residents are admitted mostly for infections, falls and fractures (Improvement Analytics Unit 2019).
CARE_HOME_DIAGNOSES = (
    ("J189", 0.18),
    ("N390", 0.16),
    ("S720", 0.10),
    ("J441", 0.06),
    ("I500", 0.06),
    ("L031", 0.05),
    ("R55X", 0.10),
    ("E86X", 0.06),
    ("R296", 0.10),
    ("A419", 0.10),
)
# Deaths in hospital: pneumonia, sepsis, cancers, heart failure, stroke, COPD.
TERMINAL_DIAGNOSES = (
    ("J189", 0.22),
    ("A419", 0.12),
    ("C349", 0.12),
    ("C189", 0.05),
    ("I500", 0.10),
    ("I639", 0.10),
    ("J441", 0.09),
    ("N179", 0.06),
    ("F03X", 0.06),
    ("I219", 0.08),
)
ELECTIVE_DIAGNOSES = (
    ("H251", 0.15),
    ("M171", 0.12),
    ("K802", 0.10),
    ("C509", 0.10),
    ("Z511", 0.20),
    ("N40X", 0.10),
    ("K409", 0.12),
    ("M161", 0.11),
)
# Emergency length of stay: a third leave the same day; otherwise geometric with a mean rising from 3
# days at 30 to 15 at 90 (HES APC 2015-16: mean emergency stay about 6 days; approximate). Care-home
# residents stay longer. Electives: three quarters are day cases.
EMERGENCY_SAME_DAY_SHARE = 0.33
EMERGENCY_STAY_YOUNG_DAYS = 3.0
EMERGENCY_STAY_RISE_DAYS = 12.0
CARE_HOME_STAY_FACTOR = 1.3
ELECTIVE_DAY_CASE_SHARE = 0.75
ELECTIVE_STAY_MEAN_DAYS = 3.0

# --- A&E -----------------------------------------------------------------------------------------------
# Department types: about 64% of attendances at type 1, 2.5% type 2, a third at types 3 and 4 (NHS
# England A&E file, 2016-19: 65%, 2.5%, 32-35%). Type 1 share rises with age. Types 3 and 4 are split
# 4:1 (assumption: the file groups them). Every admission through A&E comes through type 1 (one
# attendance per emergency spell with admission method 21, about 27% of type 1 attendances as in the
# file's 27.5-30%); the shares below are for the attendances not ending in admission.
AE_TYPE1_SHARE_BY_AGE = {0: 0.50, 15: 0.50, 16: 0.54, 64: 0.54, 65: 0.66, 79: 0.66, 80: 0.72, 90: 0.72}
AE_TYPE2_SHARE = 0.025
AE_TYPE4_SHARE_OF_MINOR = 0.2
# Arrivals by ambulance at type 1, rising with age (assumption, about 30% overall).
AE_AMBULANCE_ARRIVAL_BY_AGE = {0: 0.06, 15: 0.06, 16: 0.16, 64: 0.16, 65: 0.33, 79: 0.33, 80: 0.48, 90: 0.48}
AE_ADMITTED_AMBULANCE_FACTOR = 1.6  # people who are then admitted come by ambulance more often
AE_CARE_HOME_AMBULANCE_ARRIVAL = 0.75
# What happens to those not admitted (assumption). Deaths in A&E are not generated: a death belongs
# with the registration that it ends, and deaths in hospital are generated as admitted spells.
AE_OTHER_DISPOSALS = (
    ("discharged", 0.80),
    ("referred", 0.13),
    ("transferred", 0.02),
    ("left", 0.05),
)
# 4-hour performance, all types, England (NHS England A&E Attendances and Emergency Admissions): 95.7% in
# 2013/14, 93.6% in 2014/15, 91.9% in 2015/16, then the shared A&E file for 2016/17-2018/19 (89.1%,
# 88.3%, 88.0%), and about 84.5% in 2019/20.
AE_FOUR_HOUR_PERFORMANCE = {
    2013: 0.957,
    2014: 0.936,
    2015: 0.919,
    2016: 0.891,
    2017: 0.883,
    2018: 0.880,
    2019: 0.845,
}
# Breach rates at minor units are small and stable (A&E file 2016-19: types 2 and 3/4 about 1.0% and 0.7%).
AE_MINOR_BREACH = {"2": 0.011, "3": 0.007, "4": 0.007}
# Type 1 breaches by calendar month relative to the year (A&E file 2016-19), January to December.
AE_BREACH_SEASON = (1.318, 1.256, 1.119, 0.895, 0.855, 0.809, 0.869, 0.841, 0.883, 0.922, 1.012, 1.221)
# Admitted patients wait longer for a bed: their breach rate is this multiple of others' (assumption).
AE_ADMITTED_BREACH_RATIO = 2.5
AE_BREACH_EXCESS_MEAN_MINUTES = 110.0
# Arrivals by hour of day (relative), peaking late morning (HES A&E, 2015-16 shape; approximate).
AE_ARRIVAL_HOURS = (
    1.6,
    1.3,
    1.1,
    0.9,
    0.8,
    0.8,
    1.0,
    1.8,
    3.6,
    5.5,
    6.4,
    6.5,
    6.2,
    6.0,
    5.8,
    5.6,
    5.6,
    5.6,
    5.5,
    5.2,
    4.6,
    4.0,
    3.2,
    2.4,
)
AMBULANCE_CALL_HOURS = (
    2.6,
    2.2,
    1.9,
    1.7,
    1.6,
    1.7,
    2.2,
    3.1,
    4.3,
    5.1,
    5.5,
    5.6,
    5.5,
    5.3,
    5.2,
    5.1,
    5.0,
    5.0,
    4.9,
    4.7,
    4.4,
    4.0,
    3.5,
    3.0,
)

# --- Outpatients, referrals, advice and guidance ------------------------------------------------------
# Treatment function codes and shares of adult first appointments (approximate shares of HES
# Outpatients 2015-16); children see paediatric services mostly.
ADULT_SPECIALTIES = (
    ("110", 0.11),
    ("130", 0.10),
    ("120", 0.06),
    ("100", 0.07),
    ("101", 0.05),
    ("300", 0.04),
    ("301", 0.05),
    ("320", 0.07),
    ("330", 0.07),
    ("340", 0.04),
    ("400", 0.04),
    ("410", 0.03),
    ("430", 0.02),
    ("502", 0.07),
    ("370", 0.03),
    ("800", 0.03),
    ("303", 0.03),
    ("107", 0.02),
    ("104", 0.03),
    ("103", 0.04),
)
CHILD_SPECIALTIES = (("420", 0.6), ("120", 0.1), ("130", 0.1), ("110", 0.1), ("171", 0.1))
# Follow-ups per first appointment (geometric, mean 1.8) and the gap between appointments.
OUTPATIENT_FOLLOW_UPS_MEAN = 1.8
OUTPATIENT_FOLLOW_UP_GAP_MIN_DAYS = 14
OUTPATIENT_FOLLOW_UP_GAP_MEAN_DAYS = 75.0
# HES ATTENDED: 5 seen, 6 late but seen, 7 late not seen, 3 did not attend, 2 patient cancelled,
# 4 hospital cancelled (approximate shares; HES Outpatients 2015-16 about 7% did not attend).
OUTPATIENT_ATTENDANCE = (("5", 0.84), ("6", 0.012), ("7", 0.003), ("3", 0.07), ("2", 0.035), ("4", 0.04))
OUTPATIENT_VIRTUAL_SHARE = 0.02  # telephone or video (FIRSTATT 3 and 4) before 2020
REFERRAL_PRIORITIES = (("routine", 0.75), ("urgent", 0.10), ("two_week_wait", 0.15))
# Advice and guidance through the e-Referral Service spread from 2016/17 (assumption): a share of routine
# referrals goes to advice first, rising from 0 in March 2016 to 6% in March 2020; after advice 45% are
# still referred (assumption).
ADVICE_BACKGROUND_START = np.datetime64("2016-04-01")
ADVICE_BACKGROUND_SHARE_2020 = 0.06
ADVICE_BACKGROUND_REFERRED = 0.45
# A planted reduction in referrals works through advice and guidance, with the Morecambe Bay outcome:
# of 2,422 patients who would have been referred, 820 were (NHS England, New Care Models, May 2017).
ADVICE_EFFECT_REFERRED = 820 / 2422

# --- Ambulance -----------------------------------------------------------------------------------------
# Ambulance Response Programme categories (2017 onwards; applied throughout) and conveyance to hospital
# by category (approximate; overall about 60% conveyed).
AMBULANCE_CATEGORIES = (("1", 0.08), ("2", 0.55), ("3", 0.28), ("4", 0.09))
AMBULANCE_CONVEYED = {"1": 0.80, "2": 0.70, "3": 0.50, "4": 0.25}
AMBULANCE_CARE_HOME_CONVEYED_FACTOR = 1.1

# --- Prescribing ----------------------------------------------------------------------------------------
# About 1.08 billion items in England in 2015 (about 19.5 a person a year), average net ingredient
# cost about £8.60 an item, actual cost about 93% of that (NHS Digital, Prescription Cost Analysis
# England 2015). Shares and costs by BNF chapter are approximate.
ITEMS_PER_PERSON_YEAR = 19.5
ITEMS_AGE_SHAPE = {0: 4, 5: 3, 15: 5, 25: 7, 45: 13, 55: 20, 65: 32, 75: 48, 85: 62, 90: 66}
ITEMS_ANNUAL_GROWTH = 0.015
COST_PER_ITEM_ANNUAL_CHANGE = -0.01
ITEMS_CARE_HOME_FACTOR = 1.5
ITEMS_DEPRIVATION_SLOPE = 0.006
ACTUAL_COST_SHARE = 0.93
# (chapter, share of items, net ingredient cost per item in pounds)
BNF_CHAPTERS = (
    ("01", 0.090, 7.0),
    ("02", 0.280, 3.5),
    ("03", 0.060, 19.0),
    ("04", 0.170, 7.5),
    ("05", 0.040, 6.0),
    ("06", 0.090, 17.0),
    ("07", 0.035, 10.0),
    ("08", 0.008, 40.0),
    ("09", 0.045, 7.0),
    ("10", 0.030, 6.0),
    ("11", 0.020, 5.0),
    ("12", 0.015, 6.0),
    ("13", 0.040, 7.0),
    ("14", 0.005, 10.0),
    ("15", 0.002, 10.0),
    ("20", 0.005, 20.0),
    ("21", 0.010, 40.0),
    ("22", 0.003, 35.0),
    ("23", 0.002, 90.0),
)
# Cost of one item is gamma distributed around the chapter mean (shape per item; assumption).
COST_PER_ITEM_SHAPE = 0.8

# --- Unregistered population --------------------------------------------------------------------------
# GP registers count more people than ONS estimates (list inflation, 2.3 million or 4% in 2015: House of
# Commons Library 2016), so the unregistered cannot be read off as residents minus registrations. The
# generator assumes instead that 0.5% of an area's registered population is matched by people living
# there unregistered (higher where deprivation concentrates groups less likely to register: recent
# migrants, homeless people, young men). An assumption, stated so that users can replace it.
UNREGISTERED_SHARE_AT_MEAN_IMD = 0.005
UNREGISTERED_DEPRIVATION_SLOPE = 0.03
UNREGISTERED_MAX_SHARE = 0.03
ENGLAND_MEAN_IMD = 23.0


def unregistered_share(imd: np.ndarray) -> np.ndarray:
    """Assumed unregistered residents per registered patient, by practice deprivation."""
    share = UNREGISTERED_SHARE_AT_MEAN_IMD * np.exp(UNREGISTERED_DEPRIVATION_SLOPE * (imd - ENGLAND_MEAN_IMD))
    return np.asarray(np.minimum(share, UNREGISTERED_MAX_SHARE))


def ae_four_hour_target(financial_year: int) -> float:
    """National all-types 4-hour performance aimed at in a financial year (clamped to 2013-2019)."""
    year = min(max(financial_year, min(AE_FOUR_HOUR_PERFORMANCE)), max(AE_FOUR_HOUR_PERFORMANCE))
    return AE_FOUR_HOUR_PERFORMANCE[year]


AE_TYPE1_NATIONAL_SHARE = 0.64  # of all attendances (A&E file 2016-19: 63-65%)
AE_TYPE1_ADMITTED_SHARE = 0.28  # of type 1 attendances (A&E file 2016-19: 27.5-30%)


def ae_type1_breach(financial_years: np.ndarray) -> np.ndarray:
    """Share of type 1 attendances over 4 hours that gives the national all-types performance, given the
    minor units' small and stable breach rates."""
    minor_share = 1 - AE_TYPE1_NATIONAL_SHARE - AE_TYPE2_SHARE
    minor_breach = (1 - AE_TYPE4_SHARE_OF_MINOR) * AE_MINOR_BREACH[
        "3"
    ] + AE_TYPE4_SHARE_OF_MINOR * AE_MINOR_BREACH["4"]
    years, position = np.unique(financial_years, return_inverse=True)
    overall = np.array([1 - ae_four_hour_target(int(year)) for year in years])[position]
    return np.asarray(
        (overall - AE_TYPE2_SHARE * AE_MINOR_BREACH["2"] - minor_share * minor_breach)
        / AE_TYPE1_NATIONAL_SHARE
    )


# --- The calibrated model -------------------------------------------------------------------------------
# Mortality rises with the square root of frailty. Frail people die sooner, so the survivors at each
# age are less frail than at birth: the model follows that selection age by age, and draws the people on
# the list at the start (and those moving in) from it, so that rates do not drift as the frail die.
MORTALITY_FRAILTY_POWER = 0.5
_FRAILTY_POINTS = 400


@dataclass(frozen=True)
class RateModel:
    """Curves by single year of age (0..90), rescaled to the national targets, the frailty of the
    survivors at each age, and the normalisers that keep person-level factors at mean 1 within each age."""

    frailty_grid: np.ndarray  # [point] frailty values (quantiles of the gamma at birth)
    frailty_weights: np.ndarray  # [age, point] distribution of frailty among survivors
    condition_thresholds: np.ndarray  # [condition, age] having it by age a iff draw / propensity < this
    condition_propensity_mean: np.ndarray  # [age] mean of frailty ** CONDITION_FRAILTY_POWER
    hospital_normaliser: np.ndarray  # [age] mean of frailty x condition hospital factor
    death_normaliser: np.ndarray  # [age] mean of frailty ** MORTALITY_FRAILTY_POWER
    mortality_scale: float  # multiplies ``annual_mortality`` in the community
    care_home_entry: np.ndarray  # [age] monthly chance of moving into a care home, for a mean person
    care_home_prevalence: np.ndarray  # [age] chance of living in a care home, for a mean person
    care_home_point_prevalence: np.ndarray  # [age] share of everyone living in a care home
    resident_frailty_mean: float  # mean frailty of residents (they are chosen by frailty)
    event_curves: dict[str, np.ndarray]  # kind -> [age] events per person-year in 2015/16 (non-residents)
    items_curve: np.ndarray  # [age] prescription items per person-year in 2015/16
    other_deficits_mean: np.ndarray  # [age] mean eFI deficits other than conditions, for frailty 1
    joiner_weights: np.ndarray  # [sex, age] who joins a list (age 0: newborns)
    joiners_per_person_year: float
    leaving_rate: np.ndarray  # [age] annual chance of leaving the list other than by death

    def draw_frailty(self, rng: np.random.Generator, age_index: np.ndarray) -> np.ndarray:
        """Frailty of people of the given ages, from the survivors' distribution at each age."""
        quantiles = _frailty_quantiles(self.frailty_weights)
        position = rng.random(len(age_index)) * (quantiles.shape[1] - 1)
        lower = position.astype(np.int64)
        upper = np.minimum(lower + 1, quantiles.shape[1] - 1)
        share = position - lower
        return np.asarray(quantiles[age_index, lower] * (1 - share) + quantiles[age_index, upper] * share)


_QUANTILE_POINTS = 2049


def _frailty_quantiles(weights: np.ndarray) -> np.ndarray:
    """[age, point] frailty at evenly spaced quantiles of the survivors' distribution (cached)."""
    key = weights.tobytes()
    cached = _QUANTILE_CACHE.get(key)
    if cached is not None:
        return cached
    points = len(weights[0])
    fine = np.linspace(0, 1, 16 * points + 1)
    values = stats.gamma.ppf(np.clip(fine, 1e-7, 1 - 1e-7), FRAILTY_SHAPE, scale=1 / FRAILTY_SHAPE)
    # Each grid point holds 1/points of the gamma at birth; survivors reweight the points, so the
    # survivors' quantile u falls in the point where their cumulative weight reaches u.
    cumulative = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    birth_quantile = np.concatenate(([0.0], (np.arange(1, points + 1)) / points))
    targets = np.linspace(0, 1, _QUANTILE_POINTS)
    table = np.empty((weights.shape[0], _QUANTILE_POINTS))
    for age in range(weights.shape[0]):
        edges = np.concatenate(([0.0], cumulative[age]))
        table[age] = np.interp(np.interp(targets, edges, birth_quantile), fine, values)
    _QUANTILE_CACHE[key] = table
    return table


_QUANTILE_CACHE: dict[bytes, np.ndarray] = {}


def _condition_curves(weights: np.ndarray) -> np.ndarray:
    curves = []
    for name in CONDITIONS:
        shape = _interpolate(_CONDITION_SHAPES[name])
        scale = CONDITION_PREVALENCE[name] / float(shape @ weights)
        curves.append(np.minimum(shape * scale, 0.95))
    return np.array(curves)


def _population_flows(population: np.ndarray, deaths: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Joiners and leavers by age that keep the list's age structure steady while it grows 0.8% a year.

    Every age has the base turnover both ways; on top, people join at ages where the survivors of the
    age below are fewer than the structure needs (births at age 0, young adults), and leave where they
    are more. Without this, a list given England's 2023 structure would age far faster than England did.
    """
    growth = ANNUAL_LIST_GROWTH
    total = population.sum()
    joiners = np.zeros_like(population)
    leaving = np.zeros(population.shape)
    for sex in range(population.shape[0]):
        counts = population[sex]
        survivors = np.zeros_like(counts)
        survivors[1:] = counts[:-1] * (1 - deaths[:-1])
        survivors[-1] += counts[-1] * (1 - deaths[-1])  # the open top band keeps its own survivors
        net = counts * (1 + growth) - survivors
        joiners[sex] = REGISTRATION_TURNOVER * counts + np.maximum(net, 0)
        leaving[sex] = REGISTRATION_TURNOVER + np.maximum(-net, 0) / counts
    by_age_leaving = (leaving * population).sum(axis=0) / population.sum(axis=0)
    return joiners / joiners.sum(), float(joiners.sum() / total), np.asarray(np.minimum(by_age_leaving, 0.5))


def _gompertz_by_age() -> np.ndarray:
    gompertz = annual_mortality(AGES.astype(np.float64))
    # The open top band (90 and over) is spread as in ``population``: 90 plus an exponential of mean 3.5.
    spread = 90 + stats.expon.ppf((np.arange(200) + 0.5) / 200, scale=3.5)
    gompertz[90] = float(annual_mortality(spread).mean())
    return np.asarray(gompertz)


@functools.cache
def rate_model() -> RateModel:
    """The calibrated model (computed once; deterministic)."""
    _, population = age_sex_distribution()
    by_age = population.sum(axis=0)
    weights = by_age / by_age.sum()
    z = np.asarray(
        stats.gamma.ppf(
            (np.arange(_FRAILTY_POINTS) + 0.5) / _FRAILTY_POINTS, FRAILTY_SHAPE, scale=1 / FRAILTY_SHAPE
        )
    )
    prevalence = _interpolate(_CARE_HOME_PREVALENCE)
    resident_deaths = (
        CARE_HOME_NURSING_SHARE * CARE_HOME_DEATH_RATE["nursing"]
        + (1 - CARE_HOME_NURSING_SHARE) * CARE_HOME_DEATH_RATE["residential"]
    )
    gompertz = _gompertz_by_age()
    # Community mortality is scaled so that England's crude death rate is about 9 per 1,000,
    # counting residents' deaths.
    mortality_scale = (
        DEATHS_PER_PERSON_YEAR - float((weights * prevalence).sum()) * resident_deaths
    ) / float((weights * (1.0 - prevalence) * gompertz).sum())
    # Survivors' frailty, age by age.
    survivors = np.zeros((len(AGES), len(z)))
    survivors[0] = 1.0 / len(z)
    death_power = z**MORTALITY_FRAILTY_POWER
    for age in AGES[:-1]:
        relative = death_power / float(survivors[age] @ death_power)
        hazard = -np.log(1.0 - np.minimum(gompertz[age] * mortality_scale * relative, 0.999))
        survivors[age + 1] = survivors[age] * np.exp(-hazard)
        survivors[age + 1] /= survivors[age + 1].sum()

    def mean_by_age(values: np.ndarray) -> np.ndarray:
        """[age] mean over survivors of values [point, age] (or [point])."""
        if values.ndim == 1:
            return np.asarray(survivors @ values)
        return np.asarray(np.einsum("ap,pa->a", survivors, values))

    propensity_mean = mean_by_age(z**CONDITION_FRAILTY_POWER)
    curves = _condition_curves(weights)
    # Chance of having condition c by age a, for frailty z: min(1, curve(a) z^k / E[z^k | a]).
    chance = np.minimum(
        1.0, curves[None, :, :] * (z**CONDITION_FRAILTY_POWER)[:, None, None] / propensity_mean[None, None, :]
    )
    hospital_factor = np.prod(1.0 + chance * (np.exp(CONDITION_HOSPITAL_LOG_RR)[None, :, None] - 1.0), axis=1)
    hospital = mean_by_age(z[:, None] * hospital_factor)
    # Thresholds rise strictly with age so that an onset age can be read back from a draw.
    thresholds = curves / propensity_mean[None, :]
    thresholds = np.maximum.accumulate(thresholds, axis=1) + AGES[None, :] * 1e-9

    dementia_chance = chance[:, CONDITIONS.index("dementia"), :]
    entry_weight = z[:, None] * (1.0 + dementia_chance * (CARE_HOME_DEMENTIA_RR - 1.0))
    entry_normaliser = mean_by_age(entry_weight)
    resident_frailty = float(
        (survivors[85] @ (z * entry_weight[:, 85])) / (survivors[85] @ entry_weight[:, 85])
    )
    exit_rate = resident_deaths + CARE_HOME_LEAVING_RATE
    # Steady state by age: entries replace exits and follow the rise of prevalence with age,
    # dp/da = h (1 - p) - exit p, so the annual entry hazard is h = (exit p + dp/da) / (1 - p).
    annual_entry = (prevalence * exit_rate + np.gradient(prevalence)) / (1.0 - prevalence)
    monthly_entry = 1.0 - np.exp(-annual_entry / 12.0)

    event_curves = {}
    deaths_in_hospital = DEATHS_PER_PERSON_YEAR * (
        DEATH_IN_HOSPITAL_SHARE["community"] * 0.75 + DEATH_IN_HOSPITAL_SHARE["care_home"] * 0.25
    )
    for kind, measure in MEASURE_RATES.items():
        shape = _interpolate(measure.age_shape)
        target = measure.per_person_year
        if kind == "emergency":
            # Deaths in hospital are emergency admissions too; they are generated apart.
            target -= deaths_in_hospital
        from_residents = float((weights * prevalence).sum()) * measure.care_home_per_resident_year
        scale = (target - from_residents) / float((weights * (1.0 - prevalence) * shape).sum())
        event_curves[kind] = shape * scale
    items_shape = _interpolate({k: float(v) for k, v in ITEMS_AGE_SHAPE.items()})
    items_curve = items_shape * ITEMS_PER_PERSON_YEAR / float(items_shape @ weights)
    other_deficits = EFI_OTHER_DEFICITS_AT_65 * np.exp(EFI_OTHER_DEFICITS_GROWTH * (AGES - EFI_MIN_AGE))
    deaths = (1.0 - prevalence) * gompertz * mortality_scale + prevalence * resident_deaths
    joiner_weights, joiner_rate, leaving_rate = _population_flows(population, deaths)
    return RateModel(
        frailty_grid=z,
        frailty_weights=survivors,
        condition_thresholds=np.asarray(thresholds),
        condition_propensity_mean=propensity_mean,
        hospital_normaliser=hospital,
        death_normaliser=mean_by_age(death_power),
        mortality_scale=mortality_scale,
        care_home_entry=np.asarray(monthly_entry / entry_normaliser),
        care_home_prevalence=np.asarray(prevalence / entry_normaliser),
        care_home_point_prevalence=np.asarray(prevalence),
        resident_frailty_mean=resident_frailty,
        event_curves=event_curves,
        items_curve=np.asarray(items_curve),
        other_deficits_mean=np.asarray(other_deficits),
        joiner_weights=joiner_weights,
        joiners_per_person_year=joiner_rate,
        leaving_rate=leaving_rate,
    )
