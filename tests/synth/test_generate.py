from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from caremodels.reference import emergency_admission_methods
from caremodels.synth import SynthConfig, SynthResult, generate, is_valid_nhs_number


def _digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_same_seed_gives_byte_identical_files(
    tmp_path: Path, tiny_config: SynthConfig, tiny_economy: SynthResult
) -> None:
    again = generate(tiny_config, tmp_path / "again")
    assert _digests(again.out_dir) == _digests(tiny_economy.out_dir)


def test_another_seed_gives_different_files(
    tmp_path: Path, tiny_config: SynthConfig, tiny_economy: SynthResult
) -> None:
    other = generate(tiny_config.model_copy(update={"seed": tiny_config.seed + 1}), tmp_path / "other")
    assert (
        _digests(other.out_dir)["apc_spells.parquet"] != _digests(tiny_economy.out_dir)["apc_spells.parquet"]
    )


def test_tiny_economy_has_sites_and_rest_of_england(tiny_economy: SynthResult) -> None:
    registrations = pq.read_table(tiny_economy.files["gp_registrations"]).to_pandas()
    assert 10 <= tiny_economy.practices <= 30
    assert registrations["nhs_number"].is_unique
    assert all(is_valid_nhs_number(number) for number in registrations["nhs_number"].head(500))
    truth = json.loads((tiny_economy.out_dir / "truth.json").read_text())
    sites = {row["site"] for row in truth["realised"]}
    assert {"fylde-coast", "rest_of_england"} <= sites


def test_emergency_admission_rate_is_near_the_national_level(tiny_economy: SynthResult) -> None:
    spells = pq.read_table(tiny_economy.files["apc_spells"]).to_pandas()
    emergency = spells[spells["admission_method"].isin(emergency_admission_methods())]
    years = 7.0
    rate = len(emergency) / (tiny_economy.people * 0.92) / years * 1000  # about 8% of people are joiners
    # National level about 100 per 1,000 a year (HES 2014/15); the tiny economy is small and noisy.
    assert 70 < rate < 140


def test_planted_effect_is_in_truth_json(tiny_economy: SynthResult) -> None:
    truth = json.loads((tiny_economy.out_dir / "truth.json").read_text())
    fylde = next(
        row
        for row in truth["realised"]
        if row["site"] == "fylde-coast" and row["measure"] == "emergency_admissions"
    )
    rest = next(
        row
        for row in truth["realised"]
        if row["site"] == "rest_of_england" and row["measure"] == "emergency_admissions"
    )
    assert fylde["events_with_effect"] < fylde["events_without_effect"]
    assert rest["events_with_effect"] == rest["events_without_effect"]
