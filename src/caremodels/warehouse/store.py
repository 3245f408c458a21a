"""The embedded warehouse: one DuckDB file holding pseudonymised secondary-use tables.

Boundaries: the warehouse holds no NHS numbers (people appear as ``person_id`` pseudonyms), every
row carries the ``batch_id`` of the load that brought it, and ``ingest_batches``, ``quarantine``
and ``ingest_notes`` record provenance. Writes happen only inside ``Warehouse.transaction()``, so a
failed or killed load leaves the file as it was. ``export_parquet`` writes every table as Parquet
for Apache Spark.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from caremodels import __version__
from caremodels.errors import CaremodelsError
from caremodels.warehouse.schema import AGGREGATE_TABLES, LOADABLE_TABLES, warehouse_columns

__all__ = ["META_TABLES", "KeyMismatchError", "Warehouse", "owner_only_files"]

META_TABLES: dict[str, list[tuple[str, str]]] = {
    "ingest_batches": [
        ("batch_id", "VARCHAR PRIMARY KEY"),
        ("source", "VARCHAR"),
        ("table_name", "VARCHAR"),  # the table loaded; for a FHIR file, every table it fed, comma-separated
        ("content_hash", "VARCHAR"),
        ("rows_read", "BIGINT"),
        ("rows_loaded", "BIGINT"),
        ("rows_quarantined", "BIGINT"),
        ("rows_excluded_opt_out", "BIGINT"),
        ("loaded_at", "TIMESTAMP"),
        ("software_version", "VARCHAR"),
        ("source_format", "VARCHAR"),
        ("rows_unmapped", "BIGINT"),
        ("mapping", "VARCHAR"),
        # Whether the file came from caremodels' synthetic generator (its manifest.json lists it):
        # reports and pages say so whenever the warehouse holds any such batch.
        ("synthetic", "BOOLEAN"),
    ],
    "quarantine": [
        ("batch_id", "VARCHAR"),
        ("file", "VARCHAR"),
        ("row_number", "BIGINT"),
        ("field", "VARCHAR"),
        ("reason", "VARCHAR"),
    ],
    # Counts by reason of records read but not loaded as rows (kind 'unmapped'), and of values the
    # loader had to supply because the source did not carry them (kind 'defaulted').
    "ingest_notes": [
        ("batch_id", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("resource_type", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("rows", "BIGINT"),
    ],
    # The fingerprint of the pseudonymisation key of the first load (never the key): a load under
    # another key would give the same people other pseudonyms, so it is refused.
    "pseudonymisation_key": [
        ("fingerprint", "VARCHAR"),
        ("recorded_at", "TIMESTAMP"),
    ],
}
# Columns added after the first release, with the value older batches get.
_ADDED_COLUMNS = {"source_format": "''", "rows_unmapped": "0", "mapping": "''", "synthetic": "false"}


def owner_only_files() -> None:
    """Make the process's umask at least 077: every file written from here on (the warehouse and its
    write-ahead log, exports, caches of counts) is readable by its owner only, folders likewise."""
    current = os.umask(0o077)
    os.umask(current | 0o077)


class KeyMismatchError(CaremodelsError):
    """A load under a pseudonymisation key other than the warehouse's."""


class Warehouse:
    """A DuckDB warehouse file. Use as a context manager, or call ``close()``.

    Opening one (read or write) makes the process's files owner-only (``owner_only_files``), and a
    warehouse opened for writing is made owner-only (mode 0600) if it was not.
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise CaremodelsError(f"no warehouse at {self.path} (load one with: caremodels ingest)")
        owner_only_files()
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise CaremodelsError(f"cannot open warehouse {self.path}: {error}") from error
        if not read_only:
            if os.name == "posix" and self.path.exists():
                self.path.chmod(0o600)
            self._create_tables()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def _create_tables(self) -> None:
        with self.transaction() as connection:
            for table in LOADABLE_TABLES:
                columns = ", ".join(f"{name} {kind}" for name, kind in warehouse_columns(table))
                connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            for table, column_list in META_TABLES.items():
                columns = ", ".join(f"{name} {kind}" for name, kind in column_list)
                connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
            for name, default in _ADDED_COLUMNS.items():
                kind = dict(META_TABLES["ingest_batches"])[name]
                connection.execute(
                    f"ALTER TABLE ingest_batches ADD COLUMN IF NOT EXISTS {name} {kind} DEFAULT {default}"
                )

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

    def key_fingerprint(self) -> str | None:
        """The fingerprint of the key the warehouse was first loaded with (None before any load)."""
        if "pseudonymisation_key" not in self.tables():
            return None
        rows = self.query("SELECT fingerprint FROM pseudonymisation_key ORDER BY recorded_at LIMIT 1")
        return str(rows[0][0]) if rows else None

    def claim_key(self, fingerprint: str) -> None:
        """Inside a load's transaction: record ``fingerprint`` on the first load, refuse any other key."""
        recorded = self.key_fingerprint()
        if recorded is None:
            self.connection.execute(
                "INSERT INTO pseudonymisation_key VALUES (?, ?)",
                [fingerprint, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
            )
        elif recorded != fingerprint:
            raise KeyMismatchError(
                f"warehouse {self.path} was loaded with another pseudonymisation key (fingerprint"
                f" {recorded}; this key's is {fingerprint}): the same people would get other pseudonyms"
                " and never link. Load with the warehouse's key (and --project), or into a new warehouse"
            )

    def synthetic_sources(self) -> list[str]:
        """The sources (file names) of loaded batches that came from caremodels' synthetic
        generator; empty when the warehouse holds none."""
        rows = self.query("SELECT DISTINCT source FROM ingest_batches WHERE synthetic ORDER BY source")
        return [str(row[0]) for row in rows]

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, parameters or []).fetchall()

    def tables(self) -> list[str]:
        return [row[0] for row in self.query("SELECT table_name FROM information_schema.tables ORDER BY 1")]

    def _columns(self, table: str) -> list[str]:
        return [
            row[0]
            for row in self.query(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table],
            )
        ]

    def status(self) -> dict[str, Any]:
        """Row counts and distinct people per table, batches, quarantine and unmapped counts by reason."""
        present = set(self.tables())
        tables: dict[str, int] = {}
        people_by_table: dict[str, int] = {}
        # Published aggregates (no people) are listed beside the source tables they sit with.
        for table, spec in {**LOADABLE_TABLES, **AGGREGATE_TABLES}.items():
            if table not in present:
                continue
            if spec.has_person:
                rows, people = self.query(f"SELECT count(*), count(DISTINCT person_id) FROM {table}")[0]
                people_by_table[table] = int(people)
            else:
                rows = self.query(f"SELECT count(*) FROM {table}")[0][0]
            tables[table] = int(rows)
        people_sql = " UNION ".join(
            f"SELECT person_id FROM {table}"
            for table, spec in LOADABLE_TABLES.items()
            if table in present and spec.has_person
        )
        people = (
            self.query(f"SELECT count(DISTINCT person_id) FROM ({people_sql})")[0][0] if people_sql else 0
        )
        batches: list[dict[str, Any]] = []
        if "ingest_batches" in present:
            names = self._columns("ingest_batches")
            for row in self.query("SELECT * FROM ingest_batches ORDER BY loaded_at, batch_id"):
                batch = dict(zip(names, row, strict=True))
                for name, default in _ADDED_COLUMNS.items():
                    batch.setdefault(name, 0 if default == "0" else "")
                batch["loaded_at"] = batch["loaded_at"].isoformat(timespec="seconds")
                batches.append(batch)
        quarantine = (
            {
                reason: int(count)
                for reason, count in self.query(
                    "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC, 1"
                )
            }
            if "quarantine" in present
            else {}
        )
        notes: dict[str, dict[str, int]] = {"unmapped": {}, "defaulted": {}}
        if "ingest_notes" in present:
            for kind, resource, reason, count in self.query(
                "SELECT kind, resource_type, reason, sum(rows) FROM ingest_notes "
                "GROUP BY ALL ORDER BY 4 DESC, 2, 3"
            ):
                notes.setdefault(kind, {})[f"{resource}: {reason}"] = int(count)
        return {
            "warehouse": str(self.path),
            "tables": tables,
            "overlap_by_table": self.overlap(present),
            "reidentification_risk": self.reidentification_risk(present),
            "people_by_table": people_by_table,
            "people": int(people),
            "batches": batches,
            "quarantine_by_reason": quarantine,
            "unmapped_by_reason": notes["unmapped"],
            "defaulted_by_reason": notes["defaulted"],
        }

    def reidentification_risk(self, present: set[str] | None = None) -> dict[str, Any]:
        """Share of registered people unique in the warehouse on quasi-identifiers an outsider may
        know: (birth month, sex, practice) and (birth year, sex, practice), each person counted once at
        their latest registration. The goal is in docs/ingest.md (Re-identification risk)."""
        present = set(self.tables()) if present is None else present
        empty = {
            "people": 0,
            "unique_on_birth_month_sex_practice": 0.0,
            "unique_on_birth_year_sex_practice": 0.0,
        }
        if "gp_registrations" not in present:
            return empty
        people, by_month, by_year = self.query(
            """
            WITH people AS (
                SELECT person_id, practice_code, sex, birth_month, year(birth_month) AS birth_year
                FROM gp_registrations
                QUALIFY row_number() OVER (
                    PARTITION BY person_id ORDER BY registration_start DESC, practice_code) = 1
            ),
            by_month AS (SELECT count(*) AS n FROM people GROUP BY birth_month, sex, practice_code),
            by_year AS (SELECT count(*) AS n FROM people GROUP BY birth_year, sex, practice_code)
            SELECT (SELECT count(*) FROM people),
                   (SELECT count(*) FILTER (WHERE n = 1) FROM by_month),
                   (SELECT count(*) FILTER (WHERE n = 1) FROM by_year)
            """
        )[0]
        if not people:
            return empty
        return {
            "people": int(people),
            "unique_on_birth_month_sex_practice": round(int(by_month) / int(people), 4),
            "unique_on_birth_year_sex_practice": round(int(by_year) / int(people), 4),
        }

    def overlap(self, present: set[str] | None = None) -> dict[str, int]:
        """Per table, the rows whose natural key (``TableSpec.key``) is also held by a row of another
        batch: counted twice in every indicator. Ingest refuses such loads, so this is 0 unless rows
        came in before that check or around ingest."""
        present = set(self.tables()) if present is None else present
        overlap: dict[str, int] = {}
        for table, spec in LOADABLE_TABLES.items():
            if table not in present:
                continue
            keys = ", ".join("person_id" if name == "nhs_number" else name for name in spec.key)
            rows = self.query(
                f"SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM {table} GROUP BY {keys} "
                "HAVING count(DISTINCT batch_id) > 1)"
            )[0][0]
            overlap[table] = int(rows)
        return overlap

    def export_parquet(self, out_dir: Path) -> dict[str, int]:
        """Write every table (source tables, published aggregates and provenance) as ``out_dir/<table>.parquet``, from one
        consistent snapshot, plus ``manifest.json``. Returns rows written per table.

        Files are written under temporary names and renamed when complete, so a reader (Apache Spark)
        never sees half a file.
        """
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        present = set(self.tables())
        names = [table for table in [*LOADABLE_TABLES, *AGGREGATE_TABLES, *META_TABLES] if table in present]
        rows: dict[str, int] = {}
        staging = out_dir / ".export-in-progress"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        try:
            self.connection.execute("BEGIN TRANSACTION")
            try:
                for table in names:
                    target = staging / f"{table}.parquet"
                    self.connection.execute(
                        f"COPY (SELECT * FROM {table}) TO '{_sql_path(target)}' "
                        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)"
                    )
                    rows[table] = int(self.query(f"SELECT count(*) FROM {table}")[0][0])
            finally:
                self.connection.execute("ROLLBACK")
            manifest = {
                "warehouse": self.path.name,
                "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "software_version": __version__,
                "tables": {
                    table: {"rows": rows[table], "file": f"{table}.parquet", "columns": self._columns(table)}
                    for table in names
                },
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            for item in staging.iterdir():
                item.chmod(0o600)  # pseudonymised rows: owner-only whatever the umask
                os.replace(item, out_dir / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return rows


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
