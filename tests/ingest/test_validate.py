from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from caremodels.ingest import nhs_number_valid, validate
from caremodels.ingest.validate import is_nhs_number
from caremodels.reference import admission_methods
from caremodels.synth.nhs_number import is_valid_nhs_number
from caremodels.warehouse.schema import SOURCE_TABLES
from tests.ingest.sample_rows import valid_rows

TODAY = dt.date(2026, 1, 1)
# No date the validator accepts (years 1000-2999) is after this, so only the format is tested.
FAR_FUTURE = dt.date(2999, 12, 31)
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=14)


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
    assert vectorised == [is_nhs_number(number) for number in candidates]
    # At most one check digit is right; none when the remainder would be 10.
    assert sum(vectorised) <= 1


@given(st.lists(st.text(max_size=12), max_size=30))
def test_nhs_number_validator_never_raises_and_rejects_non_digits(values: list[str]) -> None:
    result = nhs_number_valid(pd.Series(values, dtype="string"))
    for value, ok in zip(values, result, strict=True):
        if ok:
            assert len(value) == 10 and value.isdigit()


def _first_problems(table: str, column: str, values: list[str]) -> list[str | None]:
    """The reason each value fails (None if it passes) when put in an otherwise valid row."""
    spec = SOURCE_TABLES[table]
    rows = valid_rows(spec, len(values))
    for row, value in zip(rows, values, strict=True):
        row[column] = value
    frame = pd.DataFrame(rows, dtype=object)
    frame.insert(0, "_row", range(1, len(frame) + 1))
    outcome = validate(frame, spec, today=FAR_FUTURE)
    found = {row: (field, reason) for row, field, reason in outcome.problems.itertuples(index=False)}
    assert all(field == column for field, _ in found.values())
    assert len(outcome.good) + len(found) == len(values)
    return [found[row][1] if row in found else None for row in range(1, len(values) + 1)]


def _shared(text: str) -> str | None:
    """The checks every text column has first: encoding, then presence."""
    if "\ufffd" in text:
        return "not valid UTF-8 text"
    if not text.strip(" "):
        return "missing value"
    return None


def _expected_date(text: str) -> str | None:
    value = text.strip(" ")
    if not re.fullmatch(r"[12][0-9]{3}-[0-9]{2}-[0-9]{2}", value):
        return "not a date (YYYY-MM-DD)"
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return "not a date (YYYY-MM-DD)"
    return None


DATES = st.one_of(
    st.dates(dt.date(1000, 1, 1), dt.date(2999, 12, 31)).map(dt.date.isoformat),
    st.builds(
        lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}",
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
    st.dates().map(lambda d: f" {d.isoformat()} "),
    TEXT,
)


@settings(max_examples=25, deadline=None)
@given(st.lists(DATES, min_size=1, max_size=40))
def test_date_validator_accepts_exactly_iso_calendar_dates(values: list[str]) -> None:
    expected = [_shared(value) or _expected_date(value) for value in values]
    assert _first_problems("conditions", "diagnosis_date", values) == expected


def _expected_timestamp(text: str) -> str | None:
    value = text.strip(" ")
    pattern = r"[12][0-9]{3}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?"
    if not re.fullmatch(pattern, value):
        return "not a date and time (ISO 8601)"
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return "not a date and time (ISO 8601)"
    return None


TIMESTAMPS = st.one_of(
    st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(2999, 12, 31)).map(lambda t: t.isoformat(sep=" ")),
    st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(2999, 12, 31)).map(
        lambda t: t.isoformat(timespec="minutes")
    ),
    st.builds(
        lambda h, m, s: f"2016-01-01 {h:02d}:{m:02d}:{s:02d}",
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    ),
    DATES,
)


@settings(max_examples=25, deadline=None)
@given(st.lists(TIMESTAMPS, min_size=1, max_size=40))
def test_timestamp_validator_accepts_exactly_iso_date_times(values: list[str]) -> None:
    # Arrival is checked before departure; departure is left valid and later than any arrival.
    expected = [_shared(value) or _expected_timestamp(value) for value in values]
    spec = SOURCE_TABLES["ae_attendances"]
    rows = valid_rows(spec, len(values))
    for row, value in zip(rows, values, strict=True):
        row["arrival_time"] = value
        row["departure_time"] = "2999-12-31 23:59:59"
    frame = pd.DataFrame(rows, dtype=object)
    frame.insert(0, "_row", range(1, len(frame) + 1))
    outcome = validate(frame, spec, today=FAR_FUTURE)
    found = {row: reason for row, _, reason in outcome.problems.itertuples(index=False)}
    assert [found.get(row) for row in range(1, len(values) + 1)] == expected


NUMBERS = st.one_of(
    st.integers(-5, 130).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(-200, 200, places=2).map(str),
    st.sampled_from(["1e2", "+7", "07", "80.0", "8O", "1,000", ".5", "5.", "-0", "1e999", "nan", "inf"]),
    TEXT,
)


def _expected_age(text: str) -> str | None:
    value = text.strip(" ")
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", value) or not math.isfinite(
        float(value)
    ):
        return "not a number (integer)"
    number = float(value)
    if number != math.trunc(number):
        return "not a whole number"
    if abs(number) >= 9.0e18:  # does not fit a 64-bit integer column
        return "not a number (integer)"
    if number < 0:
        return "below the minimum 0"
    if number > 120:
        return "above the maximum 120"
    return None


@settings(max_examples=25, deadline=None)
@given(st.lists(NUMBERS, min_size=1, max_size=40))
def test_number_validator_checks_type_wholeness_and_range(values: list[str]) -> None:
    expected = [_shared(value) or _expected_age(value) for value in values]
    assert _first_problems("apc_spells", "age", values) == expected


PRACTICE_CODES = st.one_of(
    st.from_regex(r"[A-Z][0-9]{5}", fullmatch=True), st.from_regex(r"[A-Za-z0-9]{4,7}", fullmatch=True), TEXT
)
PROVIDER_CODES = st.one_of(
    st.from_regex(r"[A-Z0-9]{3}([A-Z0-9]{2})?", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{2,6}", fullmatch=True),
    TEXT,
)


@settings(max_examples=25, deadline=None)
@given(st.lists(PRACTICE_CODES, min_size=1, max_size=40), st.lists(PROVIDER_CODES, min_size=1, max_size=40))
def test_ods_code_validators(practices: list[str], providers: list[str]) -> None:
    expected_practices = [
        _shared(value)
        or (
            None
            if re.fullmatch(r"[A-Z][0-9]{5}", value.strip(" "))
            else "not a GP practice ODS code (a letter and five digits)"
        )
        for value in practices
    ]
    assert _first_problems("apc_spells", "gp_practice_code", practices) == expected_practices
    # The provider is optional in APC: an empty value passes.
    expected_providers = [
        "not valid UTF-8 text"
        if "\ufffd" in value
        else None
        if not value.strip(" ") or re.fullmatch(r"[A-Z0-9]{3}([A-Z0-9]{2})?", value.strip(" "))
        else "not an NHS trust or site ODS code"
        for value in providers
    ]
    assert _first_problems("apc_spells", "provider_code", providers) == expected_providers


CODES = st.one_of(st.sampled_from([*admission_methods(), "2E", "99", "21 ", "2a", "1"]), TEXT)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(CODES, min_size=1, max_size=40),
    st.lists(st.one_of(st.sampled_from(["1", "2", "9", "0", "M"]), TEXT), min_size=1, max_size=40),
)
def test_code_validators(methods: list[str], sexes: list[str]) -> None:
    assert _first_problems("apc_spells", "admission_method", methods) == [
        _shared(value) or (None if value.strip(" ") in admission_methods() else "unknown admission method")
        for value in methods
    ]
    assert _first_problems("apc_spells", "sex", sexes) == [
        _shared(value) or (None if value.strip(" ") in ("1", "2", "9") else "not one of the codes for sex")
        for value in sexes
    ]


NHS_CANDIDATES = st.one_of(
    st.from_regex(r"[0-9]{10}", fullmatch=True),
    st.from_regex(r"[0-9]{3} [0-9]{3} [0-9]{4}", fullmatch=True),
    st.from_regex(r"[0-9]{9,11}", fullmatch=True),
    TEXT,
)


@settings(max_examples=25, deadline=None)
@given(st.lists(NHS_CANDIDATES, min_size=1, max_size=40, unique=True))
def test_sql_nhs_number_check_agrees_with_the_reference_rule(values: list[str]) -> None:
    def expected(value: str) -> str | None:
        shared = _shared(value)
        if shared:
            return shared
        digits = value.strip(" ").replace(" ", "")
        return None if is_valid_nhs_number(digits) else "invalid NHS number (format or check digit)"

    # Two spellings of one number would be duplicates of each other; keep one of each.
    normalised = {value.strip(" ").replace(" ", "") for value in values}
    if len(normalised) != len(values):
        return
    assert _first_problems("apc_spells", "nhs_number", values) == [expected(value) for value in values]
