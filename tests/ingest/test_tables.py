"""Every table of the canonical schema loads atomically and idempotently, with or without people."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from caremodels.ingest import Pseudonymiser, load_file
from caremodels.warehouse import Warehouse
from caremodels.warehouse.schema import LOADABLE_TABLES, SOURCE_TABLES
from caremodels.warehouse.store import META_TABLES
from tests.ingest.sample_rows import csv_text, valid_rows

TODAY = dt.date(2026, 1, 1)


def _counts(warehouse: Warehouse) -> dict[str, int]:
    return {
        table: warehouse.query(f"SELECT count(*) FROM {table}")[0][0]
        for table in [*LOADABLE_TABLES, *META_TABLES]
    }


@pytest.mark.parametrize("table", list(SOURCE_TABLES))
def test_each_table_loads_once_and_a_corrected_file_replaces_its_batch(
    table: str, tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    spec = SOURCE_TABLES[table]
    rows = valid_rows(spec, 4)
    # The last row misses a required value.
    required = next(
        column.name for column in spec.columns if not column.nullable and column.name != "nhs_number"
    )
    rows[-1][required] = ""
    source = tmp_path / f"{table}.csv"
    source.write_text(csv_text(spec, rows), encoding="utf-8")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        first = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        assert (first.status, first.rows_read, first.rows_loaded, first.rows_quarantined) == (
            "loaded",
            4,
            3,
            1,
        )
        assert warehouse.query("SELECT row_number, field, reason FROM quarantine") == [
            (5, required, "missing value")
        ]
        again = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        assert again.status == "unchanged"
        assert warehouse.query(f"SELECT count(*) FROM {table}")[0][0] == 3
        source.write_text(csv_text(spec, valid_rows(spec, 4)), encoding="utf-8")
        corrected = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        assert (corrected.status, corrected.rows_loaded, corrected.rows_quarantined) == ("replaced", 4, 0)
        counts = _counts(warehouse)
    assert counts[table] == 4
    assert (counts["ingest_batches"], counts["quarantine"]) == (1, 0)
    if spec.has_person:
        connection = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
        people = {row[0] for row in connection.execute(f"SELECT person_id FROM {table}").fetchall()}
        connection.close()
        assert people == {pseudonymiser.pseudonym(row["nhs_number"]) for row in valid_rows(spec, 4)}


@pytest.mark.parametrize("table", list(SOURCE_TABLES))
def test_a_load_that_fails_before_commit_leaves_every_table_as_it_was(
    table: str, tmp_path: Path, pseudonymiser: Pseudonymiser, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SOURCE_TABLES[table]
    source = tmp_path / f"{table}.csv"
    source.write_text(csv_text(spec, valid_rows(spec, 3)), encoding="utf-8")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        before = _counts(warehouse)
        original = Warehouse.transaction

        @contextlib.contextmanager
        def failing_transaction(self: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
            with original(self) as connection:
                yield connection
                # Everything is written, but the commit never comes.
                assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (3,)
                raise RuntimeError("power cut")

        monkeypatch.setattr(Warehouse, "transaction", failing_transaction)
        with pytest.raises(RuntimeError, match="power cut"):
            load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        monkeypatch.setattr(Warehouse, "transaction", original)
        assert _counts(warehouse) == before
