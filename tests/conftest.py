"""Shared fixtures: one tiny synthetic economy and one warehouse loaded from it, made once per run."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import settings

from caremodels.ingest import Pseudonymiser, load_file
from caremodels.synth import SynthConfig, SynthResult, default_effects_path, generate, load_effects
from caremodels.warehouse import Warehouse

SHARED = Path(__file__).resolve().parents[2] / "shared"
TEST_KEY = b"caremodels-test-key-not-secret-0123456789"

# In CI the property tests draw the same examples every run, so that a red run can be reproduced and a
# green one cannot turn red by chance; run locally (no CI variable) they explore new examples each time.
# No timing deadline in CI: a shared machine under load made a property test fail as a deadline flake.
settings.register_profile("ci", derandomize=True, print_blob=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "default")


CATEGORIES = ("unit", "spec", "integration", "browser")
INTEGRATION_FIXTURES = {"tiny_economy", "tiny_warehouse"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test one category (``make test-unit``, ``test-spec``, ``test-integration``,
    ``test-browser``): an explicit marker wins; spec tests live in ``test_spec*.py``; a test that uses
    the shared synthetic economy, the dashboard, the command line or the demo is integration;
    the rest are unit tests."""
    for item in items:
        if any(item.get_closest_marker(category) for category in CATEGORIES):
            continue
        path = Path(str(item.fspath))
        folder = path.parent.name
        fixtures = set(getattr(item, "fixturenames", ()))
        if path.name.startswith("test_spec"):
            item.add_marker(pytest.mark.spec)
        elif fixtures & INTEGRATION_FIXTURES or folder in {"dashboard", "cli"} or path.name == "test_demo.py":
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


def shared_data(name: str) -> Path:
    """A file from ../shared/data; tests that need one fail clearly when the folder is missing."""
    path = SHARED / "data" / name
    if not path.exists():
        pytest.fail(f"this test reads {path}: run the tests with the shared folder beside the repository")
    return path


@pytest.fixture(scope="session")
def tiny_config() -> SynthConfig:
    return SynthConfig(scale="tiny", seed=7, effects=load_effects(default_effects_path()))


@pytest.fixture(scope="session")
def tiny_economy(tmp_path_factory: pytest.TempPathFactory, tiny_config: SynthConfig) -> SynthResult:
    return generate(tiny_config, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(TEST_KEY)


@pytest.fixture(scope="session")
def tiny_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    return load_tables(
        tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb",
        tiny_economy,
        ("gp_registrations", "apc_spells"),
        pseudonymiser,
    )


def load_tables(
    path: Path, economy: SynthResult, tables: tuple[str, ...], pseudonymiser: Pseudonymiser
) -> Path:
    """A warehouse at ``path`` loaded with some tables of a synthetic economy, as on a fixed day."""
    with Warehouse(path) as warehouse:
        for table in tables:
            load_file(warehouse, economy.files[table], pseudonymiser=pseudonymiser, today=dt.date(2026, 1, 1))
    return path
