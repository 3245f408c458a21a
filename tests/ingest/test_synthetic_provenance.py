"""The warehouse records which batches came from caremodels' synthetic generator, so that reports
and pages can say when their figures rest on synthetic data."""

from __future__ import annotations

import shutil
from pathlib import Path

from caremodels.ingest import Pseudonymiser, load_file
from caremodels.ingest.load import synthetic_file
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse


def test_generated_files_are_recorded_as_synthetic_and_others_are_not(
    tmp_path: Path, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> None:
    generated = tiny_economy.files["gp_registrations"]
    assert synthetic_file(generated)
    # The same rows away from the generator's manifest are not taken for synthetic data.
    elsewhere = tmp_path / "from_a_gp_system" / generated.name
    elsewhere.parent.mkdir()
    shutil.copy(generated, elsewhere)
    assert not synthetic_file(elsewhere)

    with Warehouse(tmp_path / "copied.duckdb") as warehouse:
        load_file(warehouse, elsewhere, pseudonymiser=pseudonymiser)
        assert warehouse.synthetic_sources() == []
    with Warehouse(tmp_path / "generated.duckdb") as warehouse:
        load_file(warehouse, generated, pseudonymiser=pseudonymiser)
        assert warehouse.synthetic_sources() == [generated.name]
