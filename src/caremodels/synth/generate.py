"""Generate a synthetic health economy: people registered at real practices and their hospital use.

Every draw comes from a ``numpy.random.Generator`` seeded from the configuration's seed and the
practice's position, so a practice's people and events do not depend on how the run is chunked,
and the same configuration always gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from caremodels import __version__
from caremodels.reference import find_site, vanguard_sites
from caremodels.synth import rates
from caremodels.synth.config import Effect, SynthConfig
from caremodels.synth.economy import EconomyPractice, age_sex_distribution, select_practices
from caremodels.synth.nhs_number import synthetic_nhs_numbers
from caremodels.synth.schema import TABLES

__all__ = ["SynthResult", "generate"]

Progress = Callable[[int], None]

_EMERGENCY_METHODS = np.array(["21", "22", "23", "24", "25", "2A", "2B", "2D", "28"])
_EMERGENCY_METHOD_SHARES = np.array([0.70, 0.15, 0.02, 0.05, 0.01, 0.02, 0.02, 0.02, 0.01])
# Spell identifiers: N for non-elective (emergency) spells, L for elective (waiting list) ones.
_SPELL_PREFIX = {"emergency": "N", "elective": "L"}
_ELECTIVE_METHODS = np.array(["11", "12", "13"])
_ELECTIVE_METHOD_SHARES = np.array([0.55, 0.35, 0.10])
# ICD-10 primary diagnoses (HES style, four characters, no dot). The first block are ambulatory care
# sensitive conditions (NHS Outcomes Framework 2.3.i and 3a); together about 22% of emergency spells.
_EMERGENCY_DIAGNOSES = np.array(
    [
        "J441",
        "I500",
        "E119",
        "J459",
        "I209",
        "N390",
        "J189",
        "L031",
        "A099",
        "R074",
        "R101",
        "S720",
        "I219",
        "K358",
        "I639",
        "F101",
        "R55X",
        "K297",
    ]
)
_EMERGENCY_DIAGNOSIS_SHARES = np.array(
    [
        0.05,
        0.04,
        0.02,
        0.02,
        0.02,
        0.03,
        0.02,
        0.01,
        0.01,
        0.14,
        0.12,
        0.05,
        0.06,
        0.05,
        0.06,
        0.05,
        0.12,
        0.12,
    ]
)
_ELECTIVE_DIAGNOSES = np.array(["H251", "M171", "K802", "C509", "Z511", "N40X", "K409", "M161"])
_ELECTIVE_DIAGNOSIS_SHARES = np.array([0.15, 0.12, 0.10, 0.10, 0.20, 0.10, 0.12, 0.11])


@dataclass
class SynthResult:
    out_dir: Path
    files: dict[str, Path]
    people: int
    events: dict[str, int]
    practices: int
    truth: dict[str, Any] = field(default_factory=dict)


def _month_starts(config: SynthConfig) -> list[dt.date]:
    months, current = [], config.start
    while current <= config.end:
        months.append(current)
        current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def _effect_applies(effect: Effect, practice: EconomyPractice) -> bool:
    if effect.target.cohort != "all":
        return False
    if effect.target.site is not None:
        return find_site(effect.target.site).id in practice.site_ids
    sites = {site.id: site.care_model for site in vanguard_sites()}
    return any(sites[site_id] == effect.target.care_model for site_id in practice.site_ids)


class _Writer:
    """Appends record batches to one file per table, Parquet or CSV."""

    def __init__(self, out_dir: Path, file_format: str) -> None:
        self.out_dir, self.file_format = out_dir, file_format
        self.paths: dict[str, Path] = {}
        self._writers: dict[str, Any] = {}

    def write(self, table: str, batch: pa.Table) -> None:
        batch = batch.cast(TABLES[table])
        if table not in self._writers:
            path = self.out_dir / f"{table}.{self.file_format}"
            self.paths[table] = path
            if self.file_format == "parquet":
                self._writers[table] = pq.ParquetWriter(path, TABLES[table], compression="zstd")
            else:
                self._writers[table] = pacsv.CSVWriter(path, TABLES[table])
        self._writers[table].write_table(batch)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def generate(
    config: SynthConfig,
    out_dir: Path,
    *,
    file_format: str = "parquet",
    progress: Callable[[int, int], None] | None = None,
) -> SynthResult:
    """Write the economy's tables, ``truth.json`` and ``manifest.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    economy = select_practices(config, rng)
    months = _month_starts(config)
    ages, population = age_sex_distribution()
    emergency_curve = rates.age_curve("emergency", population.sum(axis=0))
    elective_curve = rates.age_curve("elective", population.sum(axis=0))

    sizes = [round(practice.list_size_at(config.start)) for practice in economy]
    years = len(months) / 12
    joiner_rate = rates.REGISTRATION_TURNOVER + rates.ANNUAL_GROWTH_WITH_DEATHS
    joiners = [round(size * joiner_rate * years) for size in sizes]
    offsets = np.cumsum([0, *[s + j for s, j in zip(sizes, joiners, strict=True)]])
    total_people = int(offsets[-1])

    writer = _Writer(out_dir, file_format)
    truth: dict[tuple[str, str], list[int]] = {}
    event_counts = {"apc_spells": 0}
    try:
        for index, practice in enumerate(economy):
            practice_rng = np.random.default_rng([config.seed, index])
            people = _people(practice, practice_rng, months, ages, population, sizes[index], joiners[index])
            people["nhs_number"] = synthetic_nhs_numbers(
                np.arange(offsets[index], offsets[index + 1]), population=total_people, seed=config.seed
            )
            writer.write("gp_registrations", _registrations_table(practice, people, months))
            spells, realised = _spells(
                practice, practice_rng, people, months, config, emergency_curve, elective_curve
            )
            writer.write("apc_spells", spells)
            event_counts["apc_spells"] += spells.num_rows
            for site_id in practice.site_ids or ("rest_of_england",):
                for measure, (with_effect, without_effect) in realised.items():
                    totals = truth.setdefault((site_id, measure), [0, 0])
                    totals[0] += with_effect
                    totals[1] += without_effect
            if progress:
                progress(index + 1, len(economy))
    finally:
        writer.close()

    truth_document = _truth_document(config, truth)
    (out_dir / "truth.json").write_text(json.dumps(truth_document, indent=2, sort_keys=True) + "\n")
    manifest = {
        "generator": f"caremodels {__version__}",
        "config": json.loads(config.model_dump_json()),
        "format": file_format,
        "practices": len(economy),
        "people": total_people,
        "files": {table: path.name for table, path in sorted(writer.paths.items())},
        "events": event_counts,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return SynthResult(
        out_dir=out_dir,
        files=dict(writer.paths),
        people=total_people,
        events=event_counts,
        practices=len(economy),
        truth=truth_document,
    )


def _people(
    practice: EconomyPractice,
    rng: np.random.Generator,
    months: list[dt.date],
    ages: np.ndarray,
    population: np.ndarray,
    initial: int,
    joiners: int,
) -> dict[str, np.ndarray]:
    """People on the list at the start and joining later, with their entry and exit months."""
    imd = practice.imd2019_score if practice.imd2019_score is not None else rates.ENGLAND_MEAN_IMD
    # Deprived practices are younger: tilt the age distribution by deprivation.
    tilt = np.exp(-0.25 * (imd - rates.ENGLAND_MEAN_IMD) / 12 * (ages - 40) / 40)
    weights = (population * tilt).ravel()
    weights /= weights.sum()
    count = initial + joiners
    cell = rng.choice(weights.size, size=count, p=weights)
    sex = cell // ages.size  # 0 male, 1 female
    age_at_entry = (cell % ages.size).astype(np.float64)
    entry_month = np.zeros(count, dtype=np.int64)
    entry_month[initial:] = rng.integers(0, len(months), size=joiners)
    # About a fifth of joiners are newborns; the rest move in with the population's age profile.
    newborn = np.zeros(count, dtype=bool)
    newborn[initial:] = rng.random(joiners) < 0.2
    age_at_entry[newborn] = 0
    entry_day = rng.integers(1, 29, size=count)
    entry_day[:initial] = 1
    age_at_entry += rng.random(count)  # fractional years
    frailty = rng.gamma(rates.PERSON_FRAILTY_SHAPE, 1 / rates.PERSON_FRAILTY_SHAPE, size=count)

    # Exit month: monthly hazards of leaving the list and of death (death more likely when frail).
    exit_month = np.full(count, len(months), dtype=np.int64)  # len(months) = still registered
    died = np.zeros(count, dtype=bool)
    for month in range(len(months)):
        active = (entry_month <= month) & (exit_month == len(months))
        age_now = age_at_entry + np.maximum(0, month - entry_month) / 12
        p_death = 1 - (1 - rates.annual_mortality(age_now) * np.sqrt(frailty)) ** (1 / 12)
        p_leave = 1 - (1 - rates.REGISTRATION_TURNOVER) ** (1 / 12)
        draw = rng.random(count)
        dies = active & (draw < p_death)
        leaves = active & ~dies & (draw < p_death + p_leave)
        exit_month[dies | leaves] = month
        died |= dies
    exit_day = rng.integers(1, 29, size=count)
    # Someone who leaves in the month they joined leaves on or after the day they joined.
    same_month = exit_month == entry_month
    exit_day[same_month] = np.maximum(exit_day[same_month], entry_day[same_month])
    start = months[0]
    birth = np.array(
        [
            np.datetime64(months[m]) + np.timedelta64(int(d) - 1, "D") - np.timedelta64(int(a * 365.25), "D")
            for m, d, a in zip(entry_month, entry_day, age_at_entry, strict=True)
        ],
        dtype="datetime64[D]",
    )
    registration_start = np.array(
        [
            np.datetime64(months[m]) + np.timedelta64(int(d) - 1, "D")
            for m, d in zip(entry_month, entry_day, strict=True)
        ],
        dtype="datetime64[D]",
    )
    # People on the list at the start registered some time before it (but after birth).
    years_before = rng.exponential(8.0, size=initial)
    earlier = np.datetime64(start) - (years_before * 365.25).astype("timedelta64[D]")
    registration_start[:initial] = np.maximum(earlier, birth[:initial])
    return {
        "sex": sex,
        "birth": birth,
        "age_at_entry": age_at_entry,
        "entry_month": entry_month,
        "entry_day": entry_day,
        "exit_month": exit_month,
        "exit_day": exit_day,
        "died": died,
        "frailty": frailty,
        "registration_start": registration_start,
    }


def _exit_dates(people: dict[str, np.ndarray], months: list[dt.date]) -> np.ndarray:
    month_array = np.array([np.datetime64(m) for m in months] + [np.datetime64("NaT")], dtype="datetime64[D]")
    return month_array[people["exit_month"]] + (people["exit_day"] - 1).astype("timedelta64[D]")


def _registrations_table(
    practice: EconomyPractice, people: dict[str, np.ndarray], months: list[dt.date]
) -> pa.Table:
    exit_date = _exit_dates(people, months)
    ended = people["exit_month"] < len(months)
    return pa.table(
        {
            "nhs_number": people["nhs_number"],
            "practice_code": np.full(len(people["sex"]), practice.practice_code),
            "sex": np.where(people["sex"] == 0, "1", "2"),  # NHS Data Dictionary: 1 male, 2 female
            "date_of_birth": people["birth"],
            "registration_start": people["registration_start"],
            "registration_end": pa.array(exit_date, mask=~ended),
            "end_reason": pa.array(np.where(people["died"], "death", "left"), mask=~ended),
        }
    )


def _spells(
    practice: EconomyPractice,
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    months: list[dt.date],
    config: SynthConfig,
    emergency_curve: np.ndarray,
    elective_curve: np.ndarray,
) -> tuple[pa.Table, dict[str, tuple[int, int]]]:
    n_months = len(months)
    month_index = np.arange(n_months)
    # Exposure: the share of each month a person is registered (half a month in entry and exit months).
    after_entry = month_index[None, :] >= people["entry_month"][:, None]
    before_exit = month_index[None, :] <= people["exit_month"][:, None]
    exposure = (after_entry & before_exit).astype(np.float64)
    exposure[month_index[None, :] == people["entry_month"][:, None]] *= np.repeat(
        np.where(people["entry_day"] > 1, 0.5, 1.0)[:, None], n_months, axis=1
    )[month_index[None, :] == people["entry_month"][:, None]]
    exposure[month_index[None, :] == people["exit_month"][:, None]] *= 0.5

    age = np.minimum(
        90, (people["age_at_entry"][:, None] + (month_index[None, :] - people["entry_month"][:, None]) / 12)
    ).clip(0)
    age_index = age.astype(np.int64)
    imd = practice.imd2019_score if practice.imd2019_score is not None else rates.ENGLAND_MEAN_IMD
    practice_factor = rng.gamma(rates.PRACTICE_DISPERSION_SHAPE, 1 / rates.PRACTICE_DISPERSION_SHAPE)
    deprivation = np.exp(rates.DEPRIVATION_SLOPE * (imd - rates.ENGLAND_MEAN_IMD))
    month_numbers = np.array([m.month for m in months])
    years_since_start = month_index / 12

    effects = [e for e in config.effects.effects if _effect_applies(e, practice)]
    tables, realised = [], {}
    for kind, curve, growth, methods, method_shares, diagnoses, diagnosis_shares in (
        (
            "emergency",
            emergency_curve,
            rates.EMERGENCY_ANNUAL_GROWTH,
            _EMERGENCY_METHODS,
            _EMERGENCY_METHOD_SHARES,
            _EMERGENCY_DIAGNOSES,
            _EMERGENCY_DIAGNOSIS_SHARES,
        ),
        (
            "elective",
            elective_curve,
            rates.ELECTIVE_ANNUAL_GROWTH,
            _ELECTIVE_METHODS,
            _ELECTIVE_METHOD_SHARES,
            _ELECTIVE_DIAGNOSES,
            _ELECTIVE_DIAGNOSIS_SHARES,
        ),
    ):
        seasonal = rates.seasonal_factor(month_numbers) if kind == "emergency" else np.ones(n_months)
        trend = (1 + growth) ** years_since_start
        expected = (
            curve[age_index]
            / 12
            * exposure
            * people["frailty"][:, None]
            * (practice_factor * deprivation)
            * (seasonal * trend)[None, :]
        )
        measure = f"{kind}_admissions"
        multiplier = np.ones(n_months)
        for effect in effects:
            if effect.measure == measure:
                multiplier *= np.array([effect.multiplier(m) for m in months])
        without = rng.poisson(expected)
        # Reductions thin the events that would have happened; increases add extra ones. Either way
        # the same people and months carry both counterfactuals, which truth.json reports.
        thin = np.minimum(multiplier, 1.0)
        kept = rng.binomial(without, np.broadcast_to(thin[None, :], without.shape))
        extra = rng.poisson(expected * np.maximum(multiplier - 1.0, 0.0)[None, :])
        counts = kept + extra
        realised[measure] = (int(counts.sum()), int(without.sum()))
        person, month = np.nonzero(counts)
        repeats = counts[person, month]
        person, month = np.repeat(person, repeats), np.repeat(month, repeats)
        tables.append(
            _spell_rows(
                kind,
                practice,
                rng,
                people,
                months,
                person,
                month,
                age,
                methods,
                method_shares,
                diagnoses,
                diagnosis_shares,
            )
        )
    spells = pa.concat_tables(tables)
    order = np.lexsort((spells["spell_id"].to_numpy(), spells["admission_date"].to_numpy()))
    return spells.take(order), realised


def _spell_rows(
    kind: str,
    practice: EconomyPractice,
    rng: np.random.Generator,
    people: dict[str, np.ndarray],
    months: list[dt.date],
    person: np.ndarray,
    month: np.ndarray,
    age: np.ndarray,
    methods: np.ndarray,
    method_shares: np.ndarray,
    diagnoses: np.ndarray,
    diagnosis_shares: np.ndarray,
) -> pa.Table:
    n = len(person)
    month_start = np.array([np.datetime64(m) for m in months], dtype="datetime64[D]")[month]
    # Keep the day inside the registered part of the month.
    first_day = np.where(month == people["entry_month"][person], people["entry_day"][person], 1)
    last_day = np.where(month == people["exit_month"][person], people["exit_day"][person], 28)
    last_day = np.maximum(first_day, last_day)
    day = rng.integers(first_day, last_day + 1)
    admission = month_start + (day - 1).astype("timedelta64[D]")
    spell_age = age[person, month]
    if kind == "emergency":
        # Length of stay: a third same-day; otherwise geometric with a mean rising with age.
        mean_stay = 2.0 + 8.0 * np.clip((spell_age - 40) / 50, 0, 1)
        stay = np.where(rng.random(n) < 0.33, 0, rng.geometric(1 / mean_stay))
    else:
        stay = np.where(rng.random(n) < 0.75, 0, rng.geometric(1 / 3.0, size=n))
    shares = method_shares / method_shares.sum()
    diagnosis_p = diagnosis_shares / diagnosis_shares.sum()
    provider = _provider_code(practice)
    sequence = np.char.mod("%07d", np.arange(n))
    return pa.table(
        {
            "spell_id": np.char.add(f"{practice.practice_code}{_SPELL_PREFIX[kind]}", sequence),
            "nhs_number": people["nhs_number"][person],
            "gp_practice_code": np.full(n, practice.practice_code),
            "provider_code": pa.array([provider] * n, type=pa.string()),
            "admission_date": admission,
            "discharge_date": admission + stay.astype("timedelta64[D]"),
            "admission_method": rng.choice(methods, size=n, p=shares),
            "admission_source": np.full(n, "19"),  # usual place of residence
            # In-hospital deaths: about 3% of emergency spells, rising steeply with age; rare after elective care.
            "discharge_method": np.where(rng.random(n) < _death_in_hospital(kind, spell_age), "4", "1"),
            "primary_diagnosis": rng.choice(diagnoses, size=n, p=diagnosis_p),
            "age": spell_age.astype(np.int64),
            "sex": np.where(people["sex"][person] == 0, "1", "2"),
        }
    )


def _death_in_hospital(kind: str, age: np.ndarray) -> np.ndarray:
    if kind != "emergency":
        return np.full(len(age), 0.001)
    return np.asarray(np.clip(0.002 * np.exp(0.045 * age), 0, 0.25))


def _provider_code(practice: EconomyPractice) -> str | None:
    sites = {site.id: site for site in vanguard_sites()}
    for site_id in practice.site_ids:
        if sites[site_id].providers:
            return sites[site_id].providers[0]
    return None


def _truth_document(config: SynthConfig, truth: dict[tuple[str, str], list[int]]) -> dict[str, Any]:
    return {
        "seed": config.seed,
        "effects": [json.loads(effect.model_dump_json()) for effect in config.effects.effects],
        "generated_measures": sorted({measure for _, measure in truth}),
        "realised": [
            {
                "site": site_id,
                "measure": measure,
                "events_with_effect": with_effect,
                "events_without_effect": without_effect,
            }
            for (site_id, measure), (with_effect, without_effect) in sorted(truth.items())
        ],
    }
