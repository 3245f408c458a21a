"""Drawing events for one practice: expected rates by person and month, the world without the planted
effects, and the world with them.

For each kind of event the expected count in every person-month is split into a community part and a
care-home part (by the days lived in each). Counts are drawn per person (Poisson on the person's total)
and placed in months in proportion to the expected counts, which gives the same distribution as a
Poisson draw per person-month for a fraction of the cost.

Planted effects act on the drawn events: reductions thin them (an event happens in the world with the
effect with probability 1 + relative_change), increases add extra events. Both worlds therefore share
every draw, and ``truth.json`` can report each exactly. Non-causal factors change the expected counts
of both worlds alike.

Boundaries: one practice at a time; randomness only through the ``Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from caremodels.reference import find_site, vanguard_sites
from caremodels.synth import rates
from caremodels.synth.config import (
    Effect,
    EffectTarget,
    Measure,
    NonCausalFactor,
    ServiceEnrolment,
    SynthConfig,
    month_offset,
)
from caremodels.synth.economy import EconomyPractice
from caremodels.synth.population import NEVER, Calendar, People, condition_matrix

__all__ = ["EventDraw", "PracticeContext", "draw_events", "targets_practice"]

EXTENSIVE_CARE_MIN_AGE = 60
EXTENSIVE_CARE_MIN_CONDITIONS = 2


def targets_practice(target: EffectTarget, practice: EconomyPractice) -> bool:
    """Whether an effect's site or care model covers the practice (cohorts are checked per event)."""
    if target.site is not None:
        return find_site(target.site).id in practice.site_ids
    models = {site.id: site.care_model for site in vanguard_sites()}
    return any(models[site_id] == target.care_model for site_id in practice.site_ids)


@dataclass
class EventDraw:
    """Events of one kind at one practice: the counterfactual events (without the effects), of which
    ``realised`` ones also happen with them, followed by the extra events that only the effects cause."""

    person: np.ndarray
    day: np.ndarray
    month: np.ndarray
    resident: np.ndarray  # living in a care home on the day
    extensive: np.ndarray  # aged 60+ with 2+ long-term conditions on the day
    counterfactual: np.ndarray  # happens in the world without the effects
    realised: np.ndarray  # happens in the world with the effects
    multiplier: np.ndarray  # product of the planted effects acting on the event

    @property
    def size(self) -> int:
        return len(self.person)

    def subset(self, mask: np.ndarray) -> EventDraw:
        return EventDraw(
            self.person[mask],
            self.day[mask],
            self.month[mask],
            self.resident[mask],
            self.extensive[mask],
            self.counterfactual[mask],
            self.realised[mask],
            self.multiplier[mask],
        )


class PracticeContext:
    """Everything the event draws of one practice share: people, person-month exposure split into
    community and care-home days, ages, the person factor (frailty and conditions), practice factors,
    and the effects and non-causal factors that apply to the practice."""

    def __init__(
        self,
        practice: EconomyPractice,
        people: People,
        calendar: Calendar,
        config: SynthConfig,
        rng: np.random.Generator,
    ) -> None:
        self.practice, self.people, self.calendar = practice, people, calendar
        model = rates.rate_model()
        self.model = model
        starts, ends = calendar.starts[:-1], calendar.starts[1:] - 1
        last = people.exit_or_end(calendar)
        registered = _overlap_days(people.entry, last, starts, ends)
        resident_from = np.maximum(people.residence_start, people.entry)
        resident_to = np.minimum(people.residence_end, last)
        has_home = people.home >= 0
        resident = np.where(
            has_home[:, None], _overlap_days(resident_from, resident_to, starts, ends), 0
        ).astype(np.float32)
        self.community_years = (registered - resident) / np.float32(rates.DAYS_PER_YEAR)
        self.resident_years = resident / np.float32(rates.DAYS_PER_YEAR)
        middle = starts + calendar.lengths // 2
        self.age = np.clip((middle[None, :] - people.birth[:, None]) / rates.DAYS_PER_YEAR, 0, 90).astype(
            np.float32
        )
        self.age_index = self.age.astype(np.int8)
        hospital_log_rr = condition_matrix(people.onset, calendar, rates.CONDITION_HOSPITAL_LOG_RR)
        self.person_factor = (
            people.frailty[:, None].astype(np.float32)
            * np.exp(hospital_log_rr)
            / model.hospital_normaliser[self.age_index].astype(np.float32)
        )
        self.resident_factor = (people.frailty / model.resident_frailty_mean).astype(np.float32)
        self._condition_count: np.ndarray | None = None
        self.practice_common = float(rng.gamma(rates.PRACTICE_COMMON_SHAPE, 1 / rates.PRACTICE_COMMON_SHAPE))
        self.practice_measure = {
            kind: float(rng.gamma(rates.PRACTICE_MEASURE_SHAPE, 1 / rates.PRACTICE_MEASURE_SHAPE))
            for kind in (*rates.EVENT_KINDS, "prescribing")
        }
        self.effects = [e for e in config.effects.effects if targets_practice(e.target, practice)]
        self.non_causal = [f for f in config.effects.non_causal if targets_practice(f.target, practice)]
        self.enrolment: ServiceEnrolment | None = next(
            (e for e in config.effects.enrolments if find_site(e.site).id in practice.site_ids), None
        )
        # Day each person was enrolled in the site's extensive care service (NEVER if not): decided
        # from the first emergency admissions drawn (``enrol``), before any effect acts on them.
        self._enrolled_from: np.ndarray | None = (
            None if self.enrolment is not None else np.full(people.count, NEVER, dtype=np.int64)
        )

    def condition_count(self) -> np.ndarray:
        """[person, month] long-term conditions diagnosed by the first of the month."""
        if self._condition_count is None:
            weights = np.ones(len(rates.CONDITIONS))
            self._condition_count = condition_matrix(self.people.onset, self.calendar, weights)
        return self._condition_count

    def extensive_mask(self) -> np.ndarray:
        return np.asarray(
            (self.age >= EXTENSIVE_CARE_MIN_AGE) & (self.condition_count() >= EXTENSIVE_CARE_MIN_CONDITIONS)
        )

    @property
    def enrolled_from(self) -> np.ndarray:
        if self._enrolled_from is None:
            raise RuntimeError("enrolment is decided from the emergency admissions, which are not drawn yet")
        return self._enrolled_from

    def enrol(self, person: np.ndarray, day: np.ndarray) -> None:
        """Decide who the site's service enrols, and when, from emergency admissions (``person``,
        ``day``) of the world without the effects (see ``ServiceEnrolment``)."""
        rule = self.enrolment
        if rule is None or self._enrolled_from is not None:
            return
        people, calendar = self.people, self.calendar
        counts = np.zeros((people.count, calendar.size + 1), dtype=np.int32)
        np.add.at(counts, (person, calendar.month_of(day) + 1), 1)
        # before[:, m]: admissions in the months before month m.
        before = np.cumsum(counts, axis=1)
        enrolled = np.full(people.count, NEVER, dtype=np.int64)
        last_registered = people.exit_or_end(calendar)
        first = max(month_offset(calendar.months[0], rule.start), 0)
        last = min(month_offset(calendar.months[0], rule.end), calendar.size - 1)
        for month in range(first, last + 1):
            start = int(calendar.starts[month])
            recent = before[:, month] - before[:, max(month - rule.lookback_months, 0)]
            chosen = (
                (enrolled == NEVER)
                & (people.entry <= start)
                & (last_registered >= start)
                & (people.age_at(np.full(people.count, start, dtype=np.int64)) >= rule.min_age)
                & ((people.onset <= start).sum(axis=1) >= rule.min_conditions)
                & (recent >= rule.min_emergency_admissions)
            )
            enrolled[chosen] = start
        self._enrolled_from = enrolled

    def enrolled_on(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each person was enrolled in the extensive care service on the day."""
        return np.asarray(self.enrolled_from[person] <= day)

    def enrolled_mask(self) -> np.ndarray:
        """[person, month] enrolled in the extensive care service (enrolment is on the first of a month)."""
        return np.asarray(self.enrolled_from[:, None] <= self.calendar.starts[None, :-1])

    def effects_for(self, measure: Measure) -> list[Effect]:
        return [e for e in self.effects if e.measure == measure]

    def non_causal_for(self, measure: Measure) -> list[NonCausalFactor]:
        return [f for f in self.non_causal if f.measure == measure]

    def time_factor(self, kind: str) -> np.ndarray:
        spec = rates.MEASURE_RATES[kind]
        seasonal = np.array(spec.seasonal)[self.calendar.month_numbers - 1]
        return np.asarray(seasonal * (1 + spec.annual_growth) ** self.calendar.years_from_reference)

    def expected(self, kind: str, measure: Measure | None) -> tuple[np.ndarray, np.ndarray]:
        """[person, month] expected events in the community and in care homes, with non-causal factors."""
        spec = rates.MEASURE_RATES[kind]
        curve = self.model.event_curves[kind].astype(np.float32)
        weight = np.float32(spec.frailty_weight)
        level = self.practice_common * self.practice_measure[kind]
        deprivation = np.exp(spec.deprivation_slope * (self.practice.imd - rates.ENGLAND_MEAN_IMD))
        time = self.time_factor(kind).astype(np.float32)
        community = curve[self.age_index] * ((1 - weight) + weight * self.person_factor)
        community *= self.community_years
        community *= (time * np.float32(level * deprivation))[None, :]
        resident = ((1 - weight) + weight * self.resident_factor[:, None]) * self.resident_years
        resident *= (time * np.float32(level * spec.care_home_per_resident_year))[None, :]
        if measure is not None:
            community, resident = self.apply_non_causal(measure, community, resident)
        return community, resident

    def cohort_multipliers(
        self, factors: list[Effect] | list[NonCausalFactor]
    ) -> tuple[np.ndarray, np.ndarray]:
        """[person, month] product of the factors' multipliers for community and care-home days."""
        shape = self.age.shape
        community = np.ones(shape, dtype=np.float32)
        resident = np.ones(shape, dtype=np.float32)
        for factor in factors:
            by_month = np.array([factor.multiplier(m) for m in self.calendar.months], dtype=np.float32)
            if factor.target.cohort == "all":
                community *= by_month[None, :]
                resident *= by_month[None, :]
            elif factor.target.cohort == "care_home_residents":
                resident *= by_month[None, :]
            elif factor.target.cohort == "extensive_care_enrolled":
                scaled = np.where(self.enrolled_mask(), by_month[None, :], np.float32(1.0))
                community *= scaled
                resident *= scaled
            else:
                scaled = np.where(self.extensive_mask(), by_month[None, :], np.float32(1.0))
                community *= scaled
                resident *= scaled
        return community, resident

    def apply_non_causal(
        self, measure: Measure, community: np.ndarray, resident: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        factors = self.non_causal_for(measure)
        if not factors:
            return community, resident
        community_factor, resident_factor = self.cohort_multipliers(factors)
        return community * community_factor, resident * resident_factor

    def event_cohorts(self, person: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(resident, extensive care) for events of ``person`` on ``day``."""
        people = self.people
        resident = people.resident_on(day, person)
        age = people.age_at(day, person)
        conditions = people.conditions_at(day, person).sum(axis=1)
        extensive = (age >= EXTENSIVE_CARE_MIN_AGE) & (conditions >= EXTENSIVE_CARE_MIN_CONDITIONS)
        return resident, np.asarray(extensive)

    def event_multiplier(
        self,
        factors: list[Effect] | list[NonCausalFactor],
        month: np.ndarray,
        resident: np.ndarray,
        extensive: np.ndarray,
        enrolled: np.ndarray | None = None,
    ) -> np.ndarray:
        """Product of the factors acting on each event (cohort checked on the event's day);
        ``enrolled`` is needed only when a factor acts on the enrolled cohort."""
        multiplier = np.ones(len(month))
        for factor in factors:
            by_month = np.array([factor.multiplier(m) for m in self.calendar.months])[month]
            cohort = factor.target.cohort
            if cohort == "extensive_care_enrolled" and enrolled is None:
                raise RuntimeError("an effect on the enrolled cohort needs each event's enrolment")
            if cohort == "all":
                applies = np.ones(len(month), dtype=bool)
            elif cohort == "care_home_residents":
                applies = resident
            elif cohort == "extensive_care_enrolled" and enrolled is not None:
                applies = enrolled
            else:
                applies = extensive
            multiplier = np.where(applies, multiplier * by_month, multiplier)
        return multiplier

    def draw_multiplier(self, factors: list[Effect] | list[NonCausalFactor], draws: EventDraw) -> np.ndarray:
        """``event_multiplier`` for drawn events, each on its own day."""
        enrolled = (
            self.enrolled_on(draws.person, draws.day)
            if any(f.target.cohort == "extensive_care_enrolled" for f in factors)
            else None
        )
        return self.event_multiplier(factors, draws.month, draws.resident, draws.extensive, enrolled)


def _overlap_days(first: np.ndarray, last: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[person, month] days of [first, last] inside each month (day numbers fit in 32 bits)."""
    first32 = np.clip(first, 0, 2**30).astype(np.int32)
    last32 = np.clip(last, 0, 2**30).astype(np.int32)
    low = np.maximum(first32[:, None], starts.astype(np.int32)[None, :])
    high = np.minimum(last32[:, None], ends.astype(np.int32)[None, :])
    high -= low
    high += 1
    np.maximum(high, 0, out=high)
    return np.asarray(high, dtype=np.float32)


def poisson_cells(rng: np.random.Generator, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person, month) of Poisson events with the given expected counts per cell: a count per person
    from the row total, then a month for each event in proportion to the row's cells."""
    months = expected.shape[1]
    totals = expected.sum(axis=1, dtype=np.float64)
    counts = rng.poisson(totals)
    person = np.repeat(np.arange(len(totals)), counts)
    if len(person) == 0:
        return person, np.zeros(0, dtype=np.int64)
    with_events = np.flatnonzero(counts)
    cumulative = np.cumsum(expected[with_events].ravel(), dtype=np.float64)
    row_end = cumulative[months - 1 :: months]
    row_start = np.concatenate(([0.0], row_end[:-1]))
    row = np.repeat(np.arange(len(with_events)), counts[with_events])
    position = row_start[row] + rng.random(len(person)) * (row_end[row] - row_start[row])
    flat = np.searchsorted(cumulative, position, side="right")
    month = np.clip(flat - row * months, 0, months - 1)
    return person, month


def _place_days(
    rng: np.random.Generator,
    context: PracticeContext,
    person: np.ndarray,
    month: np.ndarray,
    resident: np.ndarray,
    weekdays_only: bool,
) -> np.ndarray:
    """A day in the month on which the person is registered, inside or outside the care home as drawn."""
    people, calendar = context.people, context.calendar
    first = np.maximum(calendar.starts[month], people.entry[person])
    last = np.minimum(calendar.starts[month + 1] - 1, people.exit_or_end(calendar)[person])
    in_home_first = np.maximum(first, people.residence_start[person])
    in_home_last = np.minimum(last, people.residence_end[person])
    low = np.where(resident, in_home_first, first)
    high = np.where(resident, in_home_last, last)
    high = np.maximum(low, high)
    day = low + np.floor(rng.random(len(low)) * (high - low + 1)).astype(np.int64)
    # Redraw community events that fell inside a care-home stay, and planned care at weekends.
    for _ in range(4):
        wrong = ~resident & (people.home[person] >= 0) & (day >= in_home_first) & (day <= in_home_last)
        if weekdays_only:
            wrong |= ((day + 3) % 7) >= 5  # 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays
        if not wrong.any():
            break
        day[wrong] = low[wrong] + np.floor(rng.random(int(wrong.sum())) * (high - low + 1)[wrong]).astype(
            np.int64
        )
    return day


def draw_events(
    rng: np.random.Generator,
    context: PracticeContext,
    kind: str,
    measure: Measure | None,
    *,
    weekdays_only: bool = False,
    thin: bool = True,
    expected: tuple[np.ndarray, np.ndarray] | None = None,
    thinning: Callable[[EventDraw], np.ndarray] | None = None,
    extra_base: tuple[np.ndarray, np.ndarray] | None = None,
) -> EventDraw:
    """Events of one kind for the practice, with both worlds (see the module docstring).

    ``expected`` replaces the kind's expected counts (community, care home). ``thin=False`` leaves
    reductions to the caller (referrals act through advice and guidance) but still records each
    event's multiplier; ``thinning`` turns the multipliers into the chance each event survives (by
    default their product, capped at 1). Increases add events at ``(multiplier - 1) x extra_base``
    (by default the expected counts).
    """
    community, resident = expected if expected is not None else context.expected(kind, measure)
    total = community + resident
    person, month = poisson_cells(rng, total)
    effects = context.effects_for(measure) if measure is not None else []
    counterfactual = _events(rng, context, person, month, community, resident, total, weekdays_only)
    if kind == "emergency":
        context.enrol(counterfactual.person, counterfactual.day)
    counterfactual.multiplier = context.draw_multiplier(effects, counterfactual)
    if thin:
        survival = (
            np.minimum(counterfactual.multiplier, 1.0) if thinning is None else thinning(counterfactual)
        )
        counterfactual.realised = rng.random(counterfactual.size) < survival
    if not effects or all(e.relative_change <= 0 for e in effects):
        return counterfactual
    base_community, base_resident = extra_base if extra_base is not None else (community, resident)
    community_effect, resident_effect = context.cohort_multipliers(effects)
    extra_community = base_community * np.maximum(community_effect - 1, 0)
    extra_resident = base_resident * np.maximum(resident_effect - 1, 0)
    extra_total = extra_community + extra_resident
    extra_person, extra_month = poisson_cells(rng, extra_total)
    extra = _events(
        rng, context, extra_person, extra_month, extra_community, extra_resident, extra_total, weekdays_only
    )
    extra.counterfactual[:] = False
    extra.realised[:] = True
    extra.multiplier = context.draw_multiplier(effects, extra)
    return _concatenate(counterfactual, extra)


def _events(
    rng: np.random.Generator,
    context: PracticeContext,
    person: np.ndarray,
    month: np.ndarray,
    community: np.ndarray,
    resident: np.ndarray,
    total: np.ndarray,
    weekdays_only: bool,
) -> EventDraw:
    in_home_share = np.divide(
        resident[person, month],
        total[person, month],
        out=np.zeros(len(person), dtype=np.float32),
        where=total[person, month] > 0,
    )
    in_home = rng.random(len(person)) < in_home_share
    day = _place_days(rng, context, person, month, in_home, weekdays_only)
    is_resident, extensive = context.event_cohorts(person, day)
    size = len(person)
    return EventDraw(
        person=person,
        day=day,
        month=month,
        resident=is_resident,
        extensive=extensive,
        counterfactual=np.ones(size, dtype=bool),
        realised=np.ones(size, dtype=bool),
        multiplier=np.ones(size),
    )


def _concatenate(first: EventDraw, second: EventDraw) -> EventDraw:
    return EventDraw(
        *(
            np.concatenate((getattr(first, name), getattr(second, name)))
            for name in (
                "person",
                "day",
                "month",
                "resident",
                "extensive",
                "counterfactual",
                "realised",
                "multiplier",
            )
        )
    )
