"""The operational store: created and upgraded by the one migration chain, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from caremodels.care_record.store import StoreError, head_revision, init_store, metadata, open_store


def test_init_creates_the_schema_the_code_declares(backend: str, new_store_url: Callable[[str], str]) -> None:
    url = new_store_url(backend)
    before, after = init_store(url)
    assert (before, after) == (None, head_revision())
    store = open_store(url)
    try:
        with store.begin() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
        # The migration chain and the tables the code uses describe the same schema.
        assert [d for d in differences if d[0] != "remove_table" or d[1].name != "alembic_version"] == []
    finally:
        store.close()
    # Running init again on a current store changes nothing.
    assert init_store(url) == (head_revision(), head_revision())


def test_an_older_store_is_upgraded_never_silently_reused(
    backend: str, new_store_url: Callable[[str], str]
) -> None:
    url = new_store_url(backend)
    init_store(url, revision="0001")
    with pytest.raises(StoreError, match=r"revision 0001.*care-record init"):
        open_store(url)
    assert init_store(url) == ("0001", head_revision())
    store = open_store(url)
    try:
        with store.begin() as connection:
            assert sa.inspect(connection).has_table("break_glass")
    finally:
        store.close()


def test_a_store_never_initialised_is_refused(backend: str, new_store_url: Callable[[str], str]) -> None:
    with pytest.raises(StoreError, match="not a care record store"):
        open_store(new_store_url(backend))


def test_bad_urls_are_one_line_errors(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="not a SQLAlchemy URL"):
        open_store("not a url")
    with pytest.raises(StoreError, match="only SQLite and PostgreSQL"):
        open_store("mysql://x@localhost/db")
    with pytest.raises(StoreError, match="does not exist"):
        open_store("sqlite:////no/such/folder/store.db")
    with pytest.raises(
        StoreError, match=r"cannot open the store postgresql\S*://nobody:\*\*\*@127.0.0.1:1/x"
    ):
        open_store("postgresql://nobody:secret@127.0.0.1:1/x?connect_timeout=2")
