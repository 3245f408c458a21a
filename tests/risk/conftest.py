"""A warehouse for the risk tests: the shared tiny economy's registrations, hospital spells, conditions,
eFI and care-home stays (the large outpatient and A&E tables are left out to keep the tests fast: the
features read them as no activity), and its oracle pseudonymised with the same key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from caremodels.ingest import Pseudonymiser
from caremodels.synth import SynthResult
from caremodels.synth.oracle import read_oracle
from tests.conftest import load_tables

RISK_TABLES = (
    "gp_registrations",
    "apc_spells",
    "conditions",
    "frailty_assessments",
    "care_home_residence",
)
VALIDATION_DATE = dt.date(2018, 3, 31)


@pytest.fixture(scope="session")
def risk_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    return load_tables(
        tmp_path_factory.mktemp("risk") / "warehouse.duckdb", tiny_economy, RISK_TABLES, pseudonymiser
    )


@pytest.fixture(scope="session")
def risk_oracle(tiny_economy: SynthResult, pseudonymiser: Pseudonymiser) -> pd.DataFrame:
    """The oracle for 2018/19, the year after the validation index date, keyed by pseudonym."""
    table = read_oracle(tiny_economy.out_dir, 2018).to_pandas()
    table["person_id"] = table.pop("nhs_number").map(pseudonymiser.pseudonym)
    return table
