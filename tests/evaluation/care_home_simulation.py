"""A small person-level world of care home residents with a planted effect and known confounding,
written straight into a warehouse, for testing matched controls without the full generator.

Treated residents live in homes aligned with practices of Connecting Care Wakefield; comparison
residents in homes aligned with practices outside every EHCH site. Treated residents are frailer,
older and more often in nursing homes, and those traits raise admissions, so an unmatched comparison
overstates their admissions; the planted rate ratio applies to their admissions after the start.
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
END = dt.date(2017, 3, 31)
TREATED_SITE = "connecting-care-wakefield"


def practices_for_simulation() -> tuple[list[str], list[str]]:
    """Four Wakefield practices, and twelve practices in no vanguard site."""
    memberships = site_memberships()
    in_any_site = {code for membership in memberships.values() for code in membership.practice_codes}
    treated = sorted(memberships[TREATED_SITE].practice_codes)[:4]
    controls = sorted(p.practice_code for p in practices() if p.practice_code not in in_any_site)
    return treated, controls[:12]


def simulate_care_homes(
    path: Path,
    rng: np.random.Generator,
    *,
    rate_ratio: float,
    treated_people: int = 400,
    comparison_people: int = 1600,
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
    # Half were resident before the start; the rest move in during follow-up.
    move_in = np.where(
        rng.random(count) < 0.5,
        np.datetime64(START) - rng.integers(30, 900, size=count).astype("timedelta64[D]"),
        np.datetime64(START) + rng.integers(0, 600, size=count).astype("timedelta64[D]"),
    )
    stay_days = rng.exponential(700, size=count).astype(int) + 1
    leave = move_in + stay_days.astype("timedelta64[D]")
    died = rng.random(count) < 0.7
    practice = np.where(
        treated,
        np.array(treated_codes)[rng.integers(0, len(treated_codes), size=count)],
        np.array(control_codes)[rng.integers(0, len(control_codes), size=count)],
    )
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
            "date_of_birth": np.datetime64(START) - (age * 365.25).astype("timedelta64[D]"),
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
    for index in range(count):
        first = move_in[index] - 400 * day
        last = min(leave[index], end_of_data)
        days = int((last - first) / day)
        if days <= 0:
            continue
        # Admissions as a Poisson process; the effect applies while resident after the start.
        expected_before = person_rate[index] * days / 365.25
        moments = first + (rng.random(rng.poisson(expected_before)) * days).astype(int) * day
        effective = (moments >= np.datetime64(START)) & (moments >= move_in[index])
        keep = ~effective | ~treated[index] | (rng.random(len(moments)) < rate_ratio)
        for moment in moments[keep]:
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
