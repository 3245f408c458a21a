"""The embedded warehouse: one DuckDB file holding pseudonymised secondary-use tables.

Boundaries: the warehouse holds no NHS numbers (people appear as ``person_id`` pseudonyms), every
row carries the ``batch_id`` of the load that brought it, and ``ingest_batches`` and
``quarantine`` record provenance. Writes happen only inside ``Warehouse.transaction()``, so a
failed or killed load leaves the file as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from caremodels.errors import CaremodelsError
from caremodels.warehouse.schema import SOURCE_TABLES, warehouse_columns

__all__ = ["Warehouse"]

_META_TABLES = {
    "ingest_batches": [
        ("batch_id", "VARCHAR PRIMARY KEY"),
        ("source", "VARCHAR"),
        ("table_name", "VARCHAR"),
        ("content_hash", "VARCHAR"),
        ("rows_read", "BIGINT"),
        ("rows_loaded", "BIGINT"),
        ("rows_quarantined", "BIGINT"),
        ("rows_excluded_opt_out", "BIGINT"),
        ("loaded_at", "TIMESTAMP"),
        ("software_version", "VARCHAR"),
    ],
    "quarantine": [
        ("batch_id", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row_number", "BIGINT"),
        ("field", "VARCHAR"),
        ("reason", "VARCHAR"),
    ],
}


class Warehouse:
    """A DuckDB warehouse file. Use as a context manager, or call ``close()``."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise CaremodelsError(f"no warehouse at {self.path} (load one with: caremodels ingest)")
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise CaremodelsError(f"cannot open warehouse {self.path}: {error}") from error
        if not read_only:
            self._create_tables()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def _create_tables(self) -> None:
        with self.transaction() as connection:
            for table in SOURCE_TABLES:
                columns = ", ".join(f"{name} {kind}" for name, kind in warehouse_columns(table))
                connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            for table, column_list in _META_TABLES.items():
                columns = ", ".join(f"{name} {kind}" for name, kind in column_list)
                connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Everything inside commits together or not at all."""
        self.connection.execute("BEGIN TRANSACTION")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters or []).fetchall()

    def tables(self) -> list[str]:
        return [row[0] for row in self.query("SELECT table_name FROM information_schema.tables ORDER BY 1")]

    def status(self) -> dict[str, Any]:
        """Row counts per table, distinct people, batches and quarantine counts by reason."""
        present = set(self.tables())
        tables = {
            table: self.query(f"SELECT count(*) FROM {table}")[0][0]
            for table in SOURCE_TABLES
            if table in present
        }
        people_sql = " UNION ".join(
            f"SELECT person_id FROM {table}"
            for table, spec in SOURCE_TABLES.items()
            if table in present and spec.has_person
        )
        people = (
            self.query(f"SELECT count(DISTINCT person_id) FROM ({people_sql})")[0][0] if people_sql else 0
        )
        batches = (
            [
                dict(zip([c for c, _ in _META_TABLES["ingest_batches"]], row, strict=True))
                for row in self.query("SELECT * FROM ingest_batches ORDER BY loaded_at, batch_id")
            ]
            if "ingest_batches" in present
            else []
        )
        quarantine = (
            {
                reason: count
                for reason, count in self.query(
                    "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC, 1"
                )
            }
            if "quarantine" in present
            else {}
        )
        for batch in batches:
            batch["loaded_at"] = batch["loaded_at"].isoformat(timespec="seconds")
        return {
            "warehouse": str(self.path),
            "tables": tables,
            "people": people,
            "batches": batches,
            "quarantine_by_reason": quarantine,
        }
