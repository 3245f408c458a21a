from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from caremodels.errors import DataError
from caremodels.ingest import Pseudonymiser, load_file, read_opt_outs
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY

TODAY = dt.date(2026, 1, 1)
HEADER = "spell_id,nhs_number,gp_practice_code,provider_code,admission_date,discharge_date,admission_method,admission_source,discharge_method,primary_diagnosis,age,sex\n"
GOOD = "S1,9434765919,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n"


def _status(path: Path) -> dict:
    with Warehouse(path, read_only=True) as warehouse:
        return warehouse.status()


def test_rows_read_equal_loaded_plus_quarantined_plus_excluded(tiny_warehouse: Path) -> None:
    status = _status(tiny_warehouse)
    assert {batch["table_name"] for batch in status["batches"]} == {"gp_registrations", "apc_spells"}
    for batch in status["batches"]:
        assert (
            batch["rows_read"]
            == batch["rows_loaded"] + batch["rows_quarantined"] + batch["rows_excluded_opt_out"]
        )
    assert status["tables"]["apc_spells"] > 1000


def test_warehouse_file_contains_no_source_nhs_number(
    tiny_warehouse: Path, tiny_economy: SynthResult
) -> None:
    numbers = set(
        pq.read_table(tiny_economy.files["gp_registrations"], columns=["nhs_number"])[
            "nhs_number"
        ].to_pylist()
    )
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        # Closed after this, so everything is checkpointed into the file.
        pseudonyms = {
            str(row[0]).encode()
            for table in ("gp_registrations", "apc_spells")
            for row in warehouse.query(f"SELECT DISTINCT person_id FROM {table}")
        }
    content = tiny_warehouse.read_bytes()

    def inside_a_pseudonym(start: int) -> bool:
        # A pseudonym is 64 hex characters, so about one in a hundred 10-character windows of it is
        # all digits; with tens of thousands of people one may equal somebody's NHS number by chance.
        return any(content[begin : begin + 64] in pseudonyms for begin in range(start - 54, start + 1))

    # Every run of ten digits in the file's bytes, against every NHS number in the source.
    found = {
        match.group(1).decode()
        for match in re.finditer(rb"(?=([0-9]{10}))", content)
        if match.group(1).decode() in numbers and not inside_a_pseudonym(match.start())
    }
    assert not found
    # DuckDB may compress strings, so also look in every text column of every table.
    connection = duckdb.connect(str(tiny_warehouse), read_only=True)
    text_columns = connection.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall()
    assert text_columns
    for table, column in text_columns:
        values = {row[0] for row in connection.execute(f'SELECT DISTINCT "{column}" FROM {table}').fetchall()}
        assert not values & numbers, f"{table}.{column}"
    person_ids = {
        row[0] for row in connection.execute("SELECT DISTINCT person_id FROM apc_spells").fetchall()
    }
    assert person_ids and all(len(value) == 64 for value in person_ids)
    connection.close()


def test_corrupted_csv_loads_good_rows_and_quarantines_the_rest(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    bad = tmp_path / "apc_spells.csv"
    bad.write_bytes(
        (
            HEADER
            + GOOD
            + "S2,9434765918,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n"  # bad check digit
            + "S3,9000000009,A81001,RXL,2015-13-01,2015-04-03,21,19,1,J441,80,1\n"  # bad date
            + "S4,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,old,1\n"  # wrong type
            + "S5,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n"
        ).encode()
        + b"S6,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J\xff41,80,1\n"  # not UTF-8
        + b"S7,9000000009,A81001,RXL,2015-04"  # truncated
    )
    warehouse_path = tmp_path / "w.duckdb"
    with Warehouse(warehouse_path) as warehouse:
        result = load_file(warehouse, bad, pseudonymiser=pseudonymiser, today=TODAY)
        quarantine = warehouse.query("SELECT row_number, field, reason FROM quarantine ORDER BY row_number")
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (7, 2, 5)
    assert [row[:2] for row in quarantine] == [
        (3, "nhs_number"),
        (4, "admission_date"),
        (5, "age"),
        (7, "primary_diagnosis"),
        (8, ""),
    ]
    assert "truncated" in quarantine[-1][2]


def test_truncated_parquet_fails_with_one_clear_error(
    tmp_path: Path, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> None:
    truncated = tmp_path / "apc_spells.parquet"
    truncated.write_bytes(tiny_economy.files["apc_spells"].read_bytes()[:5000])
    with (
        Warehouse(tmp_path / "w.duckdb") as warehouse,
        pytest.raises(DataError, match="truncated or not Parquet"),
    ):
        load_file(warehouse, truncated, pseudonymiser=pseudonymiser)


def test_strict_loads_nothing(tmp_path: Path, pseudonymiser: Pseudonymiser) -> None:
    bad = tmp_path / "apc_spells.csv"
    bad.write_text(HEADER + GOOD + "S2,9434765918,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        with pytest.raises(DataError) as raised:
            load_file(warehouse, bad, pseudonymiser=pseudonymiser, strict=True, today=TODAY)
        assert warehouse.query("SELECT count(*) FROM apc_spells")[0][0] == 0
        assert warehouse.query("SELECT count(*) FROM ingest_batches")[0][0] == 0
    message = str(raised.value)
    assert "apc_spells.csv" in message and "row 3" in message and "nhs_number" in message
    assert "9434765918" not in message  # never the value itself


def test_same_file_twice_changes_nothing_and_a_corrected_file_replaces_its_batch(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + GOOD + "S2,9434765918,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        first = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        second = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        assert (first.status, second.status) == ("loaded", "unchanged")
        assert warehouse.query("SELECT count(*) FROM apc_spells")[0][0] == 1
        source.write_text(
            HEADER + GOOD + "S2,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n"
        )
        third = load_file(warehouse, source, pseudonymiser=pseudonymiser, today=TODAY)
        assert third.status == "replaced"
        assert warehouse.query("SELECT count(*) FROM apc_spells")[0][0] == 2
        assert warehouse.query("SELECT count(*) FROM quarantine")[0][0] == 0
        assert warehouse.query("SELECT count(*) FROM ingest_batches")[0][0] == 1


def test_opt_outs_are_excluded_and_counted(tmp_path: Path, pseudonymiser: Pseudonymiser) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + GOOD + "S2,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n")
    opt_outs = tmp_path / "opt_outs.txt"
    opt_outs.write_text("nhs_number\n900 000 0009\n")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        result = load_file(
            warehouse, source, pseudonymiser=pseudonymiser, opt_outs=read_opt_outs(opt_outs), today=TODAY
        )
        people = warehouse.query("SELECT person_id FROM apc_spells")
    assert (result.rows_loaded, result.rows_excluded_opt_out) == (1, 1)
    assert people == [(pseudonymiser.pseudonym("9434765919"),)]


def test_pseudonyms_are_keyed() -> None:
    first = Pseudonymiser(b"k" * 32).pseudonym("9434765919")
    assert first == Pseudonymiser(b"k" * 32).pseudonym("9434765919")
    assert first != Pseudonymiser(b"j" * 32).pseudonym("9434765919")


def test_a_load_killed_midway_leaves_no_partial_batch(tmp_path: Path, tiny_economy: SynthResult) -> None:
    warehouse_path = tmp_path / "w.duckdb"
    with Warehouse(warehouse_path) as warehouse:
        load_file(warehouse, tiny_economy.files["gp_registrations"], pseudonymiser=Pseudonymiser(b"k" * 32))
    before = _status(warehouse_path)
    # The child loads the spells but stops inside the transaction, after the rows went in.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from caremodels.ingest import Pseudonymiser, load_file
        from caremodels.warehouse import store
        original = store.Warehouse.transaction
        def slow_transaction(self):
            manager = original(self)
            class Wrapped:
                def __enter__(self_inner):
                    return manager.__enter__()
                def __exit__(self_inner, *exc):
                    print("inside", flush=True)
                    time.sleep(60)
                    return manager.__exit__(*exc)
            return Wrapped()
        with store.Warehouse(Path({str(warehouse_path)!r})) as warehouse:
            store.Warehouse.transaction = slow_transaction
            load_file(warehouse, Path({str(tiny_economy.files["apc_spells"])!r}), pseudonymiser=Pseudonymiser(b"k" * 32))
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()  # blocks until the rows are in, uncommitted
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert line == "inside\n"
    after = _status(warehouse_path)
    assert after["tables"] == before["tables"]
    assert after["batches"] == before["batches"]


def _spells_with_problems(tmp_path: Path, tiny_economy: SynthResult) -> Path:
    """The tiny economy's first 500 spells as Parquet, with a bad practice code in rows 7 and 403."""
    frame = pq.read_table(tiny_economy.files["apc_spells"]).slice(0, 500).to_pandas()
    column = frame.columns.get_loc("gp_practice_code")
    frame.iloc[[6, 402], column] = "XX"
    path = tmp_path / "apc_spells.parquet"
    frame.to_parquet(path, index=False)
    return path


def _contents(path: Path) -> tuple[list[tuple], list[tuple], tuple]:
    with Warehouse(path, read_only=True) as warehouse:
        return (
            warehouse.query("SELECT * EXCLUDE (batch_id) FROM apc_spells ORDER BY ALL"),
            warehouse.query("SELECT row_number, field, reason FROM quarantine ORDER BY ALL"),
            warehouse.query(
                "SELECT rows_read, rows_loaded, rows_quarantined, rows_excluded_opt_out FROM ingest_batches"
            )[0],
        )


def test_a_large_parquet_file_loaded_in_chunks_gives_the_same_warehouse(
    tmp_path: Path, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> None:
    source = _spells_with_problems(tmp_path, tiny_economy)
    opted_out = frozenset(pq.read_table(source, columns=["nhs_number"])["nhs_number"].to_pylist()[100:101])
    results = {}
    for chunk_rows in (1_000_000, 64):
        path = tmp_path / f"chunks-{chunk_rows}.duckdb"
        with Warehouse(path) as warehouse:
            results[chunk_rows] = load_file(
                warehouse,
                source,
                pseudonymiser=pseudonymiser,
                opt_outs=opted_out,
                today=TODAY,
                chunk_rows=chunk_rows,
            )
    whole, chunked = _contents(tmp_path / "chunks-1000000.duckdb"), _contents(tmp_path / "chunks-64.duckdb")
    assert chunked == whole
    # Row numbers in the quarantine are the file's, not the chunk's.
    assert [row[0] for row in whole[1]] == [7, 403]
    assert whole[2][0] == 500 and whole[2][1] + whole[2][2] + whole[2][3] == 500 and whole[2][3] >= 1
    assert results[64].rows_loaded == results[1_000_000].rows_loaded


def test_strict_load_in_chunks_loads_nothing(
    tmp_path: Path, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> None:
    source = _spells_with_problems(tmp_path, tiny_economy)
    path = tmp_path / "strict.duckdb"
    with Warehouse(path) as warehouse:
        with pytest.raises(DataError, match="row 7"):
            load_file(warehouse, source, pseudonymiser=pseudonymiser, strict=True, today=TODAY, chunk_rows=64)
        assert warehouse.query("SELECT count(*) FROM ingest_batches")[0][0] == 0
        assert warehouse.query("SELECT count(*) FROM apc_spells")[0][0] == 0


def test_warehouse_file_contains_no_full_date_of_birth(
    tiny_warehouse: Path, tiny_economy: SynthResult
) -> None:
    births = pq.read_table(tiny_economy.files["gp_registrations"], columns=["date_of_birth"])["date_of_birth"]
    # Dates on the 1st of a month are the birth month itself, which the warehouse keeps by design.
    dates = {day for day in births.to_pylist() if day.day != 1}
    assert len(dates) > 1000
    content = tiny_warehouse.read_bytes()
    texts = {match.group(0).decode() for match in re.finditer(rb"[12][0-9]{3}-[01][0-9]-[0-3][0-9]", content)}
    assert not texts & {day.isoformat() for day in dates}
    connection = duckdb.connect(str(tiny_warehouse), read_only=True)
    columns = {row[0] for row in connection.execute("DESCRIBE gp_registrations").fetchall()}
    assert "date_of_birth" not in columns and "birth_month" in columns
    # Every date the person's registrations hold differs from their date of birth, newborns included.
    source = pq.read_table(
        tiny_economy.files["gp_registrations"], columns=["nhs_number", "date_of_birth"]
    ).to_pandas()
    pseudonymiser = Pseudonymiser(TEST_KEY)
    source["person_id"] = [pseudonymiser.pseudonym(number) for number in source["nhs_number"]]
    connection.register("source_births", source[["person_id", "date_of_birth"]].drop_duplicates())
    leaks, off_month = connection.execute(
        """
        SELECT count(*) FILTER (WHERE day(s.date_of_birth) <> 1 AND s.date_of_birth IN
                   (r.registration_start, r.registration_end, r.birth_month)),
               count(*) FILTER (WHERE r.birth_month <> date_trunc('month', s.date_of_birth))
        FROM gp_registrations r JOIN source_births s USING (person_id)
        """
    ).fetchone()
    connection.close()
    assert (leaks, off_month) == (0, 0)


def test_warehouse_status_measures_the_reidentification_risk(tiny_warehouse: Path) -> None:
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        risk = warehouse.status()["reidentification_risk"]
    assert risk["people"] > 1000
    assert 0 <= risk["unique_on_birth_year_sex_practice"] <= risk["unique_on_birth_month_sex_practice"] <= 1
