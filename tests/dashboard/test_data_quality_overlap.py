"""The data-quality page shows the batch overlap that `caremodels warehouse status` reports, from
the same function (``Warehouse.status``)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from caremodels.cli import cli
from caremodels.dashboard.figures import DashboardFigures, data_quality_response
from caremodels.indicators.disclosure import round_count
from caremodels.warehouse import Warehouse

DUPLICATED = 12


def test_no_overlap_is_said_so(client: TestClient, dashboard_warehouse: Path) -> None:
    with Warehouse(dashboard_warehouse, read_only=True) as store:
        overlap = store.status()["overlap_by_table"]
    quality = client.get("/api/data-quality").json()
    assert {row["table"]: row["rows"] for row in quality["overlap_by_table"]} == overlap
    assert set(overlap.values()) == {0}
    page = client.get("/data-quality").text
    assert 'id="overlap-none"' in page and "no key is held by two batches" in page
    assert 'id="overlap-warning"' not in page


def test_rows_held_by_two_batches_are_shown(
    client: TestClient,
    figures: DashboardFigures,
    dashboard_warehouse: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rows that came in around ingest (ingest itself refuses them): a copy of 12 residences under
    # another batch id.
    copy = tmp_path / "overlapping.duckdb"
    shutil.copyfile(dashboard_warehouse, copy)
    with Warehouse(copy) as store:
        store.connection.execute(
            "INSERT INTO care_home_residence SELECT * REPLACE ('copied-batch' AS batch_id) "
            f"FROM care_home_residence LIMIT {DUPLICATED}"
        )
        status = store.status()
    assert status["overlap_by_table"]["care_home_residence"] == 2 * DUPLICATED
    printed = CliRunner().invoke(cli, ["warehouse", "status", "--warehouse", str(copy)]).output
    assert f"Overlap: {2 * DUPLICATED:,} row(s) of care_home_residence" in printed
    quality = data_quality_response(dataclasses.replace(figures.snapshot, status=status))
    shown = {row.table: row.rows for row in quality.overlap_by_table}
    assert shown["care_home_residence"] == round_count(2 * DUPLICATED) == 25
    monkeypatch.setattr(figures, "_data_quality", quality)
    page = client.get("/data-quality?overlap").text  # a query of its own: not the cached page
    assert 'id="overlap-warning"' in page and "care_home_residence" in page
    assert "25 rows share their key with a row of another batch" in page
