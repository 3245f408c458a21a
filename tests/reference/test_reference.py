from __future__ import annotations

import collections
import itertools
from pathlib import Path

import pytest

from caremodels import reference
from caremodels.errors import ReferenceDataError


def test_every_reference_record_loads() -> None:
    assert [model.code for model in reference.care_model_types()] == [
        "MCP",
        "PACS",
        "EHCH",
        "UEC",
        "ACC",
        "PCH",
    ]
    assert len(reference.vanguard_sites()) == 50
    assert [enabler.number for enabler in reference.enablers()] == list(range(1, 9))
    elements = reference.ehch_framework()
    assert [element.number for element in elements] == list(range(1, 8))
    assert all(element.sub_elements for element in elements)
    assert {standard.code: standard.threshold for standard in reference.operational_standards()} == {
        "ae_4_hour": 0.95,
        "rtt_18_weeks": 0.92,
        "diagnostics_6_weeks": 0.99,
        "cancer_62_days": 0.85,
    }
    assert len(reference.practices()) == 6658
    assert sum(band.weight for band in reference.european_standard_population()) == 100_000
    assert reference.disclosure_control().model_dump() == {
        "suppress_from": 1,
        "suppress_to": 7,
        "round_to": 5,
    }
    assert reference.programme_constants().funding_condition_2017 == {"PACS": 3.0, "MCP": 1.0}


def test_sites_by_care_model_type() -> None:
    counts = collections.Counter(site.care_model for site in reference.vanguard_sites())
    assert counts == {"MCP": 14, "PACS": 9, "EHCH": 6, "UEC": 8, "ACC": 13}


def test_site_selection_dates_match_their_care_model() -> None:
    selected = {model.code: model.selected for model in reference.care_model_types()}
    for site in reference.vanguard_sites():
        assert site.selected == selected[site.care_model], site.id


def test_emergency_admission_methods_are_the_hes_list() -> None:
    assert reference.emergency_admission_methods() == {
        "21",
        "22",
        "23",
        "24",
        "25",
        "2A",
        "2B",
        "2C",
        "2D",
        "28",
    }


def test_esp2013_bands_are_contiguous() -> None:
    bands = reference.european_standard_population()
    assert bands[0].age_from == 0 and bands[-1].age_to is None
    for earlier, later in itertools.pairwise(bands):
        assert earlier.age_to is not None and later.age_from == earlier.age_to + 1


def test_population_based_sites_have_practices_and_acc_sites_have_providers() -> None:
    memberships = reference.site_memberships()
    for site in reference.vanguard_sites():
        if site.population_basis == "provider":
            assert site.providers, site.id
        else:
            assert memberships[site.id].practice_codes, site.id


def test_find_site_by_id_name_or_short_name() -> None:
    assert reference.find_site("fylde-coast").short_name == "Fylde Coast"
    assert reference.find_site("fylde coast").id == "fylde-coast"
    with pytest.raises(ReferenceDataError, match="no vanguard site"):
        reference.find_site("Atlantis")


def test_user_membership_file_replaces_listed_sites_only(tmp_path: Path) -> None:
    built_in = reference.site_memberships()
    membership = tmp_path / "sites.csv"
    some_practices = sorted(built_in["dudley"].practice_codes)[:2]
    membership.write_text(
        "site,practice_code\n" + "".join(f"Fylde Coast,{code}\n" for code in some_practices)
    )
    replaced = reference.site_memberships(membership)
    assert replaced["fylde-coast"].practice_codes == tuple(some_practices)
    assert replaced["fylde-coast"].source == "user file"
    assert replaced["dudley"] == built_in["dudley"]


def test_bad_membership_row_names_file_row_and_field(tmp_path: Path) -> None:
    membership = tmp_path / "sites.csv"
    membership.write_text("site,practice_code\nFylde Coast,A81001\nFylde Coast,NOTCODE\n")
    with pytest.raises(ReferenceDataError) as raised:
        reference.site_memberships(membership)
    message = str(raised.value)
    assert "sites.csv" in message and "row 3" in message and "field practice_code" in message
