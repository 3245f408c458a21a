"""The catalogue: every definition loads, covers what the issue asks for, and bad definitions are
refused with the file and field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from caremodels.errors import ReferenceDataError
from caremodels.indicators import IndicatorDefinition, catalogue, find_indicator, load_definition
from caremodels.indicators.codelists import code_list, code_lists

DEFINITIONS = Path(__file__).resolve().parents[2] / "src" / "caremodels" / "indicators" / "definitions"

# The list, by the ids that answer each item.
REQUIRED = {
    "emergency_admissions",
    "emergency_bed_days",
    "non_elective_admissions",
    "acsc_chronic_emergency_admissions",
    "acsc_acute_emergency_admissions",
    "ae_attendances",
    "ae_type1_attendances",
    "ae_four_hour_performance",
    "first_outpatient_attendances",
    "elective_admissions",
    "ambulance_incidents",
    "ambulance_conveyances",
    "ambulance_conveyance_rate",
    "care_home_emergency_admissions",
    "care_home_ae_attendances",
    "care_home_emergency_bed_days",
    "prescribing_cost_per_patient",
    "gp_referrals",
    "advice_and_guidance_requests",
    "advice_and_guidance_referrals_avoided",
    "deaths_in_hospital",
    # and what an NHS analyst would expect
    "emergency_readmissions_30_days",
    "zero_length_stay_emergency_admissions",
    "ae_attendances_by_ambulance",
    "outpatient_follow_up_ratio",
    "emergency_admissions_standardised",
}


def test_every_definition_file_loads_and_the_catalogue_has_them_all() -> None:
    files = sorted(DEFINITIONS.glob("*.yaml"))
    loaded = [load_definition(path) for path in files]
    assert [definition.id for definition in loaded] == [path.stem for path in files]
    assert {definition.id for definition in catalogue()} == {path.stem for path in files}
    assert {definition.id for definition in catalogue()} >= REQUIRED


def test_every_definition_has_governance_and_a_consistent_statistic() -> None:
    for definition in catalogue():
        governance = definition.governance
        assert governance.source and governance.author and governance.checked_by
        if definition.statistic == "proportion":
            assert definition.multiplier in (1, 100)
            assert definition.interval_method == "wilson"
        if definition.standardisation == "esp2013":
            assert definition.interval_method == "dobson"


def test_the_json_schema_describes_definitions() -> None:
    schema = IndicatorDefinition.model_json_schema()
    assert {"numerator", "denominator", "governance", "standardisation"} <= set(schema["properties"])
    # The YAML key is "in" (a Python keyword, hence the alias).
    assert "in" in schema["$defs"]["Condition"]["properties"]
    json.dumps(schema)


@pytest.mark.parametrize("code", ["J440", "J46X", "I10X", "I500", "E105", "F019"])
def test_chronic_code_list_matches_by_prefix(code: str) -> None:
    assert code_list("acsc_chronic").matches(code)


@pytest.mark.parametrize("code", ["E119", "J189", "S720", "I21X", ""])
def test_chronic_code_list_leaves_others_out(code: str) -> None:
    assert not code_list("acsc_chronic").matches(code)


def test_code_lists_name_their_source() -> None:
    assert set(code_lists()) == {"acsc_chronic", "acsc_acute"}
    for listed in code_lists().values():
        assert "NHS Outcomes Framework" in listed.source
        assert listed.simplifications
    assert code_list("acsc_acute").matches("J181") and not code_list("acsc_acute").matches("J189")


def _base() -> dict[str, Any]:
    document = find_indicator("emergency_admissions").model_dump(mode="json", by_alias=True)
    document["id"] = "test_indicator"
    return document


def _refused(tmp_path: Path, document: dict[str, Any]) -> ReferenceDataError:
    path = tmp_path / "test_indicator.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ReferenceDataError) as caught:
        load_definition(path)
    assert str(path) in str(caught.value)
    return caught.value


def test_a_valid_variant_loads(tmp_path: Path) -> None:
    path = tmp_path / "test_indicator.yaml"
    path.write_text(yaml.safe_dump(_base()), encoding="utf-8")
    assert load_definition(path).id == "test_indicator"


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    document = _base()
    document["numerator"]["where"] = [{"field": "admission_method; DROP TABLE apc_spells", "in": ["21"]}]
    assert "no field" in _refused(tmp_path, document).reason


def test_unknown_code_is_refused(tmp_path: Path) -> None:
    document = _base()
    document["numerator"]["where"] = [{"field": "discharge_method", "in": ["7"]}]
    assert "no code" in _refused(tmp_path, document).reason


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    document = _base()
    document["numerator"]["sql"] = "SELECT 1"
    assert _refused(tmp_path, document).field == "numerator.sql"


def test_a_condition_needs_exactly_one_test(tmp_path: Path) -> None:
    document = _base()
    document["numerator"]["where"] = [{"field": "age", "min": 65, "in": ["1"]}]
    assert "exactly one" in _refused(tmp_path, document).reason


def test_min_and_max_need_a_number(tmp_path: Path) -> None:
    document = _base()
    document["numerator"]["where"] = [{"field": "sex", "min": 1}]
    assert "numeric" in _refused(tmp_path, document).reason


def test_a_proportion_must_count_a_subset_of_its_denominator(tmp_path: Path) -> None:
    document = find_indicator("ae_four_hour_performance").model_dump(mode="json", by_alias=True)
    document["id"] = "test_indicator"
    document["denominator"]["where"] = [{"field": "department_type", "in": ["1"]}]
    assert "repeat every condition" in _refused(tmp_path, document).reason


def test_standardisation_needs_age_and_sex(tmp_path: Path) -> None:
    document = find_indicator("gp_referrals").model_dump(mode="json", by_alias=True)
    document["id"] = "test_indicator"
    document["standardisation"] = "esp2013"
    assert "age and sex" in _refused(tmp_path, document).reason


def test_bed_days_only_for_admitted_patient_care(tmp_path: Path) -> None:
    document = find_indicator("ae_attendances").model_dump(mode="json", by_alias=True)
    document["id"] = "test_indicator"
    document["numerator"]["measure"] = "bed_days"
    assert "bed_days" in _refused(tmp_path, document).reason


def test_an_unknown_indicator_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ReferenceDataError, match=r"no indicator 'no_such_indicator'.*emergency_admissions"):
        find_indicator("no_such_indicator")
