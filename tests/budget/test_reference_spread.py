"""The shipped money-and-spread reference data: weighted populations, budget scopes, ICS waves."""

from __future__ import annotations

import csv

import pytest

from caremodels.errors import ReferenceDataError
from caremodels.reference.spread import (
    NEED_COMPONENTS,
    budget_scope,
    budget_scopes,
    integrated_care_systems,
    system_practices,
    weighted_populations,
)
from tests.conftest import shared_data


def test_weighted_populations_sum_to_the_registered_total_per_component() -> None:
    records = weighted_populations().values()
    total = sum(record.registered_population for record in records)
    # 62,154,630 registered in NHS England's file; four decimals keep every sum to a few people.
    assert total == pytest.approx(62_154_630.3, abs=1)
    for component in NEED_COMPONENTS:
        assert sum(record.weighted(component) for record in records) == pytest.approx(total, abs=1)


def test_weighted_populations_are_the_source_rows() -> None:
    with shared_data("practice_weighted_populations_2024-25.csv").open(
        newline="", encoding="utf-8"
    ) as handle:
        source = {row["Practice_Code"]: row for row in csv.DictReader(handle)}
    shipped = weighted_populations()
    assert set(shipped) == set(source)
    for code in sorted(source)[::500]:
        assert shipped[code].general_and_acute == pytest.approx(float(source[code]["G&A WP"]), abs=5e-5)
        assert shipped[code].icb_code == source[code]["ICS22"]


def test_budget_scopes_are_mcp_and_pacs() -> None:
    assert set(budget_scopes()) == {"MCP", "PACS"}
    assert set(budget_scope("PACS").components) == set(budget_scope("MCP").components) | {"general_and_acute"}
    with pytest.raises(ReferenceDataError, match="no population budget scope"):
        budget_scope("UEC")


def test_every_system_has_practices_and_a_wave() -> None:
    systems = integrated_care_systems()
    first = [system for system in systems if system.designated.year == 2017]
    assert len(first) == 10  # the eight ACSs with Greater Manchester and Surrey Heartlands
    for system in systems:
        assert system_practices(system), system.id
    waves = {system.wave for system in systems}
    assert len(waves) == 4
