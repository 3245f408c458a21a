"""The people of one practice: who they are, their long-term conditions, care-home stays and deaths.

Everyone on the list at the start of the period, and everyone joining during it (newborns and people
moving in, at ages that keep the list's age structure steady), gets a sex, a date of birth, a frailty (gamma, mean 1), onset dates of long-term
conditions (more likely when frail or deprived), and a monthly chance of dying, leaving the list,
moving into a care home (more likely when old, frail or with dementia) or out of one. Residents live
in homes attached to their practice, residential or nursing.

Dates are whole days since 1970-01-01 (``int64``) so that everything stays vectorised.

Boundaries: one practice at a time; randomness only through the ``Generator`` passed in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from caremodels.synth import rates
from caremodels.synth.config import SynthConfig
from caremodels.synth.economy import EconomyPractice
from caremodels.synth.england import age_sex_distribution

__all__ = ["NEVER", "Calendar", "People", "simulate_people"]

NEVER = np.int64(2**40)  # a day far beyond any period: "not happened"
_EPOCH = np.datetime64("1970-01-01", "D")
_HOME_TYPES = ("residential", "nursing")


def day_number(value: dt.date | np.datetime64) -> int:
    """Days since 1970-01-01."""
    day = value if isinstance(value, np.datetime64) else np.datetime64(value.isoformat(), "D")
    return int((day.astype("datetime64[D]") - _EPOCH).astype(np.int64))


@dataclass(frozen=True)
class Calendar:
    """The months of the period: first days (and the day after the last month), lengths, calendar
    month numbers, financial years, and years from the middle of 2015/16 (for trends)."""

    months: tuple[dt.date, ...]
    starts: np.ndarray  # [M + 1] day numbers
    lengths: np.ndarray  # [M]
    month_numbers: np.ndarray  # [M] 1..12
    financial_years: np.ndarray  # [M]
    years_from_reference: np.ndarray  # [M], at mid-month

    @classmethod
    def of(cls, config: SynthConfig) -> Calendar:
        months: list[dt.date] = []
        current = config.start
        while current <= config.end:
            months.append(current)
            current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
        starts = np.array([day_number(m) for m in [*months, current]], dtype=np.int64)
        lengths = np.diff(starts)
        middle = starts[:-1] + lengths / 2.0
        reference = day_number(rates.REFERENCE_YEAR_MIDPOINT)
        return cls(
            months=tuple(months),
            starts=starts,
            lengths=lengths,
            month_numbers=np.array([m.month for m in months]),
            financial_years=np.array([m.year if m.month >= 4 else m.year - 1 for m in months]),
            years_from_reference=(middle - reference) / rates.DAYS_PER_YEAR,
        )

    @property
    def size(self) -> int:
        return len(self.months)

    @property
    def first_day(self) -> int:
        return int(self.starts[0])

    @property
    def last_day(self) -> int:
        return int(self.starts[-1] - 1)

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Month index of each day (days must be inside the period)."""
        return np.searchsorted(self.starts, days, side="right") - 1

    def financial_year_of(self, days: np.ndarray) -> np.ndarray:
        dates = (days.astype("timedelta64[D]") + _EPOCH).astype("datetime64[M]").astype(np.int64)
        years, months = dates // 12 + 1970, dates % 12 + 1
        return np.where(months >= 4, years, years - 1)


@dataclass
class People:
    """The people of one practice, one entry per person; days are day numbers, NEVER if none."""

    sex: np.ndarray  # 0 male, 1 female
    birth: np.ndarray
    entry: np.ndarray  # first day registered within the period
    exit: np.ndarray  # last day registered within the period (death or leaving), NEVER if still registered
    registration_start: np.ndarray
    died: np.ndarray
    death_in_hospital: np.ndarray
    frailty: np.ndarray
    onset: np.ndarray  # [person, condition] day of diagnosis
    home: np.ndarray  # index into ``homes``, -1 if never resident in the period
    residence_start: np.ndarray
    residence_end: np.ndarray  # NEVER if still resident at the end of the period
    homes: list[tuple[str, str]] = field(default_factory=list)  # (CQC-style id, type)
    nhs_number: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))

    @property
    def count(self) -> int:
        return len(self.sex)

    def age_at(self, days: np.ndarray, person: np.ndarray | None = None) -> np.ndarray:
        birth = self.birth if person is None else self.birth[person]
        return np.asarray((days - birth) / rates.DAYS_PER_YEAR)

    def conditions_at(self, days: np.ndarray, person: np.ndarray) -> np.ndarray:
        """[event, condition] True where the condition was diagnosed on or before the day."""
        return np.asarray(self.onset[person] <= days[:, None])

    def resident_on(self, days: np.ndarray, person: np.ndarray) -> np.ndarray:
        return np.asarray(
            (self.home[person] >= 0)
            & (self.residence_start[person] <= days)
            & (days <= self.residence_end[person])
        )

    def exit_or_end(self, calendar: Calendar) -> np.ndarray:
        return np.minimum(self.exit, calendar.last_day)


def _draw_days(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A uniform day in [low, high] (inclusive) for each pair."""
    return np.asarray(low + np.floor(rng.random(len(low)) * (high - low + 1)).astype(np.int64))


def simulate_people(
    practice: EconomyPractice,
    rng: np.random.Generator,
    calendar: Calendar,
    initial: int,
    joiners: int,
) -> People:
    """Draw the practice's people and their histories over the period."""
    model = rates.rate_model()
    ages, population = age_sex_distribution()
    count = initial + joiners
    imd = practice.imd
    # Deprived practices are younger: tilt the age distribution by deprivation.
    tilt = np.exp(-0.25 * (imd - rates.ENGLAND_MEAN_IMD) / 12 * (ages - 40) / 40)
    cell = np.empty(count, dtype=np.int64)
    for rows, structure in ((slice(0, initial), population), (slice(initial, count), model.joiner_weights)):
        weights = (structure * tilt).ravel()
        weights /= weights.sum()
        cell[rows] = rng.choice(weights.size, size=len(range(count)[rows]), p=weights)
    sex = (cell // ages.size).astype(np.int8)
    age_at_entry = (cell % ages.size).astype(np.float64) + rng.random(count)
    # The top age band is open: spread 90+ over 90-104 with fewer at the older end.
    top = cell % ages.size == 90
    age_at_entry[top] = 90 + rng.exponential(3.5, size=int(top.sum())).clip(0, 14)

    entry = np.full(count, calendar.first_day, dtype=np.int64)
    entry[initial:] = _draw_days(
        rng, np.full(joiners, calendar.first_day), np.full(joiners, calendar.last_day)
    )
    # Joiners at age 0 are newborns, registered within a month of birth.
    newborn = np.zeros(count, dtype=bool)
    newborn[initial:] = cell[initial:] % ages.size == 0
    age_at_entry[newborn] = rng.random(int(newborn.sum())) * 30 / rates.DAYS_PER_YEAR
    birth = entry - np.round(age_at_entry * rates.DAYS_PER_YEAR).astype(np.int64)
    registration_start = entry.copy()
    # People on the list at the start registered some time before it (but not before birth).
    years_before = rng.exponential(8.0, size=initial)
    registration_start[:initial] = np.maximum(
        entry[:initial] - (years_before * 365.25).astype(np.int64), birth[:initial]
    )

    frailty = model.draw_frailty(rng, np.clip(age_at_entry, 0, 90).astype(np.int64))
    onset = _condition_onsets(rng, model, frailty, birth, imd)

    people = People(
        sex=sex,
        birth=birth,
        entry=entry,
        exit=np.full(count, NEVER, dtype=np.int64),
        registration_start=registration_start,
        died=np.zeros(count, dtype=bool),
        death_in_hospital=np.zeros(count, dtype=bool),
        frailty=frailty,
        onset=onset,
        home=np.full(count, -1, dtype=np.int64),
        residence_start=np.full(count, NEVER, dtype=np.int64),
        residence_end=np.full(count, NEVER, dtype=np.int64),
    )
    home_type = np.full(count, -1, dtype=np.int64)
    _initial_residents(people, home_type, rng, model, initial, calendar)
    _monthly_histories(people, home_type, rng, model, calendar)
    _assign_homes(people, home_type, rng, practice, model, initial)
    return people


def _condition_onsets(
    rng: np.random.Generator, model: rates.RateModel, frailty: np.ndarray, birth: np.ndarray, imd: float
) -> np.ndarray:
    propensity = frailty**rates.CONDITION_FRAILTY_POWER
    propensity = propensity * np.exp(rates.CONDITION_DEPRIVATION_SLOPE * (imd - rates.ENGLAND_MEAN_IMD))
    draws = rng.random((len(frailty), len(rates.CONDITIONS)))
    onset = np.full(draws.shape, NEVER, dtype=np.int64)
    ages = rates.AGES.astype(np.float64)
    for index, thresholds in enumerate(model.condition_thresholds):
        # Having the condition by age a has chance curve(a) x propensity / mean propensity at a, so the
        # onset age is where the thresholds reach draw / propensity (never if they never do).
        threshold = draws[:, index] / propensity
        reached = threshold < thresholds[-1]
        onset_age = np.interp(threshold[reached], thresholds, ages)
        onset[reached, index] = birth[reached] + np.round(onset_age * rates.DAYS_PER_YEAR).astype(np.int64)
    return onset


def _dementia_factor(people: People, days: np.ndarray | int) -> np.ndarray:
    dementia = people.onset[:, rates.CONDITIONS.index("dementia")] <= days
    return np.asarray(1.0 + dementia * (rates.CARE_HOME_DEMENTIA_RR - 1.0))


def _nursing_chance(frailty: np.ndarray, model: rates.RateModel) -> np.ndarray:
    # Frailer residents more often need nursing care.
    return np.asarray(
        np.clip(rates.CARE_HOME_NURSING_SHARE * frailty / model.resident_frailty_mean, 0.1, 0.9)
    )


def _initial_residents(
    people: People,
    home_type: np.ndarray,
    rng: np.random.Generator,
    model: rates.RateModel,
    initial: int,
    calendar: Calendar,
) -> None:
    start = calendar.first_day
    age_index = np.clip(people.age_at(np.full(initial, start), np.arange(initial)), 0, 90).astype(np.int64)
    chance = (
        model.care_home_prevalence[age_index]
        * people.frailty[:initial]
        * _dementia_factor(people, start)[:initial]
    )
    resident = np.flatnonzero(rng.random(initial) < np.minimum(chance, 0.95))
    years_in_home = rng.exponential(rates.CARE_HOME_PRIOR_STAY_YEARS, size=len(resident))
    adult = people.birth[resident] + 18 * 366
    people.residence_start[resident] = np.maximum(
        start - (years_in_home * 365.25).astype(np.int64) - 1, adult
    )
    people.residence_start[resident] = np.minimum(people.residence_start[resident], start)
    home_type[resident] = rng.random(len(resident)) < _nursing_chance(people.frailty[resident], model)


def _monthly_histories(
    people: People,
    home_type: np.ndarray,
    rng: np.random.Generator,
    model: rates.RateModel,
    calendar: Calendar,
) -> None:
    """Month by month: deaths, leaving the list, moving into and out of care homes."""
    frailty_power = people.frailty**rates.MORTALITY_FRAILTY_POWER
    leave_monthly = 1 - (1 - model.leaving_rate) ** (1 / 12)
    home_leave_monthly = 1 - (1 - rates.CARE_HOME_LEAVING_RATE) ** (1 / 12)
    home_death_monthly = np.array(
        [1 - (1 - rates.CARE_HOME_DEATH_RATE[kind]) ** (1 / 12) for kind in _HOME_TYPES]
    )
    dementia_column = rates.CONDITIONS.index("dementia")
    for month in range(calendar.size):
        first, last = int(calendar.starts[month]), int(calendar.starts[month + 1] - 1)
        # Only people registered this month can die, leave or move.
        who = np.flatnonzero((people.entry <= last) & (people.exit == NEVER))
        resident = (people.residence_start[who] <= last) & (people.residence_end[who] == NEVER)
        age = (first + 14 - people.birth[who]) / rates.DAYS_PER_YEAR
        age_index = np.clip(age, 0, 90).astype(np.int64)
        community_death = (
            rates.annual_mortality(age)
            * model.mortality_scale
            * frailty_power[who]
            / model.death_normaliser[age_index]
        )
        p_death = np.where(
            resident,
            home_death_monthly[np.maximum(home_type[who], 0)],
            1 - (1 - np.minimum(community_death, 0.95)) ** (1 / 12),
        )
        p_leave = np.where(resident, 0.0, leave_monthly[age_index])
        draw = rng.random(len(who))
        dies = draw < p_death
        leaves = ~dies & (draw < p_death + p_leave)
        # The day of the event: on or after joining (and after moving in, for residents).
        low = np.maximum(
            np.maximum(people.entry[who], first), np.where(resident, people.residence_start[who], first)
        )
        day = _draw_days(rng, np.minimum(low, last), np.full(len(who), last))
        ended = dies | leaves
        people.exit[who[ended]] = day[ended]
        people.died[who[dies]] = True
        people.residence_end[who[dies & resident]] = day[dies & resident]

        move = rng.random(len(who))
        never_resident = people.residence_start[who] == NEVER
        dementia = people.onset[who, dementia_column] <= first
        entry_chance = (
            model.care_home_entry[age_index]
            * people.frailty[who]
            * (1.0 + dementia * (rates.CARE_HOME_DEMENTIA_RR - 1.0))
        )
        moves_in = ~ended & never_resident & (move < entry_chance)
        moves_out = resident & ~ended & (move < home_leave_monthly)
        people.residence_start[who[moves_in]] = day[moves_in]
        home_type[who[moves_in]] = rng.random(int(moves_in.sum())) < _nursing_chance(
            people.frailty[who[moves_in]], model
        )
        people.residence_end[who[moves_out]] = day[moves_out]

    dead = np.flatnonzero(people.died)
    resident_at_death = people.residence_end[dead] == people.exit[dead]
    share = np.where(
        resident_at_death,
        rates.DEATH_IN_HOSPITAL_SHARE["care_home"],
        rates.DEATH_IN_HOSPITAL_SHARE["community"],
    )
    people.death_in_hospital[dead] = rng.random(len(dead)) < share


def _assign_homes(
    people: People,
    home_type: np.ndarray,
    rng: np.random.Generator,
    practice: EconomyPractice,
    model: rates.RateModel,
    initial: int,
) -> None:
    """Homes attached to the practice, sized from its older population, and a home for each resident."""
    residents = np.flatnonzero(people.residence_start != NEVER)
    if len(residents) == 0:
        return
    # Expected residents at any time, from the practice's list at the start and national prevalence.
    age_index = np.clip(people.age_at(people.entry[:initial], np.arange(initial)), 0, 90).astype(np.int64)
    expected = float(model.care_home_point_prevalence[age_index].sum())
    offsets = {}
    for type_index, kind in enumerate(_HOME_TYPES):
        share = rates.CARE_HOME_NURSING_SHARE if kind == "nursing" else 1 - rates.CARE_HOME_NURSING_SHARE
        homes = max(1, round(expected * share / rates.CARE_HOME_RESIDENTS_PER_HOME[kind]))
        offsets[type_index] = (len(people.homes), homes)
        for number in range(homes):
            # CQC-style location id, unique in England: the practice's national position, type, number.
            people.homes.append((f"1-1{practice.national_rank:05d}{type_index}{number:02d}", kind))
    kinds = home_type[residents]
    first_home = np.array([offsets[int(k)][0] for k in kinds], dtype=np.int64)
    home_count = np.array([offsets[int(k)][1] for k in kinds], dtype=np.int64)
    people.home[residents] = first_home + np.floor(rng.random(len(residents)) * home_count).astype(np.int64)


def condition_matrix(onset: np.ndarray, calendar: Calendar, weights: np.ndarray) -> np.ndarray:
    """[person, month] sum of ``weights`` over the conditions diagnosed on or before each month's first
    day, built from the onsets in the period as steps (no person x condition x month array)."""
    count, months = onset.shape[0], calendar.size
    month_of_onset = np.searchsorted(calendar.starts[:months], onset, side="left")  # first month counting it
    base = (np.where(month_of_onset == 0, 1.0, 0.0) * weights[None, :]).sum(axis=1)
    steps = np.zeros((count, months + 1), dtype=np.float32)
    later = (month_of_onset > 0) & (month_of_onset < months)
    person, condition = np.nonzero(later)
    np.add.at(steps, (person, month_of_onset[person, condition]), weights[condition].astype(np.float32))
    matrix = np.cumsum(steps[:, :months], axis=1)
    matrix += base[:, None].astype(np.float32)
    return matrix
