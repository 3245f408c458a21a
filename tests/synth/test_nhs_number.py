from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from caremodels.synth.nhs_number import (
    TEST_RANGE_CAPACITY,
    check_digit,
    is_valid_nhs_number,
    synthetic_nhs_numbers,
)


def test_known_numbers() -> None:
    # 943 476 5919 is the NHS Data Dictionary's worked example; 9000000009 a PDS sandbox patient.
    assert is_valid_nhs_number("9434765919")
    assert is_valid_nhs_number("9000000009")
    assert not is_valid_nhs_number("9434765918")
    assert not is_valid_nhs_number("943476591")
    assert check_digit("943476591") == 9


def test_test_range_is_used_when_it_fits_and_numbers_are_distinct() -> None:
    numbers = synthetic_nhs_numbers(np.arange(TEST_RANGE_CAPACITY), population=TEST_RANGE_CAPACITY, seed=3)
    assert len(set(numbers.tolist())) == TEST_RANGE_CAPACITY
    assert all(number.startswith("999") for number in numbers[::997])
    assert all(is_valid_nhs_number(number) for number in numbers[::97])


def test_larger_populations_use_the_wider_never_issued_range() -> None:
    population = TEST_RANGE_CAPACITY + 1
    numbers = synthetic_nhs_numbers(np.arange(0, population, 101), population=population, seed=3)
    assert all(number.startswith("9") for number in numbers)
    assert len(set(numbers.tolist())) == len(numbers)


@given(st.integers(min_value=1, max_value=5_000_000), st.integers(min_value=0, max_value=2**32), st.data())
def test_numbers_are_valid_and_deterministic(population: int, seed: int, data: st.DataObject) -> None:
    indices = np.array(data.draw(st.lists(st.integers(0, population - 1), min_size=1, max_size=20)))
    first = synthetic_nhs_numbers(indices, population=population, seed=seed)
    again = synthetic_nhs_numbers(indices, population=population, seed=seed)
    assert first.tolist() == again.tolist()
    assert all(is_valid_nhs_number(number) for number in first)
    # Same index, same number; different indices, different numbers.
    assert len(set(first.tolist())) == len(set(indices.tolist()))
