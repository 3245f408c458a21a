from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from caremodels.cli import main
from caremodels.dashboard import create_app
from caremodels.indicators.output import OUTPUT_COLUMNS


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    # The care record is built by tests/test_demo.py; here only the secondary-use flow.
    assert main(["--quiet", "demo", "--no-serve", "--no-care-record", "--out", str(out)]) == 0
    return out


def test_demo_builds_loads_computes_and_evaluates(demo_dir: Path) -> None:
    assert (demo_dir / "warehouse.duckdb").exists()
    assert (demo_dir / "pseudonymisation.key").stat().st_mode & 0o077 == 0
    rows = (demo_dir / "results" / "emergency_admissions_practice_month.csv").read_text().splitlines()
    assert rows[0] == ",".join(OUTPUT_COLUMNS)
    assert len(rows) > 1000
    evaluation = json.loads((demo_dir / "results" / "evaluation.json").read_text())
    assert {result["target"]["care_model"] for result in evaluation} >= {"MCP", "PACS", "EHCH"}
    for result in evaluation:
        assert result["periods"] == {"baseline": "2014/15", "comparison": "2019/20"}
        assert result["estimate"]["ci_low"] < result["estimate"]["rate_ratio"] < result["estimate"]["ci_high"]


def test_no_published_count_is_between_1_and_7(demo_dir: Path) -> None:
    import pandas as pd

    published = pd.read_csv(demo_dir / "results" / "emergency_admissions_practice_month.csv")
    for column in ("numerator", "denominator"):
        values = published[column].dropna()
        assert not values.between(1, 7).any()
        assert (values % 5 == 0).all()
    assert published["suppressed"].any()
    assert published.loc[published["suppressed"], "value"].isna().all()


def test_dashboard_pages_and_api(demo_dir: Path) -> None:
    client = TestClient(create_app(demo_dir / "warehouse.duckdb"))
    page = client.get("/")
    assert page.status_code == 200
    assert "New care models: programme overview" in page.text
    assert "<svg" in page.text and 'role="img"' in page.text
    assert "/static/nhsuk-frontend.min.css" in page.text
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")  # no external resources
    assert client.get("/static/nhsuk-frontend.min.css").status_code == 200
    assert client.get("/assets/images/favicon.svg").status_code == 200
    overview = client.get("/api/overview").json()
    assert {c["result"]["target"]["care_model"] for c in overview["comparisons"]} >= {"MCP", "PACS", "EHCH"}
    sites = client.get("/api/sites").json()
    assert len(sites) == 50
    assert client.get("/api/coverage").json()[-1]["goal_share"] == 0.5
    practice_month = client.get("/api/indicators/emergency_admissions/practice-month").json()
    assert practice_month and all(
        row["numerator"] is None or row["numerator"] % 5 == 0 for row in practice_month
    )
    assert client.get("/api/indicators/nothing/practice-month").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_http_200_at_root(demo_dir: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caremodels",
            "--quiet",
            "serve",
            "--warehouse",
            str(demo_dir / "warehouse.duckdb"),
            "--port",
            str(port),
        ],
    )
    try:
        deadline = time.monotonic() + 180  # a liveness limit, not a speed test: CI machines can be loaded
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200
                    assert b"programme overview" in response.read()
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
