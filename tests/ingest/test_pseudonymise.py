"""Pseudonyms: keyed, consistent, and equal to the standard HMAC-SHA256 however they are computed."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from caremodels.ingest import Pseudonymiser, derive_project_key

VALUES = st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), max_size=20)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=16, max_size=130), VALUES)
def test_pseudonyms_equal_the_standard_hmac_sha256(key: bytes, values: list[str]) -> None:
    # Keys longer than the 64-byte block are hashed first (RFC 2104): both lengths are drawn.
    pseudonymiser = Pseudonymiser(key)
    expected = {value: hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for value in values}
    table = pseudonymiser.pseudonym_table(values)
    assert dict(zip(table["value"].to_pylist(), table["person_id"].to_pylist(), strict=True)) == expected
    assert table.num_rows == len(set(values))
    ascii_values = [value for value in values if value.isascii()]
    assert [pseudonymiser.pseudonym(value) for value in ascii_values] == [
        expected[value] for value in ascii_values
    ]


def test_identifier_pseudonyms_are_keyed_and_never_equal_an_nhs_number_pseudonym() -> None:
    pseudonymiser = Pseudonymiser(b"k" * 32)
    local = pseudonymiser.identifier_pseudonym("https://trust.example/mrn", "9434765919")
    assert local != pseudonymiser.pseudonym("9434765919")
    assert local == hmac.new(b"k" * 32, b"https://trust.example/mrn|9434765919", hashlib.sha256).hexdigest()
    assert local != Pseudonymiser(b"j" * 32).identifier_pseudonym("https://trust.example/mrn", "9434765919")


def test_project_keys_give_unlinkable_pseudonyms() -> None:
    master = b"m" * 32
    one = Pseudonymiser(derive_project_key(master, "fylde-coast")).pseudonym("9434765919")
    other = Pseudonymiser(derive_project_key(master, "wakefield")).pseudonym("9434765919")
    assert one != other
    assert one == Pseudonymiser(derive_project_key(master, "fylde-coast")).pseudonym("9434765919")
