"""What the dashboard reads from the warehouse: the cache beside it, and the time limit per indicator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from caremodels.dashboard import create_app
from caremodels.dashboard.snapshot import read_snapshot


@pytest.fixture
def warehouse_copy(dashboard_warehouse: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(dashboard_warehouse, copy)
    return copy


def test_snapshot_is_cached_beside_the_warehouse_and_read_back(warehouse_copy: Path) -> None:
    first = read_snapshot(warehouse_copy)
    assert first.cache_folder is not None and (first.cache_folder / "snapshot.json").is_file()
    assert first.cache_folder.parent == warehouse_copy.with_name("copy.duckdb.dashboard-cache")
    again = read_snapshot(warehouse_copy)
    assert again.cache_folder == first.cache_folder
    assert set(again.indicators) == set(first.indicators)
    for indicator_id, item in first.indicators.items():
        pd.testing.assert_frame_equal(
            again.indicators[indicator_id].counts.reset_index(drop=True),
            item.counts.reset_index(drop=True),
            check_dtype=False,
        )
    assert again.profile_date == first.profile_date
    assert again.status["batches"] == first.status["batches"]
    # A different limit on indicators is a different snapshot.
    other = read_snapshot(warehouse_copy, indicator_timeout=999)
    assert other.cache_folder != first.cache_folder
    assert not first.cache_folder.exists(), "only the current snapshot is kept"


def test_an_indicator_over_the_time_limit_is_left_out_and_the_dashboard_still_works(
    warehouse_copy: Path,
) -> None:
    app = create_app(warehouse_copy, cache=False, indicator_timeout=0.001)
    with TestClient(app) as client:
        indicators = client.get("/api/indicators").json()
        reasons = [item["reason_unavailable"] for item in indicators if not item["available"]]
        timed_out = [reason for reason in reasons if "longer than 0.001 seconds" in reason]
        # A query of a few milliseconds can finish between two interrupts; the others cannot.
        assert len(timed_out) > len(indicators) / 2
        assert all("longer than" in reason or "no rows" in reason for reason in reasons)
        for url in ("/", "/sites/fylde-coast", "/indicators", "/care-homes", "/data-quality"):
            assert client.get(url).status_code == 200, url


def test_serve_reports_a_missing_warehouse_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from caremodels.cli import main

    code = main(
        [
            "--quiet",
            "serve",
            "--warehouse",
            str(tmp_path / "missing.duckdb"),
            "--indicator-timeout",
            "5",
            "--no-cache",
        ]
    )
    assert code == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("caremodels: error: no warehouse at") and len(error.splitlines()) == 1
