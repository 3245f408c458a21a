"""One practice's tables: registrations, hospital, A&E, outpatient, ambulance, referral, advice and
guidance, care-home, condition, frailty and prescribing records, and its truth counts.

Each table has its own random stream (``Streams``), so adding a column to one table never changes
another, and a practice's output depends only on the seed, its position in the economy and the
configuration, never on how the run is split into chunks or workers.

Boundaries: one practice at a time, in memory; returns Arrow tables; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caremodels.synth import rates
from caremodels.synth.config import SynthConfig
from caremodels.synth.economy import EconomyPractice
from caremodels.synth.events import EventDraw, PracticeContext, draw_events
from caremodels.synth.nhs_number import synthetic_nhs_numbers
from caremodels.synth.oracle import oracle_table
from caremodels.synth.population import NEVER, Calendar, People, simulate_people
from caremodels.synth.truth import PracticeTally

__all__ = ["PracticeJob", "PracticeOutput", "Streams", "generate_practice"]

_EPOCH = np.datetime64("1970-01-01", "D")
_SECONDS_PER_DAY = 86_400


class Streams:
    """Independent random streams of one practice, one per purpose, from (seed, practice index)."""

    NAMES = (
        "people",
        "context",
        "emergency",
        "elective",
        "ae",
        "outpatients",
        "ambulance",
        "referrals",
        "prescribing",
        "frailty",
        "fhir",
    )

    def __init__(self, seed: int, practice_index: int) -> None:
        children = np.random.SeedSequence([seed, practice_index]).spawn(len(self.NAMES))
        self._generators = {
            name: np.random.Generator(np.random.PCG64(child))
            for name, child in zip(self.NAMES, children, strict=True)
        }

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._generators[name]


@dataclass
class PracticeOutput:
    practice_code: str
    site_ids: tuple[str, ...]
    tables: dict[str, pa.Table]
    tally: PracticeTally
    registered: list[int]  # people registered on each census day of the job
    people: People | None  # kept only when some are sampled for the FHIR export
    fhir_people: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    oracle: pa.Table | None = None  # expected events by person and year (test-only, ``synth.oracle``)


# --- helpers --------------------------------------------------------------------------------------------------


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), type=pa.date32())


def _times(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]"), type=pa.timestamp("s"))


def _codes(pairs: tuple[tuple[str, float], ...]) -> tuple[pa.Array, np.ndarray]:
    codes = pa.array([code for code, _ in pairs])
    shares = np.array([share for _, share in pairs], dtype=np.float64)
    return codes, shares / shares.sum()


def _choose(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], size: int) -> np.ndarray:
    _, shares = _codes(pairs)
    return np.asarray(
        np.searchsorted(np.cumsum(shares), rng.random(size), side="right").clip(0, len(shares) - 1)
    )


def _take(pairs: tuple[tuple[str, float], ...], index: np.ndarray) -> pa.Array:
    codes, _ = _codes(pairs)
    return codes.take(pa.array(index))


def _constant(value: str, size: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), size)


def _nhs(people: People, person: np.ndarray) -> pa.Array:
    return people.nhs_number.take(pa.array(person, type=pa.int64()))


def _ids(prefix: str, size: int) -> pa.Array:
    numbers = pc.utf8_lpad(
        pc.cast(pa.array(np.arange(size, dtype=np.int64)), pa.string()), width=8, padding="0"
    )
    return pc.binary_join_element_wise(_constant(prefix, size), numbers, "")


def _sex(people: People, person: np.ndarray) -> pa.Array:
    return pa.array(["1", "2"]).take(pa.array(people.sex[person].astype(np.int64)))


def _age(people: People, person: np.ndarray, days: np.ndarray) -> np.ndarray:
    return np.floor(people.age_at(days, person)).astype(np.int64).clip(0, 120)


def _by_age(knots: dict[int, float], age: np.ndarray) -> np.ndarray:
    return np.asarray(np.interp(age, list(knots), list(knots.values())))


def _scale_days(rng: np.random.Generator, days: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Multiply whole numbers of days by ``factor`` in expectation, keeping them whole."""
    shrink = rng.binomial(days, np.clip(factor, 0.0, 1.0))
    grow = days + rng.poisson(days * np.maximum(factor - 1.0, 0.0))
    return np.asarray(np.where(factor < 1.0, shrink, grow))


def _fy(calendar: Calendar, days: np.ndarray) -> np.ndarray:
    return np.asarray(calendar.financial_year_of(days))


def _order(days: np.ndarray, person: np.ndarray) -> np.ndarray:
    return np.lexsort((person, days))


# --- tables -----------------------------------------------------------------------------------------------------


def _registrations(practice: EconomyPractice, people: People, calendar: Calendar) -> pa.Table:
    ended = people.exit != NEVER
    size = people.count
    reason = np.where(people.died, "death", "left")
    return pa.table(
        {
            "nhs_number": people.nhs_number,
            "practice_code": _constant(practice.practice_code, size),
            "sex": _sex(people, np.arange(size)),
            "date_of_birth": _dates(people.birth),
            "registration_start": _dates(people.registration_start),
            "registration_end": pa.array(people.exit.astype("datetime64[D]"), mask=~ended, type=pa.date32()),
            "end_reason": pa.array(reason, mask=~ended, type=pa.string()),
        }
    )


def _emergency_stays(rng: np.random.Generator, age: np.ndarray, resident: np.ndarray) -> np.ndarray:
    mean_stay = rates.EMERGENCY_STAY_YOUNG_DAYS + rates.EMERGENCY_STAY_RISE_DAYS * np.clip(
        (age - 30) / 60, 0, 1
    )
    mean_stay = np.where(resident, mean_stay * rates.CARE_HOME_STAY_FACTOR, mean_stay)
    stay = rng.geometric(1 / mean_stay)
    return np.asarray(np.where(rng.random(len(age)) < rates.EMERGENCY_SAME_DAY_SHARE, 0, stay))


@dataclass
class _ViaAe:
    """Emergency spells admitted through A&E (method 21): each has an A&E attendance that day. The
    attendance happens in both worlds; when an effect removes the admission it ends in discharge."""

    draws: EventDraw  # realised: the spell happens with the effects
    day: np.ndarray  # admission day


def _apc(
    context: PracticeContext,
    emergency_rng: np.random.Generator,
    elective_rng: np.random.Generator,
    tally: PracticeTally,
) -> tuple[pa.Table, _ViaAe]:
    practice, people, calendar = context.practice, context.people, context.calendar
    rng = emergency_rng
    draws = draw_events(rng, context, "emergency", "emergency_admissions")
    age = people.age_at(draws.day, draws.person)
    stay = _emergency_stays(rng, age, draws.resident)
    # Bed-day factors act on the length of stay; admissions factors have already changed the number
    # of spells, and with it the bed days.
    non_causal_stay = context.draw_multiplier(context.non_causal_for("emergency_bed_days"), draws)
    stay = _scale_days(rng, stay, non_causal_stay)
    diagnosis_general = _choose(rng, rates.EMERGENCY_DIAGNOSES, draws.size)
    diagnosis_home = _choose(rng, rates.CARE_HOME_DIAGNOSES, draws.size)
    emergency_diagnosis = pc.if_else(
        pa.array(draws.resident),
        _take(rates.CARE_HOME_DIAGNOSES, diagnosis_home),
        _take(rates.EMERGENCY_DIAGNOSES, diagnosis_general),
    )
    terminal = _terminal_spells(rng, context)
    draws_all = _join(draws, terminal.draws)
    stay = np.concatenate((stay, terminal.stay))
    diagnosis = pa.concat_arrays([emergency_diagnosis, terminal.diagnosis])
    is_terminal = np.concatenate((np.zeros(draws.size, dtype=bool), np.ones(terminal.draws.size, dtype=bool)))

    # Enrolled on the day of admission (a terminal spell's day is the death).
    enrolled_all = context.enrolled_on(
        draws_all.person, np.where(is_terminal, draws_all.day - stay, draws_all.day)
    )
    bed_day_effect = context.event_multiplier(
        context.effects_for("emergency_bed_days"),
        draws_all.month,
        draws_all.resident,
        draws_all.extensive,
        enrolled_all,
    )
    realised_stay = _scale_days(rng, stay, bed_day_effect)
    if is_terminal.any():
        # A death in hospital keeps its date: only the admission moves.
        realised_stay[is_terminal] = np.minimum(realised_stay[is_terminal], stay[is_terminal])
    admission = np.where(is_terminal, draws_all.day - stay, draws_all.day)
    realised_admission = np.where(is_terminal, draws_all.day - realised_stay, draws_all.day)
    discharge = realised_admission + realised_stay
    death = np.where(people.died[draws_all.person], people.exit[draws_all.person], NEVER)
    # A spell that is not the final one ends before the death (in both worlds).
    discharge = np.where(
        ~is_terminal & (discharge >= death), np.maximum(realised_admission, death - 1), discharge
    )
    stay = np.where(~is_terminal & (admission + stay >= death), np.maximum(death - 1 - admission, 0), stay)

    # Counted by admission date: the world with the effects may admit a dying patient later.
    fy_with, fy_without = _fy(calendar, realised_admission), _fy(calendar, admission)
    zero = np.zeros(draws_all.size)
    for fy, with_effect, without_effect in (
        (fy_with, draws_all.realised.astype(np.float64), zero),
        (fy_without, zero, draws_all.counterfactual.astype(np.float64)),
    ):
        tally.add(
            "emergency_admissions",
            fy,
            draws_all.resident,
            draws_all.extensive,
            with_effect,
            without_effect,
            enrolled_all,
        )
    for fy, with_effect, without_effect in (
        (fy_with, (discharge - realised_admission) * draws_all.realised, zero),
        (fy_without, zero, stay * draws_all.counterfactual),
    ):
        tally.add(
            "emergency_bed_days",
            fy,
            draws_all.resident,
            draws_all.extensive,
            with_effect,
            without_effect,
            enrolled_all,
        )
    method = _choose(rng, rates.EMERGENCY_METHODS, draws_all.size)
    method_codes = _take(rates.EMERGENCY_METHODS, np.where(is_terminal, 0, method))
    source = _admission_source(rng, draws_all.resident)
    emergency = _spell_table(
        practice,
        people,
        draws_all,
        realised_admission,
        discharge,
        method_codes,
        source,
        pa.array(np.where(is_terminal, "4", "1")),
        diagnosis,
    )

    rng = elective_rng
    planned = draw_events(rng, context, "elective", "elective_admissions", weekdays_only=True)
    tally.add(
        "elective_admissions",
        _fy(calendar, planned.day),
        planned.resident,
        planned.extensive,
        planned.realised.astype(np.float64),
        planned.counterfactual.astype(np.float64),
        context.enrolled_on(planned.person, planned.day),
    )
    planned_stay = np.where(
        rng.random(planned.size) < rates.ELECTIVE_DAY_CASE_SHARE,
        0,
        rng.geometric(1 / rates.ELECTIVE_STAY_MEAN_DAYS, size=planned.size),
    )
    elective = _spell_table(
        practice,
        people,
        planned,
        planned.day,
        planned.day + planned_stay,
        _take(rates.ELECTIVE_METHODS, _choose(rng, rates.ELECTIVE_METHODS, planned.size)),
        _admission_source(rng, planned.resident),
        _constant("1", planned.size),
        _take(rates.ELECTIVE_DIAGNOSES, _choose(rng, rates.ELECTIVE_DIAGNOSES, planned.size)),
    )
    realised, planned_realised = np.flatnonzero(draws_all.realised), np.flatnonzero(planned.realised)
    spells = pa.concat_tables([emergency, elective])
    via_ae = np.flatnonzero(np.where(is_terminal, 0, method) == 0)
    linked = _ViaAe(
        draws_all.subset(via_ae),
        np.where(draws_all.realised, realised_admission, admission)[via_ae],
    )
    return _with_ids(
        spells,
        "spell_id",
        practice.practice_code,
        np.concatenate((realised_admission[realised], planned.day[planned_realised])),
        np.concatenate((draws_all.person[realised], planned.person[planned_realised])),
        np.concatenate((np.full(len(realised), "N"), np.full(len(planned_realised), "L"))),
    ), linked


@dataclass
class _Terminal:
    draws: EventDraw
    stay: np.ndarray
    diagnosis: pa.Array


def _terminal_spells(rng: np.random.Generator, context: PracticeContext) -> _Terminal:
    """Emergency spells ending in death (discharge method 4) for people who die in hospital. ``day``
    holds the death; effects may remove the admission, and then the death happens elsewhere."""
    people, calendar = context.people, context.calendar
    person = np.flatnonzero(people.death_in_hospital & (people.exit <= calendar.last_day))
    death = people.exit[person]
    stay = rng.geometric(1 / rates.TERMINAL_STAY_MEAN_DAYS, size=len(person)) - 1
    earliest = np.maximum(people.entry[person], calendar.first_day)
    stay = np.minimum(stay, death - earliest)
    admission = death - stay
    month = calendar.month_of(admission)
    resident, extensive = context.event_cohorts(person, admission)
    effects = context.effects_for("emergency_admissions")
    multiplier = context.event_multiplier(
        effects, month, resident, extensive, context.enrolled_on(person, admission)
    )
    draws = EventDraw(
        person=person,
        day=death,
        month=month,
        resident=resident,
        extensive=extensive,
        counterfactual=np.ones(len(person), dtype=bool),
        realised=rng.random(len(person)) < np.minimum(multiplier, 1.0),
        multiplier=multiplier,
    )
    diagnosis = _take(rates.TERMINAL_DIAGNOSES, _choose(rng, rates.TERMINAL_DIAGNOSES, len(person)))
    return _Terminal(draws, stay.astype(np.int64), diagnosis)


def _join(first: EventDraw, second: EventDraw) -> EventDraw:
    names = ("person", "day", "month", "resident", "extensive", "counterfactual", "realised", "multiplier")
    return EventDraw(*(np.concatenate((getattr(first, n), getattr(second, n))) for n in names))


def _admission_source(rng: np.random.Generator, resident: np.ndarray) -> pa.Array:
    home = _take(
        rates.CARE_HOME_ADMISSION_SOURCES, _choose(rng, rates.CARE_HOME_ADMISSION_SOURCES, len(resident))
    )
    return pc.if_else(pa.array(resident), home, _constant("19", len(resident)))


def _spell_table(
    practice: EconomyPractice,
    people: People,
    draws: EventDraw,
    admission: np.ndarray,
    discharge: np.ndarray,
    method: pa.Array,
    source: pa.Array,
    discharge_method: pa.Array,
    diagnosis: pa.Array,
) -> pa.Table:
    keep = np.flatnonzero(draws.realised)
    person = draws.person[keep]
    take = pa.array(keep)
    return pa.table(
        {
            "nhs_number": _nhs(people, person),
            "gp_practice_code": _constant(practice.practice_code, len(keep)),
            "provider_code": _constant(practice.acute_provider, len(keep)),
            "admission_date": _dates(admission[keep]),
            "discharge_date": _dates(discharge[keep]),
            "admission_method": method.take(take),
            "admission_source": source.take(take),
            "discharge_method": discharge_method.take(take),
            "primary_diagnosis": diagnosis.take(take),
            "age": _age(people, person, admission[keep]),
            "sex": _sex(people, person),
        }
    )


def _with_ids(
    table: pa.Table,
    id_column: str,
    practice_code: str,
    time: np.ndarray,
    person: np.ndarray,
    kind: str | np.ndarray,
) -> pa.Table:
    """Sort rows by time (then person, then kind) and number them per kind: practice code, kind
    letter, an eight-digit sequence. ``time`` and ``person`` are aligned with the table's rows."""
    kinds = np.broadcast_to(np.asarray(kind, dtype="<U1"), (table.num_rows,))
    letters, kind_index = np.unique(kinds, return_inverse=True)
    order = np.lexsort((kind_index, person, time))
    table = table.take(pa.array(order, type=pa.int64()))
    kind_index = kind_index[order]
    sequence = np.zeros(len(order), dtype=np.int64)
    for index in range(len(letters)):
        mask = kind_index == index
        sequence[mask] = np.arange(int(mask.sum()))
    numbers = pc.utf8_lpad(pc.cast(pa.array(sequence), pa.string()), width=8, padding="0")
    prefix = pa.array(np.char.add(practice_code, letters)).take(pa.array(kind_index, type=pa.int64()))
    return table.add_column(0, id_column, pc.binary_join_element_wise(prefix, numbers, ""))


def _ae_breach_chance(
    calendar: Calendar, days: np.ndarray, department: np.ndarray, admitted: np.ndarray
) -> np.ndarray:
    """Chance of over 4 hours: by financial year and calendar month at type 1 (admitted patients wait
    longer for a bed), small and stable at the other types."""
    base = rates.ae_type1_breach(calendar.financial_year_of(days))
    month = (days.astype("timedelta64[D]") + _EPOCH).astype("datetime64[M]").astype(np.int64) % 12
    base = base * np.array(rates.AE_BREACH_SEASON)[month]
    share, ratio = rates.AE_TYPE1_ADMITTED_SHARE, rates.AE_ADMITTED_BREACH_RATIO
    base = base * np.where(admitted, ratio, 1.0) / (share * ratio + 1 - share)
    minor = np.select(
        [department == 2, department == 3],
        [rates.AE_MINOR_BREACH["2"], rates.AE_MINOR_BREACH["3"]],
        rates.AE_MINOR_BREACH["4"],
    )
    return np.asarray(np.where(department == 1, np.clip(base, 0, 0.95), minor))


def _ae(context: PracticeContext, rng: np.random.Generator, tally: PracticeTally, linked: _ViaAe) -> pa.Table:
    """A&E attendances: those ending in an emergency admission (one per spell admitted through A&E)
    and the others, drawn at the A&E rate less the admissions through A&E."""
    practice, people, calendar = context.practice, context.people, context.calendar
    via_ae_share = dict(rates.EMERGENCY_METHODS)["21"]
    total_community, total_resident = context.expected("ae", "ae_attendances")
    admitted_community, admitted_resident = context.expected("emergency", "emergency_admissions")
    other_community = np.maximum(total_community - via_ae_share * admitted_community, 0)
    other_resident = np.maximum(total_resident - via_ae_share * admitted_resident, 0)
    total = total_community + total_resident
    linked_share = np.divide(
        via_ae_share * (admitted_community + admitted_resident),
        total,
        out=np.zeros_like(total),
        where=total > 0,
    )

    def thinning(draws: EventDraw) -> np.ndarray:
        # Attendances ending in admission stay (an avoided admission is still an attendance), so the
        # others carry the planted change for all: m_other = (m - s) / (1 - s).
        share = np.minimum(linked_share[draws.person, draws.month], 0.95)
        return np.asarray(np.clip((draws.multiplier - share) / (1 - share), 0.0, 1.0))

    others = draw_events(
        rng,
        context,
        "ae",
        "ae_attendances",
        expected=(other_community, other_resident),
        thinning=thinning,
        extra_base=(total_community, total_resident),
    )
    spells = linked.draws
    person = np.concatenate((spells.person, others.person))
    day = np.concatenate((linked.day, others.day))
    resident = np.concatenate((spells.resident, others.resident))
    extensive = np.concatenate((spells.extensive, others.extensive))
    counterfactual = np.concatenate((spells.counterfactual, others.counterfactual))
    realised = np.concatenate((np.ones(spells.size, dtype=bool), others.realised))
    admitted = np.concatenate((spells.realised, np.zeros(others.size, dtype=bool)))
    tally.add(
        "ae_attendances",
        _fy(calendar, day),
        resident,
        extensive,
        realised.astype(np.float64),
        counterfactual.astype(np.float64),
        context.enrolled_on(person, day),
    )
    size = len(person)
    age = people.age_at(day, person)
    # Everyone admitted came through a major (type 1) department; the others split by age.
    type1_share = np.where(resident, 0.9, _by_age(rates.AE_TYPE1_SHARE_BY_AGE, age))
    type1_share[: spells.size] = 1.0
    pick = rng.random(size)
    minor = 1 - type1_share - rates.AE_TYPE2_SHARE
    department = np.where(
        pick < type1_share,
        1,
        np.where(
            pick < type1_share + rates.AE_TYPE2_SHARE,
            2,
            np.where(
                pick < type1_share + rates.AE_TYPE2_SHARE + minor * (1 - rates.AE_TYPE4_SHARE_OF_MINOR), 3, 4
            ),
        ),
    )
    ambulance_chance = np.where(
        resident, rates.AE_CARE_HOME_AMBULANCE_ARRIVAL, _by_age(rates.AE_AMBULANCE_ARRIVAL_BY_AGE, age)
    )
    ambulance_chance = np.where(
        np.arange(size) < spells.size,
        np.minimum(ambulance_chance * rates.AE_ADMITTED_AMBULANCE_FACTOR, 0.9),
        ambulance_chance,
    )
    ambulance_chance = np.where(department == 1, ambulance_chance, 0.01)
    by_ambulance = rng.random(size) < ambulance_chance
    other = _choose(rng, rates.AE_OTHER_DISPOSALS, size)
    disposal = pc.if_else(
        pa.array(admitted), _constant("admitted", size), _take(rates.AE_OTHER_DISPOSALS, other)
    )

    hours = _choose(rng, tuple((str(h), w) for h, w in enumerate(rates.AE_ARRIVAL_HOURS)), size)
    arrival = day * _SECONDS_PER_DAY + hours * 3600 + (rng.random(size) * 3600).astype(np.int64)
    breach = rng.random(size) < _ae_breach_chance(calendar, day, department, admitted)
    within_major = 240 * 60 * rng.beta(2.2, 1.6, size=size)
    within_minor = np.minimum(240 * 60, (15 + rng.gamma(2.0, 25.0, size=size)) * 60)
    within = np.where(department == 1, within_major, within_minor).astype(np.int64)
    beyond = (240 * 60 + 60 + rng.exponential(rates.AE_BREACH_EXCESS_MEAN_MINUTES * 60, size=size)).astype(
        np.int64
    )
    duration = np.minimum(np.where(breach, beyond, within), 24 * 3600)
    departure = arrival + duration

    keep = np.flatnonzero(realised)
    person = person[keep]
    take = pa.array(keep)
    table = pa.table(
        {
            "nhs_number": _nhs(people, person),
            "gp_practice_code": _constant(practice.practice_code, len(keep)),
            "provider_code": _constant(practice.acute_provider, len(keep)),
            "arrival_time": _times(arrival[keep]),
            "departure_time": _times(departure[keep]),
            "department_type": pa.array(department[keep].astype(str)),
            "arrival_mode": pa.array(np.where(by_ambulance[keep], "1", "2")),
            "disposal": disposal.take(take),
            "age": _age(people, person, day[keep]),
            "sex": _sex(people, person),
        }
    )
    return _with_ids(table, "attendance_id", practice.practice_code, arrival[keep], person, "A")


def _specialties(rng: np.random.Generator, age: np.ndarray) -> pa.Array:
    adult = _take(rates.ADULT_SPECIALTIES, _choose(rng, rates.ADULT_SPECIALTIES, len(age)))
    child = _take(rates.CHILD_SPECIALTIES, _choose(rng, rates.CHILD_SPECIALTIES, len(age)))
    return pc.if_else(pa.array(age < 16), child, adult)


def _outpatients(context: PracticeContext, rng: np.random.Generator, tally: PracticeTally) -> pa.Table:
    practice, people, calendar = context.practice, context.people, context.calendar
    firsts = draw_events(rng, context, "first_outpatient", "first_outpatient", weekdays_only=True)
    size = firsts.size
    age = people.age_at(firsts.day, firsts.person)
    specialty = _specialties(rng, age)
    virtual = rng.random(size) < rates.OUTPATIENT_VIRTUAL_SHARE
    # Follow-ups: a geometric number per first appointment, spaced by gaps, within the registration.
    follow_ups = rng.geometric(1 / (1 + rates.OUTPATIENT_FOLLOW_UPS_MEAN), size=size) - 1
    parent = np.repeat(np.arange(size), follow_ups)
    gaps = rates.OUTPATIENT_FOLLOW_UP_GAP_MIN_DAYS + rng.exponential(
        rates.OUTPATIENT_FOLLOW_UP_GAP_MEAN_DAYS, size=len(parent)
    ).astype(np.int64)
    # Cumulative gaps within each first appointment's series.
    starts = np.repeat(np.cumsum(follow_ups) - follow_ups, follow_ups)
    running = np.cumsum(gaps)
    offset = running - np.concatenate(([0], running))[starts]
    follow_day = firsts.day[parent] + offset
    weekday = (follow_day + 3) % 7
    follow_day = follow_day + np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0))
    limit = people.exit_or_end(calendar)[firsts.person[parent]]
    inside = follow_day <= limit
    parent, follow_day = parent[inside], follow_day[inside]

    day = np.concatenate((firsts.day, follow_day))
    person = np.concatenate((firsts.person, firsts.person[parent]))
    is_first = np.concatenate((np.ones(size, dtype=bool), np.zeros(len(parent), dtype=bool)))
    realised = np.concatenate((firsts.realised, firsts.realised[parent]))
    virtual_all = np.concatenate((virtual, virtual[parent] & (rng.random(len(parent)) < 0.5)))
    attendance = _choose(rng, rates.OUTPATIENT_ATTENDANCE, len(day))
    attended = np.isin(np.array([code for code, _ in rates.OUTPATIENT_ATTENDANCE])[attendance], ["5", "6"])
    first_attended = attended[:size].astype(np.float64)
    tally.add(
        "first_outpatient",
        _fy(calendar, firsts.day),
        firsts.resident,
        firsts.extensive,
        first_attended * firsts.realised,
        first_attended * firsts.counterfactual,
        context.enrolled_on(firsts.person, firsts.day),
    )
    first_code = np.where(is_first, np.where(virtual_all, "3", "1"), np.where(virtual_all, "4", "2"))
    keep = np.flatnonzero(realised)
    take = pa.array(keep)
    all_specialty = pa.concat_arrays([specialty, specialty.take(pa.array(parent))])
    table = pa.table(
        {
            "nhs_number": _nhs(people, person[keep]),
            "gp_practice_code": _constant(practice.practice_code, len(keep)),
            "provider_code": _constant(practice.acute_provider, len(keep)),
            "appointment_date": _dates(day[keep]),
            "first_attendance": pa.array(first_code[keep]),
            "attended": _take(rates.OUTPATIENT_ATTENDANCE, attendance).take(take),
            "treatment_specialty": all_specialty.take(take),
            "age": _age(people, person[keep], day[keep]),
            "sex": _sex(people, person[keep]),
        }
    )
    return _with_ids(table, "appointment_id", practice.practice_code, day[keep], person[keep], "O")


def _ambulance(context: PracticeContext, rng: np.random.Generator, tally: PracticeTally) -> pa.Table:
    practice, people, calendar = context.practice, context.people, context.calendar
    draws = draw_events(rng, context, "ambulance", "ambulance_incidents")
    tally.add(
        "ambulance_incidents",
        _fy(calendar, draws.day),
        draws.resident,
        draws.extensive,
        draws.realised.astype(np.float64),
        draws.counterfactual.astype(np.float64),
        context.enrolled_on(draws.person, draws.day),
    )
    size = draws.size
    category = _choose(rng, rates.AMBULANCE_CATEGORIES, size)
    category_codes = np.array([code for code, _ in rates.AMBULANCE_CATEGORIES])[category]
    conveyed_chance = np.array([rates.AMBULANCE_CONVEYED[c] for c, _ in rates.AMBULANCE_CATEGORIES])[category]
    conveyed_chance = np.where(
        draws.resident,
        np.minimum(conveyed_chance * rates.AMBULANCE_CARE_HOME_CONVEYED_FACTOR, 0.95),
        conveyed_chance,
    )
    conveyed = rng.random(size) < conveyed_chance
    hours = _choose(rng, tuple((str(h), w) for h, w in enumerate(rates.AMBULANCE_CALL_HOURS)), size)
    call = draws.day * _SECONDS_PER_DAY + hours * 3600 + (rng.random(size) * 3600).astype(np.int64)
    keep = np.flatnonzero(draws.realised)
    person = draws.person[keep]
    destination = pa.array(
        np.full(len(keep), practice.acute_provider, dtype=object), mask=~conveyed[keep], type=pa.string()
    )
    table = pa.table(
        {
            "nhs_number": _nhs(people, person),
            "gp_practice_code": _constant(practice.practice_code, len(keep)),
            "ambulance_trust_code": _constant(practice.ambulance_trust, len(keep)),
            "call_time": _times(call[keep]),
            "category": pa.array(category_codes[keep]),
            "conveyed": pa.array(np.where(conveyed[keep], "Y", "N")),
            "destination_provider_code": destination,
            "age": _age(people, person, draws.day[keep]),
            "sex": _sex(people, person),
        }
    )
    return _with_ids(table, "incident_id", practice.practice_code, call[keep], person, "M")


def _advice_background_share(days: np.ndarray) -> np.ndarray:
    start = (rates.ADVICE_BACKGROUND_START - _EPOCH).astype(np.int64)
    end = (np.datetime64("2020-03-31") - _EPOCH).astype(np.int64)
    progress = np.clip((days - start) / (end - start), 0.0, 1.0)
    return np.asarray(rates.ADVICE_BACKGROUND_SHARE_2020 * progress)


def _referral_effect_split(
    multiplier: np.ndarray, urgent_share: float, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How a planted change m < 1 in referrals works: (chance an eligible referral goes to advice and
    guidance instead, chance it is still referred after advice, chance a two-week-wait referral is
    kept). ``eligible`` is the share of would-be referrals open to it (not suspected cancer, not
    already sent for advice). Expected referrals kept = m; advice is not used for suspected cancer
    unless it must be."""
    reduction = 1.0 - np.minimum(multiplier, 1.0)
    referred = rates.ADVICE_EFFECT_REFERRED
    diverted = reduction / ((1.0 - referred) * eligible)
    enough = diverted <= 1.0
    # When even diverting every eligible referral is not enough, fewer are referred after advice,
    # and beyond that two-week-wait referrals are thinned too.
    referred_after = np.where(enough, referred, np.clip((multiplier - (1.0 - eligible)) / eligible, 0.0, 1.0))
    urgent_kept = np.where(multiplier < urgent_share, multiplier / urgent_share, 1.0)
    return np.minimum(diverted, 1.0), referred_after, urgent_kept


def _referrals(
    context: PracticeContext, rng: np.random.Generator, tally: PracticeTally
) -> tuple[pa.Table, pa.Table]:
    practice, people, calendar = context.practice, context.people, context.calendar
    needs = draw_events(rng, context, "referral", "referrals", weekdays_only=True, thin=False)
    size = needs.size
    age = people.age_at(needs.day, needs.person)
    priority = _choose(rng, rates.REFERRAL_PRIORITIES, size)
    priority_codes = np.array([code for code, _ in rates.REFERRAL_PRIORITIES])[priority]
    two_week_wait = priority_codes == "two_week_wait"
    routine = priority_codes == "routine"
    specialty = _specialties(rng, age)
    background = needs.counterfactual & routine & (rng.random(size) < _advice_background_share(needs.day))
    background_referred = rng.random(size) < rates.ADVICE_BACKGROUND_REFERRED
    shares = dict(rates.REFERRAL_PRIORITIES)
    urgent_share = shares["two_week_wait"]
    eligible = 1.0 - urgent_share - shares["routine"] * _advice_background_share(needs.day)
    diverted_chance, referred_after, urgent_kept = _referral_effect_split(
        needs.multiplier, urgent_share, eligible
    )
    effect_draw = rng.random(size)
    diverted = needs.counterfactual & ~background & ~two_week_wait & (effect_draw < diverted_chance)
    diverted_referred = rng.random(size) < referred_after
    kept_urgent = ~two_week_wait | (effect_draw < urgent_kept)
    extra = ~needs.counterfactual
    referred_with = (
        (needs.counterfactual & ~background & ~diverted & kept_urgent)
        | (background & background_referred)
        | (diverted & diverted_referred)
        | extra
    )
    referred_without = needs.counterfactual & (~background | background_referred)
    fy = _fy(calendar, needs.day)
    tally.add(
        "referrals",
        fy,
        needs.resident,
        needs.extensive,
        referred_with.astype(np.float64),
        referred_without.astype(np.float64),
        context.enrolled_on(needs.person, needs.day),
    )
    tally.add_advice(fy[diverted], diverted_referred[diverted])

    advised = background | diverted
    response_delay = rng.geometric(0.4, size=size) - 1
    last_day = people.exit_or_end(calendar)[needs.person]
    response = np.minimum(needs.day + response_delay, np.maximum(last_day, needs.day))
    outcome_referred = np.where(background, background_referred, diverted_referred)
    referral_day = np.where(
        advised,
        np.minimum(response + rng.integers(0, 15, size=size), np.maximum(last_day, response)),
        needs.day,
    )

    advice_rows = np.flatnonzero(advised)
    advice_ids = _ids(f"{practice.practice_code}G", len(advice_rows))
    # Requests are numbered in date order; the referrals that follow them carry the request's id.
    advice_order = advice_rows[_order(needs.day[advice_rows], needs.person[advice_rows])]
    request_id = np.full(size, None, dtype=object)
    request_id[advice_order] = np.asarray(advice_ids.to_pylist(), dtype=object)
    person = needs.person[advice_order]
    advice = pa.table(
        {
            "request_id": pa.array(request_id[advice_order], type=pa.string()),
            "nhs_number": _nhs(people, person),
            "gp_practice_code": _constant(practice.practice_code, len(advice_order)),
            "provider_code": _constant(practice.acute_provider, len(advice_order)),
            "request_date": _dates(needs.day[advice_order]),
            "response_date": _dates(response[advice_order]),
            "treatment_specialty": specialty.take(pa.array(advice_order)),
            "outcome": pa.array(np.where(outcome_referred[advice_order], "referred", "referral_avoided")),
            # Every synthetic request is for a need that would have been referred without the programme
            # (background and diverted alike), so the GP's answer at request is yes; how the provider
            # closed it in e-RS terms is not modelled.
            "intended_referral": _constant("Y", len(advice_order)),
            "authorised_to_convert": pa.nulls(len(advice_order), pa.string()),
            "response_outcome": pa.nulls(len(advice_order), pa.string()),
        }
    )
    rows = np.flatnonzero(referred_with)
    rows = rows[_order(referral_day[rows], needs.person[rows])]
    person = needs.person[rows]
    with_advice = advised[rows]
    referrals = pa.table(
        {
            "referral_id": _ids(f"{practice.practice_code}R", len(rows)),
            "nhs_number": _nhs(people, person),
            "gp_practice_code": _constant(practice.practice_code, len(rows)),
            "provider_code": _constant(practice.acute_provider, len(rows)),
            "referral_date": _dates(referral_day[rows]),
            "treatment_specialty": specialty.take(pa.array(rows)),
            "priority": pa.array(priority_codes[rows]),
            "advice_request_id": pa.array(np.where(with_advice, request_id[rows], None), type=pa.string()),
        }
    )
    return referrals, advice


def _care_homes(practice: EconomyPractice, people: People) -> pa.Table:
    person = np.flatnonzero(people.home >= 0)
    homes = people.homes
    ongoing = people.residence_end[person] == NEVER
    return pa.table(
        {
            "nhs_number": _nhs(people, person),
            "care_home_id": pa.array([homes[h][0] for h in people.home[person]], type=pa.string()),
            "care_home_type": pa.array([homes[h][1] for h in people.home[person]], type=pa.string()),
            "practice_code": _constant(practice.practice_code, len(person)),
            "residence_start": _dates(people.residence_start[person]),
            "residence_end": pa.array(
                people.residence_end[person].astype("datetime64[D]"), mask=ongoing, type=pa.date32()
            ),
        }
    )


def _enrolments(context: PracticeContext) -> pa.Table:
    """Each person the site's extensive care service enrolled, from the day of enrolment until death or
    leaving the practice (empty where no service enrols)."""
    people, calendar = context.people, context.calendar
    person = np.flatnonzero(context.enrolled_from != NEVER)
    ongoing = people.exit[person] == NEVER
    return pa.table(
        {
            "nhs_number": _nhs(people, person),
            "service": _constant("extensive_care", len(person)),
            "practice_code": _constant(context.practice.practice_code, len(person)),
            "enrolment_date": _dates(context.enrolled_from[person]),
            "enrolment_end": pa.array(
                np.minimum(people.exit[person], calendar.last_day).astype("datetime64[D]"),
                mask=ongoing,
                type=pa.date32(),
            ),
        }
    )


def _conditions(people: People, calendar: Calendar) -> pa.Table:
    limit = people.exit_or_end(calendar)
    person, condition = np.nonzero(people.onset <= limit[:, None])
    return pa.table(
        {
            "nhs_number": _nhs(people, person),
            "condition": pa.array(rates.CONDITIONS).take(pa.array(condition)),
            "diagnosis_date": _dates(people.onset[person, condition]),
        }
    )


def _frailty(
    people: People, calendar: Calendar, rng: np.random.Generator, model: rates.RateModel
) -> pa.Table:
    """One electronic frailty index per person aged 65 or over in each financial year."""
    rows_person, rows_day, rows_score = [], [], []
    last = people.exit_or_end(calendar)
    years = np.unique(calendar.financial_years)
    respiratory = [rates.CONDITIONS.index("asthma"), rates.CONDITIONS.index("copd")]
    weights = rates.EFI_CONDITION_DEFICITS.copy()
    weights[respiratory] = 0.0
    for year in years:
        first = max(
            int(np.datetime64(f"{year}-04-01").astype("datetime64[D]").astype(np.int64)), calendar.first_day
        )
        final = min(
            int(np.datetime64(f"{year + 1}-03-31").astype("datetime64[D]").astype(np.int64)),
            calendar.last_day,
        )
        low = np.maximum(people.entry, first)
        high = np.minimum(last, final)
        candidate = np.flatnonzero(low <= high)
        day = low[candidate] + np.floor(rng.random(len(candidate)) * (high - low + 1)[candidate]).astype(
            np.int64
        )
        age = people.age_at(day, candidate)
        old = age >= rates.EFI_MIN_AGE
        candidate, day, age = candidate[old], day[old], age[old]
        held = people.conditions_at(day, candidate)
        deficits = held @ weights + held[:, respiratory].any(axis=1)
        other = model.other_deficits_mean[np.clip(age, 0, 90).astype(np.int64)] * np.sqrt(
            people.frailty[candidate]
        )
        deficits = deficits + rng.poisson(other)
        deficits = deficits + people.resident_on(day, candidate) * rates.EFI_CARE_HOME_DEFICITS
        rows_person.append(candidate)
        rows_day.append(day)
        rows_score.append(np.minimum(deficits, rates.EFI_DEFICITS) / rates.EFI_DEFICITS)
    person = np.concatenate(rows_person) if rows_person else np.zeros(0, dtype=np.int64)
    day = np.concatenate(rows_day) if rows_day else np.zeros(0, dtype=np.int64)
    score = np.round(np.concatenate(rows_score), 4) if rows_score else np.zeros(0)
    category = np.select([score <= 0.12, score <= 0.24, score <= 0.36], ["fit", "mild", "moderate"], "severe")
    return pa.table(
        {
            "nhs_number": _nhs(people, person),
            "assessment_date": _dates(day),
            "efi_score": pa.array(score),
            "efi_category": pa.array(category),
        }
    )


def _prescribing(context: PracticeContext, rng: np.random.Generator, tally: PracticeTally) -> pa.Table:
    practice, calendar, model = context.practice, context.calendar, context.model
    weight = np.float32(0.6)
    curve = model.items_curve.astype(np.float32)
    community = (
        curve[context.age_index] * ((1 - weight) + weight * context.person_factor) * context.community_years
    )
    community *= np.float32(np.exp(rates.ITEMS_DEPRIVATION_SLOPE * (practice.imd - rates.ENGLAND_MEAN_IMD)))
    resident = curve[context.age_index] * rates.ITEMS_CARE_HOME_FACTOR * context.resident_years
    community, resident = context.apply_non_causal("prescribing_cost", community, resident)
    extensive = (
        context.extensive_mask()
        if context.effects_for("prescribing_cost")
        else np.zeros(community.shape, bool)
    )
    time = (1 + rates.ITEMS_ANNUAL_GROWTH) ** calendar.years_from_reference
    level = context.practice_common * context.practice_measure["prescribing"]
    # Expected items by [group, month]: community, community extensive, resident, resident extensive.
    groups = (
        np.stack(
            [
                np.where(extensive, 0, community).sum(axis=0),
                np.where(extensive, community, 0).sum(axis=0),
                np.where(extensive, 0, resident).sum(axis=0),
                np.where(extensive, resident, 0).sum(axis=0),
            ]
        )
        * (time * level)[None, :]
    )
    group_resident = np.array([False, False, True, True])
    group_extensive = np.array([False, True, False, True])
    multiplier = np.ones(groups.shape)
    for effect in context.effects_for("prescribing_cost"):
        by_month = np.array([effect.multiplier(m) for m in calendar.months])
        cohort = effect.target.cohort
        applies = (
            np.ones(4, bool)
            if cohort == "all"
            else group_resident
            if cohort == "care_home_residents"
            else group_extensive
        )
        multiplier = np.where(applies[:, None], multiplier * by_month[None, :], multiplier)
    chapters = rates.BNF_CHAPTERS
    shares = np.array([share for _, share, _ in chapters])
    shares = shares / shares.sum()
    mean_cost = np.array([cost for _, _, cost in chapters])
    cost_trend = (1 + rates.COST_PER_ITEM_ANNUAL_CHANGE) ** calendar.years_from_reference
    expected = groups[:, :, None] * shares[None, None, :]
    items = rng.poisson(expected)
    kept = rng.binomial(items, np.minimum(multiplier, 1.0)[:, :, None])
    extra = rng.poisson(expected * np.maximum(multiplier - 1.0, 0.0)[:, :, None])
    scale = (
        (mean_cost[None, None, :] * cost_trend[None, :, None])
        / rates.COST_PER_ITEM_SHAPE
        * rates.ACTUAL_COST_SHARE
    )

    def cost(count: np.ndarray) -> np.ndarray:
        return np.where(count > 0, rng.gamma(np.maximum(count, 1) * rates.COST_PER_ITEM_SHAPE) * scale, 0.0)

    cost_kept, cost_removed, cost_extra = cost(kept), cost(items - kept), cost(extra)
    fy = calendar.financial_years
    with_effect = (cost_kept + cost_extra).sum(axis=2)
    without_effect = (cost_kept + cost_removed).sum(axis=2)
    for group in range(4):
        months = np.arange(calendar.size)
        tally.add(
            "prescribing_cost",
            fy[months],
            np.full(calendar.size, group_resident[group]),
            np.full(calendar.size, group_extensive[group]),
            with_effect[group],
            without_effect[group],
        )
    total_items = (kept + extra).sum(axis=0)  # [month, chapter]
    total_cost = (cost_kept + cost_extra).sum(axis=0)
    month_index, chapter_index = np.nonzero(total_items)
    month_days = calendar.starts[:-1][month_index]
    return pa.table(
        {
            "practice_code": _constant(practice.practice_code, len(month_index)),
            "month": _dates(month_days),
            "bnf_chapter": pa.array([code for code, _, _ in chapters]).take(pa.array(chapter_index)),
            "items": pa.array(total_items[month_index, chapter_index].astype(np.int64)),
            "actual_cost": pa.array(np.round(total_cost[month_index, chapter_index], 2)),
        }
    )


@dataclass(frozen=True)
class PracticeJob:
    """What a worker needs to generate one practice (small, so it crosses process boundaries cheaply)."""

    config: SynthConfig
    calendar: Calendar
    practice: EconomyPractice
    practice_index: int
    initial: int
    joiners: int
    first_person: int  # index of the practice's first person in the whole run
    population: int  # people in the whole run (NHS numbers depend on it)
    fhir_share: float
    census_days: tuple[int, ...]  # days on which to count the registered population


def generate_practice(job: PracticeJob) -> PracticeOutput:
    """Every table of one practice, its truth counts and the people sampled for the FHIR export."""
    config, calendar, practice = job.config, job.calendar, job.practice
    streams = Streams(config.seed, job.practice_index)
    people = simulate_people(practice, streams["people"], calendar, job.initial, job.joiners)
    people.nhs_number = pa.array(
        synthetic_nhs_numbers(
            np.arange(job.first_person, job.first_person + people.count),
            population=job.population,
            seed=config.seed,
        ),
        type=pa.string(),
    )
    context = PracticeContext(practice, people, calendar, config, streams["context"])
    years = np.unique(calendar.financial_years)
    tally = PracticeTally(int(years[0]), len(years))
    # Emergency admissions first: enrolment in an extensive care service is decided from them, and
    # every later draw needs it (each table has its own stream, so the order changes no draw).
    spells, via_ae = _apc(context, streams["emergency"], streams["elective"], tally)
    referrals, advice = _referrals(context, streams["referrals"], tally)
    tables = {
        "gp_registrations": _registrations(practice, people, calendar),
        "apc_spells": spells,
        "ae_attendances": _ae(context, streams["ae"], tally, via_ae),
        "op_attendances": _outpatients(context, streams["outpatients"], tally),
        "ambulance_incidents": _ambulance(context, streams["ambulance"], tally),
        "care_home_residence": _care_homes(practice, people),
        "service_enrolments": _enrolments(context),
        "conditions": _conditions(people, calendar),
        "frailty_assessments": _frailty(people, calendar, streams["frailty"], context.model),
        "prescribing": _prescribing(context, streams["prescribing"], tally),
        "referrals": referrals,
        "advice_and_guidance": advice,
    }
    sampled = np.flatnonzero(streams["fhir"].random(people.count) < job.fhir_share)
    registered = [
        int(((people.entry <= day) & ((people.exit == NEVER) | (people.exit >= day))).sum())
        for day in job.census_days
    ]
    return PracticeOutput(
        practice.practice_code,
        practice.site_ids,
        tables,
        tally,
        registered,
        people if len(sampled) else None,
        sampled,
        oracle_table(context),
    )
