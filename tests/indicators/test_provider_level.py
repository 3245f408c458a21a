"""Trusts as a level: indicators counted by the provider on each event, the same on both engines,
and definitions that cannot be counted by provider say so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from caremodels.cli import main
from caremodels.indicators import find_indicator
from caremodels.indicators.compute import indicator_results
from caremodels.indicators.geography import provider_level_note
from caremodels.indicators.ibis_engine import duckdb_engine
from caremodels.indicators.reference_engine import ReferenceEngine
from caremodels.ingest import Pseudonymiser
from caremodels.synth import SynthResult
from caremodels.warehouse.store import Warehouse
from tests.conftest import load_tables


@pytest.fixture(scope="module")
def provider_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    return load_tables(
        tmp_path_factory.mktemp("providers") / "w.duckdb",
        tiny_economy,
        ("gp_registrations", "apc_spells", "ae_attendances"),
        pseudonymiser,
    )


def _by_provider(path: Path, indicator: str, engine: str) -> pd.DataFrame:
    counting = duckdb_engine(path) if engine == "duckdb" else ReferenceEngine(path)
    try:
        return indicator_results(
            counting, find_indicator(indicator), levels=["provider"], periods=["financial_year"]
        )
    finally:
        counting.close()


def test_four_hour_performance_by_trust_matches_the_events(provider_warehouse: Path) -> None:
    results = _by_provider(provider_warehouse, "ae_four_hour_performance", "duckdb")
    assert not results.empty
    assert set(results["level"]) == {"provider"}
    with Warehouse(provider_warehouse, read_only=True) as warehouse:
        codes = {row[0] for row in warehouse.query("SELECT DISTINCT provider_code FROM ae_attendances")}
    assert set(results["code"]) <= codes
    assert results["value"].between(0, 100).all()
    # Every A&E attendance of a complete year is counted at exactly one trust.
    assert results.groupby("period_start")["denominator"].sum().gt(0).all()


@pytest.mark.parametrize("indicator", ["ae_four_hour_performance", "emergency_admissions"])
def test_both_engines_agree_by_provider(provider_warehouse: Path, indicator: str) -> None:
    duck = _by_provider(provider_warehouse, indicator, "duckdb")
    reference = _by_provider(provider_warehouse, indicator, "reference")
    pd.testing.assert_frame_equal(duck, reference, check_dtype=False, check_exact=False, rtol=1e-9)


def test_a_rate_per_registered_patient_gives_counts_and_no_rate(provider_warehouse: Path) -> None:
    results = _by_provider(provider_warehouse, "emergency_admissions", "duckdb")
    assert (results["numerator"] > 0).all()
    assert results["value"].isna().all()
    assert provider_level_note(find_indicator("emergency_admissions")) == (
        True,
        "a trust has no registered population: provider rows give the numerator only, with no rate",
    )


def test_care_home_indicators_say_they_cannot_be_counted_by_provider() -> None:
    countable, note = provider_level_note(find_indicator("care_home_emergency_admissions"))
    assert not countable
    assert "home's practice" in note
    assert provider_level_note(find_indicator("prescribing_items"))[0] is False


def test_compute_command_writes_trust_rows_with_names(
    provider_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trusts.csv"
    code = main(
        [
            "indicators", "compute", "--warehouse", str(provider_warehouse), "--indicator", "ae_four_hour_performance",
            "--indicator", "care_home_emergency_admissions", "--level", "provider", "--period", "financial_year", "--out", str(out),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "care_home_emergency_admissions: not at provider level" in captured.err
    rows = pd.read_csv(out, dtype={"code": str})
    assert set(rows["level"]) == {"provider"}
    assert set(rows["indicator_id"]) == {"ae_four_hour_performance"}
    assert rows["name"].str.contains("NHS").any()
