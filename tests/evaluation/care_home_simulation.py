"""A small person-level world of care home residents with a planted effect and known confounding,
written straight into a warehouse, for testing matched controls without the full generator.

Treated residents live in homes aligned with practices of Connecting Care Wakefield; comparison
residents in homes aligned with practices in no vanguard site. Treated residents are frailer, older
and more often in nursing homes, and those traits raise admissions, so an unmatched comparison
overstates their admissions. The planted rate ratio applies to treated residents' admissions while
resident from ``effect_start``; optionally the treated homes also have a transient high year
(``transient_excess`` in 2015/16) that no care model caused.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from caremodels.reference import practices, site_memberships
from caremodels.warehouse import Warehouse
from caremodels.warehouse.schema import warehouse_columns

START = dt.date(2015, 4, 1)
END = dt.date(2018, 3, 31)
FIRST_MOVE_IN = dt.date(2012, 10, 1)
TRANSIENT_YEAR = (dt.date(2015, 4, 1), dt.date(2016, 3, 31))
TREATED_SITE = "connecting-care-wakefield"


def practices_for_simulation() -> tuple[list[str], list[str]]:
    """Four Wakefield practices, and twelve practices in no vanguard site, each in a different CCG."""
    memberships = site_memberships()
    in_any_site = {code for membership in memberships.values() for code in membership.practice_codes}
    treated = sorted(memberships[TREATED_SITE].practice_codes)[:4]
    by_ccg: dict[str, str] = {}
    for practice in sorted(practices(), key=lambda p: p.practice_code):
        if practice.practice_code not in in_any_site:
            by_ccg.setdefault(practice.ccg_code, practice.practice_code)
    return treated, sorted(by_ccg.values())[:12]


def simulate_care_homes(
    path: Path,
    rng: np.random.Generator,
    *,
    rate_ratio: float,
    effect_start: dt.date = START,
    transient_excess: float = 0.0,
    practice_spread: float = 0.0,
    treated_people: int = 600,
    comparison_people: int = 2400,
) -> None:
    treated_codes, control_codes = practices_for_simulation()
    count = treated_people + comparison_people
    treated = np.arange(count) < treated_people
    # Confounding: treated residents are older, frailer and more often in nursing homes.
    age = rng.normal(84 + 2 * treated, 6).clip(65, 104)
    female = rng.random(count) < 0.7
    nursing = rng.random(count) < np.where(treated, 0.55, 0.35)
    frailty = rng.beta(4 + 2 * treated, 8).clip(0, 1)
    conditions = rng.poisson(2 + 4 * frailty)
    person_rate = (
        0.9
        * np.exp(0.03 * (age - 85) + 2.0 * (frailty - 0.33) + 0.08 * conditions + 0.3 * nursing)
        * rng.gamma(2.0, 0.5, size=count)
    )
    # Moves into a home spread evenly from October 2012 to two months before the end of the data.
    span = (END - FIRST_MOVE_IN).days - 60
    move_in = np.datetime64(FIRST_MOVE_IN) + rng.integers(0, span, size=count).astype("timedelta64[D]")
    stay_days = rng.exponential(700, size=count).astype(int) + 1
    leave = move_in + stay_days.astype("timedelta64[D]")
    died = rng.random(count) < 0.7
    practice = np.where(
        treated,
        np.array(treated_codes)[rng.integers(0, len(treated_codes), size=count)],
        np.array(control_codes)[rng.integers(0, len(control_codes), size=count)],
    )
    # What a practice's residents share (its homes, its way of working): a log-normal level each.
    if practice_spread > 0:
        level = {
            code: float(np.exp(rng.normal(0, practice_spread))) for code in treated_codes + control_codes
        }
        person_rate = person_rate * np.array([level[code] for code in practice])
    # Ten treated homes and forty comparison homes (CQC location identifiers).
    home_number = np.where(
        treated, 1_000_000 + rng.integers(0, 10, size=count), 2_000_000 + rng.integers(0, 40, size=count)
    )
    home = np.array([f"1-{number}" for number in home_number])
    person_id = np.array([f"P{index:06d}" for index in range(count)])
    end_of_data = np.datetime64(END)
    residence_end = np.where(leave <= end_of_data, leave, np.datetime64("NaT"))
    registrations = pd.DataFrame(
        {
            "person_id": person_id,
            "practice_code": practice,
            "sex": np.where(female, "2", "1"),
            # The warehouse holds the month of birth (its 1st), not the date.
            "birth_month": (np.datetime64(START) - (age * 365.25).astype("timedelta64[D]"))
            .astype("datetime64[M]")
            .astype("datetime64[D]"),
            "registration_start": np.datetime64("2000-01-01"),
            "registration_end": np.where(died & (leave <= end_of_data), leave, np.datetime64("NaT")),
            "end_reason": np.where(died & (leave <= end_of_data), "death", None),
            "batch_id": "simulated",
        }
    )
    residence = pd.DataFrame(
        {
            "person_id": person_id,
            "care_home_id": home,
            "care_home_type": np.where(nursing, "nursing", "residential"),
            "practice_code": practice,
            "residence_start": move_in,
            "residence_end": residence_end,
            "batch_id": "simulated",
        }
    )
    spells = []
    day = np.timedelta64(1, "D")
    effect_from = np.datetime64(effect_start)
    transient_first, transient_last = (np.datetime64(value) for value in TRANSIENT_YEAR)
    for index in range(count):
        first = move_in[index] - 400 * day
        last = min(leave[index], end_of_data)
        days = int((last - first) / day)
        if days <= 0:
            continue
        # Admissions as a Poisson process; the effect thins them while resident after effect_start,
        # and in the transient year treated residents have extra ones.
        moments = (
            first + (rng.random(rng.poisson(person_rate[index] * days / 365.25)) * days).astype(int) * day
        )
        resident = moments >= move_in[index]
        effective = resident & (moments >= effect_from)
        keep = ~effective | ~treated[index] | (rng.random(len(moments)) < rate_ratio)
        moments = moments[keep]
        if treated[index] and transient_excess > 0:
            low = max(move_in[index], transient_first)
            high = min(last, transient_last)
            window = int((high - low) / day) + 1
            if window > 0:
                extra = rng.poisson(person_rate[index] * transient_excess * window / 365.25)
                moments = np.concatenate([moments, low + (rng.random(extra) * window).astype(int) * day])
        for moment in moments:
            spells.append((person_id[index], practice[index], moment, rng.integers(0, 12)))
    apc = pd.DataFrame(spells, columns=["person_id", "gp_practice_code", "admission_date", "stay"])
    apc["spell_id"] = [f"S{index:07d}" for index in range(len(apc))]
    apc["discharge_date"] = apc["admission_date"] + apc["stay"].astype("timedelta64[D]")
    apc["provider_code"] = "RXF"
    apc["admission_method"] = "21"
    apc["admission_source"] = "19"
    apc["discharge_method"] = "1"
    apc["primary_diagnosis"] = "J441"
    apc["age"] = 85
    apc["sex"] = "2"
    apc["batch_id"] = "simulated"
    condition_names = [
        "hypertension",
        "diabetes",
        "copd",
        "chd",
        "heart_failure",
        "stroke",
        "ckd",
        "dementia",
    ]
    condition_rows = [
        (person_id[index], name, np.datetime64("2010-01-01"))
        for index in range(count)
        for name in condition_names[: min(conditions[index], len(condition_names))]
    ]
    condition_frame = pd.DataFrame(condition_rows, columns=["person_id", "condition", "diagnosis_date"])
    condition_frame["batch_id"] = "simulated"
    frailty_frame = pd.DataFrame(
        {
            "person_id": person_id,
            "assessment_date": np.datetime64("2014-06-01"),
            "efi_score": frailty,
            "efi_category": "moderate",
            "batch_id": "simulated",
        }
    )
    with Warehouse(path) as warehouse, warehouse.transaction() as connection:
        for table, frame in (
            ("gp_registrations", registrations),
            ("care_home_residence", residence),
            ("apc_spells", apc),
            ("conditions", condition_frame),
            ("frailty_assessments", frailty_frame),
        ):
            columns = [name for name, _ in warehouse_columns(table)]
            connection.register("incoming", frame[columns])
            connection.execute(f"INSERT INTO {table} SELECT * FROM incoming")
            connection.unregister("incoming")
