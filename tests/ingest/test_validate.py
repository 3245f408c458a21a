from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from caremodels.ingest import nhs_number_valid, validate
from caremodels.synth.nhs_number import is_valid_nhs_number
from caremodels.warehouse.schema import SOURCE_TABLES

TODAY = dt.date(2026, 1, 1)


def _apc(**overrides: list[str]) -> pd.DataFrame:
    rows = {
        "spell_id": ["S1", "S2"],
        "nhs_number": ["9434765919", "9000000009"],
        "gp_practice_code": ["A81001", "A81002"],
        "provider_code": ["RXL", ""],
        "admission_date": ["2015-04-01", "2016-01-31"],
        "discharge_date": ["2015-04-03", "2016-01-31"],
        "admission_method": ["21", "2A"],
        "primary_diagnosis": ["J441", "R074"],
        "age": ["80", "45"],
        "sex": ["1", "2"],
    }
    rows.update(overrides)
    frame = pd.DataFrame(rows, dtype=str)
    frame.insert(0, "_row", range(2, len(frame) + 2))
    return frame


def _problems(frame: pd.DataFrame) -> list[tuple[int, str, str]]:
    outcome = validate(frame, SOURCE_TABLES["apc_spells"], today=TODAY)
    return sorted(outcome.problems.itertuples(index=False, name=None))


def test_good_rows_pass_typed() -> None:
    outcome = validate(_apc(), SOURCE_TABLES["apc_spells"], today=TODAY)
    assert outcome.problems.empty
    assert outcome.good["admission_date"].tolist() == [dt.date(2015, 4, 1), dt.date(2016, 1, 31)]
    assert outcome.good["age"].tolist() == [80, 45]
    assert outcome.good["provider_code"].isna().tolist() == [False, True]


def test_each_kind_of_bad_value_is_named() -> None:
    cases = {
        "nhs_number": (["9434765918", "9000000009"], "invalid NHS number (format or check digit)"),
        "admission_date": (["2015-02-30", "2016-01-31"], "not a date (YYYY-MM-DD)"),
        "admission_method": (["99", "2A"], "unknown admission method"),
        "gp_practice_code": (["81001", "A81002"], "not a GP practice ODS code (a letter and five digits)"),
        "age": (["eighty", "45"], "not a number (integer)"),
        "discharge_date": (["2015-03-01", "2016-01-31"], "discharge_date before admission_date"),
    }
    for field, (values, reason) in cases.items():
        assert _problems(_apc(**{field: values})) == [(2, field, reason)], field


def test_future_dates_missing_values_and_duplicates() -> None:
    assert _problems(
        _apc(admission_date=["2027-01-01", "2016-01-31"], discharge_date=["2027-01-02", "2016-01-31"])
    ) == [(2, "admission_date", "date in the future")]
    assert _problems(_apc(spell_id=["", "S2"])) == [(2, "spell_id", "missing value")]
    assert _problems(_apc(spell_id=["S1", "S1"])) == [(3, "spell_id", "duplicate of an earlier row")]


def test_replacement_characters_mean_wrong_encoding() -> None:
    assert _problems(_apc(primary_diagnosis=["J4\ufffd1", "R074"])) == [
        (2, "primary_diagnosis", "not valid UTF-8 text")
    ]


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_nhs_number_validator_agrees_with_the_reference_rule(first_nine: str) -> None:
    candidates = [first_nine + str(digit) for digit in range(10)]
    vectorised = nhs_number_valid(pd.Series(candidates)).tolist()
    assert vectorised == [is_valid_nhs_number(number) for number in candidates]
    # At most one check digit is right; none when the remainder would be 10.
    assert sum(vectorised) <= 1


@given(st.lists(st.text(max_size=12), max_size=30))
def test_nhs_number_validator_never_raises_and_rejects_non_digits(values: list[str]) -> None:
    result = nhs_number_valid(pd.Series(values, dtype="string"))
    for value, ok in zip(values, result, strict=True):
        if ok:
            assert len(value) == 10 and value.isdigit()
