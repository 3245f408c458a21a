"""Fixtures for the indicator tests: the hand-built fixture warehouse, its practice groups, and one
engine of each kind. Spark starts once per test session (local mode, one core, no UI)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caremodels.indicators.ibis_engine import IbisEngine, duckdb_engine, spark_engine
from caremodels.indicators.reference_engine import ReferenceEngine
from tests.indicators.fixture import build_fixture_warehouse, write_groups_file

SPARK_TEST_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    # Tiny data: planning and code generation cost more than they save.
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixture_warehouse(tmp_path_factory.mktemp("indicator_fixture") / "fixture.duckdb")


@pytest.fixture(scope="session")
def groups_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_groups_file(tmp_path_factory.mktemp("indicator_groups") / "groups.csv")


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    builder: Any = SparkSession.builder.master("local[1]").appName("caremodels-tests")
    for key, value in SPARK_TEST_CONFIG.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def duckdb_fixture_engine(fixture_warehouse: Path) -> Iterator[IbisEngine]:
    engine = duckdb_engine(fixture_warehouse)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def spark_fixture_engine(fixture_warehouse: Path, spark_session: Any) -> Iterator[IbisEngine]:
    engine = spark_engine(fixture_warehouse, session=spark_session)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def dashboard_fixture_snapshot(fixture_warehouse: Path) -> Any:
    """What the dashboard reads from the fixture warehouse when it starts (not cached)."""
    from caremodels.dashboard.snapshot import read_snapshot

    return read_snapshot(fixture_warehouse, cache=False)


@pytest.fixture(scope="session")
def reference_fixture_engine(fixture_warehouse: Path) -> Iterator[ReferenceEngine]:
    engine = ReferenceEngine(fixture_warehouse)
    yield engine
    engine.close()
