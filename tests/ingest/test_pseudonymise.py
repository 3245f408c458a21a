"""Pseudonyms: keyed, consistent, and the SQL HMAC used on large files equals Python's."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from caremodels.ingest import Pseudonymiser, derive_project_key

VALUES = st.lists(
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=20),
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=16, max_size=130), VALUES)
def test_sql_pseudonyms_equal_python_hmac_sha256(key: bytes, values: list[str]) -> None:
    # Keys longer than the 64-byte block are hashed first (RFC 2104): both lengths are drawn.
    pseudonymiser = Pseudonymiser(key)
    connection = duckdb.connect()
    connection.register("incoming", pa.table({"value": pa.array(values, pa.string())}))
    computed = connection.execute(
        f"SELECT {pseudonymiser.sql_expression('value')} FROM incoming", pseudonymiser.sql_parameters()
    ).fetchall()
    connection.close()
    assert [row[0] for row in computed] == [
        hmac.new(key, value.encode(), hashlib.sha256).hexdigest() for value in values
    ]


def test_identifier_pseudonyms_are_keyed_and_never_equal_an_nhs_number_pseudonym() -> None:
    pseudonymiser = Pseudonymiser(b"k" * 32)
    local = pseudonymiser.identifier_pseudonym("https://trust.example/mrn", "9434765919")
    assert local != pseudonymiser.pseudonym("9434765919")
    assert local == Pseudonymiser(b"k" * 32).identifier_pseudonym("https://trust.example/mrn", "9434765919")
    assert local != Pseudonymiser(b"j" * 32).identifier_pseudonym("https://trust.example/mrn", "9434765919")


def test_project_keys_give_unlinkable_pseudonyms() -> None:
    master = b"m" * 32
    one = Pseudonymiser(derive_project_key(master, "fylde-coast")).pseudonym("9434765919")
    other = Pseudonymiser(derive_project_key(master, "wakefield")).pseudonym("9434765919")
    assert one != other
    assert one == Pseudonymiser(derive_project_key(master, "fylde-coast")).pseudonym("9434765919")
