"""NHS numbers: ten digits, the last a modulus-11 check digit.

Synthetic patients get numbers that can never be a real person's. NHS England reserves numbers
starting 999 for testing, but that range holds only 900,000 valid numbers (six free digits, and one
stem in eleven has no valid check digit). Runs with more people than that use the wider range of
numbers starting 9, which is never issued to patients either (NHS test systems use it, for example
9000000009). ``docs/synthetic-data.md`` says so.

Numbers are a deterministic function of a person's index in the run and the seed, so chunks of a
large run can be generated independently and never collide.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "TEST_RANGE_CAPACITY",
    "check_digit",
    "is_valid_nhs_number",
    "synthetic_nhs_numbers",
]

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# Each block of ten stems (same first eight digits) has at least nine valid numbers: the ninth digit
# has weight 2, which is invertible modulo 11, so at most one of its ten values leaves remainder 10.
_PER_BLOCK = 9
TEST_RANGE_CAPACITY = 10**5 * _PER_BLOCK  # numbers starting 999
_WIDE_RANGE_CAPACITY = 10**7 * _PER_BLOCK  # numbers starting 9


def check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no digit makes the number valid."""
    total = sum(int(digit) * weight for digit, weight in zip(first_nine, _WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def is_valid_nhs_number(value: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine."""
    if len(value) != 10 or not value.isdigit():
        return False
    return check_digit(value[:9]) == int(value[9])


def synthetic_nhs_numbers(indices: np.ndarray, *, population: int, seed: int) -> np.ndarray:
    """Valid synthetic NHS numbers for person indices ``0 <= index < population``, as strings.

    The same index, population and seed always give the same number; distinct indices give distinct
    numbers. Numbers start 999 when the population fits that range, otherwise 9.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if population > _WIDE_RANGE_CAPACITY:
        raise ValueError(f"at most {_WIDE_RANGE_CAPACITY:,} synthetic people can have NHS numbers")
    if len(indices) and (indices.min() < 0 or indices.max() >= population):
        raise ValueError("person index outside the population")
    narrow = population <= TEST_RANGE_CAPACITY
    blocks, base = (10**5, 999_000_000) if narrow else (10**7, 900_000_000)
    # An affine bijection of block numbers scatters consecutive people across the range.
    rng = np.random.default_rng(seed)
    multiplier = int(rng.integers(1, blocks))
    while math.gcd(multiplier, blocks) != 1:
        multiplier += 1
    offset = int(rng.integers(0, blocks))
    block = (indices // _PER_BLOCK * multiplier + offset) % blocks
    position = indices % _PER_BLOCK
    first_stem = base + block * 10
    # The first eight digits are shared by the block's ten stems; only the ninth (weight 2) varies.
    prefix_total = np.zeros(len(indices), dtype=np.int64)
    for place, weight in enumerate(_WEIGHTS[:8]):
        prefix_total += ((first_stem // 10 ** (8 - place)) % 10) * weight
    checks = 11 - (prefix_total[:, None] + 2 * np.arange(10)[None, :]) % 11
    checks = np.where(checks == 11, 0, checks)
    valid = checks != 10
    # The position-th valid stem in each block.
    rank = np.cumsum(valid, axis=1) - 1
    column = np.argmax((rank == position[:, None]) & valid, axis=1)
    rows = np.arange(len(indices))
    stems = first_stem + column
    digits = checks[rows, column]
    return np.char.add(stems.astype(str), digits.astype(str))
