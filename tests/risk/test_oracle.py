"""The synthetic economy's oracle: the expected counts the generator drew from, in a file that
ingest never picks up."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from caremodels.cli.ingest_command import _expand
from caremodels.errors import DataError
from caremodels.ingest.load import detect_table
from caremodels.synth import SynthResult
from caremodels.synth.oracle import ORACLE_FILE, ORACLE_FOLDER


def test_oracle_is_written_in_its_own_folder_and_never_ingested(tiny_economy: SynthResult) -> None:
    assert tiny_economy.oracle == tiny_economy.out_dir / ORACLE_FOLDER / ORACLE_FILE
    assert tiny_economy.oracle.exists()
    tabular, fhir = _expand((tiny_economy.out_dir,))
    assert all(
        ORACLE_FOLDER not in path.parts and "expected_events" not in path.name for path in tabular + fhir
    )
    # Even named directly, its name is no source table's.
    with pytest.raises(DataError, match="cannot tell which table"):
        detect_table(tiny_economy.oracle)


def test_oracle_expectations_match_the_admissions_drawn_from_them(tiny_economy: SynthResult) -> None:
    """Summed over a year's people, the expected admissions are the Poisson mean of the emergency
    admissions the generator drew (admissions ending in death are drawn from mortality instead)."""
    oracle = pq.read_table(tiny_economy.oracle)
    assert oracle.column("expected_emergency_admissions").to_numpy().min() >= 0
    apc = Path(tiny_economy.files["apc_spells"])
    drawn, expected = duckdb.sql(
        f"""
        SELECT
          (SELECT count(*) FROM '{apc}' WHERE admission_method LIKE '2%' AND discharge_method <> '4'
             AND admission_date BETWEEN DATE '2017-04-01' AND DATE '2019-03-31'),
          (SELECT sum(expected_emergency_admissions) FROM oracle WHERE financial_year IN (2017, 2018))
        """
    ).fetchone()  # type: ignore[misc]
    # Poisson noise on ~6,500 admissions is about 1.2%; 5% also allows the thinning by planted effects
    # being applied per event rather than per month.
    assert abs(drawn - expected) / expected < 0.05
    # Every registered person has a row each year, keyed by an NHS number the warehouse never holds.
    people = pq.read_table(tiny_economy.files["gp_registrations"]).num_rows
    assert len(set(oracle.column("nhs_number").to_pylist())) == people
