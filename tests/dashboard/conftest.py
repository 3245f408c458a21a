"""Fixtures of the dashboard tests: a warehouse loaded with every table of the tiny synthetic
economy plus a file of bad rows (so that quarantine has something to show) and the published A&E
statistics, the app on it, and a
real uvicorn server on a free loopback port for the browser tests."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from caremodels.dashboard import create_app
from caremodels.dashboard.figures import DashboardFigures
from caremodels.dashboard.programme_sections import ProgrammeInputs, SurveyFiles
from caremodels.ingest import Pseudonymiser, load_file
from caremodels.ingest.aggregates import load_aggregate
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import shared_data

BAD_CARE_HOME_IDS = 10
BAD_PRACTICE_CODES = 9


def _bad_rows(source: Path, out: Path) -> Path:
    """Rows of a real residence file with broken care home ids and practice codes."""
    rows = pd.read_parquet(source).head(BAD_CARE_HOME_IDS + BAD_PRACTICE_CODES).copy()
    rows.iloc[:BAD_CARE_HOME_IDS, rows.columns.get_loc("care_home_id")] = "not-a-cqc-id"
    rows.iloc[BAD_CARE_HOME_IDS:, rows.columns.get_loc("practice_code")] = "XX"
    path = out / "care_home_residence.bad.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def dashboard_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    folder = tmp_path_factory.mktemp("dashboard")
    path = folder / "warehouse.duckdb"
    with Warehouse(path) as warehouse:
        for file in tiny_economy.files.values():
            load_file(warehouse, file, pseudonymiser=pseudonymiser, today=dt.date(2026, 1, 1))
        if "care_home_residence" in tiny_economy.files:
            bad = _bad_rows(tiny_economy.files["care_home_residence"], folder)
            load_file(warehouse, bad, pseudonymiser=pseudonymiser, today=dt.date(2026, 1, 1))
    # NHS England's published A&E statistics, for the pages of sites defined by their trusts (EMRAD).
    load_aggregate("ae", shared_data("ae_attendances_2016-2019.csv"), path)
    return path


ROOT = Path(__file__).resolve().parents[2]
SURVEY_DATA = ROOT / "tests" / "surveys" / "data"
PROGRAMME = ProgrammeInputs(
    budget_envelope=ROOT / "docs" / "examples" / "budget" / "national_envelope.yaml",
    surveys={
        "fylde-coast": SurveyFiles(
            questionnaire=SURVEY_DATA / "sunderland_questionnaire.json",
            responses=SURVEY_DATA / "sunderland_responses.ndjson",
        )
    },
)
"""The user's files behind the site pages' budget and staff survey sections: the documented example
envelope, and the Sunderland-style survey shown on Fylde Coast's page."""


@pytest.fixture(scope="session")
def dashboard_app(dashboard_warehouse: Path) -> FastAPI:
    return create_app(dashboard_warehouse, cache=False, programme=PROGRAMME)


@pytest.fixture(scope="session")
def figures(dashboard_app: FastAPI) -> DashboardFigures:
    found: DashboardFigures = dashboard_app.state.figures
    return found


@pytest.fixture(scope="session")
def client(dashboard_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(dashboard_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def evaluated(figures: DashboardFigures) -> DashboardFigures:
    """The figures once the background evaluations are done."""
    if not figures.wait_for_evaluations(600):
        pytest.fail("the controlled evaluations did not finish within 10 minutes")
    return figures


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(dashboard_app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on loopback, as a browser sees it."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(dashboard_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="dashboard-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
