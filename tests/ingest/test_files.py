"""Corrupted and unusual files through the command line: encodings, truncation, types, --strict."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caremodels.cli import main
from caremodels.ingest import KEY_ENVIRONMENT_VARIABLE
from caremodels.warehouse import Warehouse
from caremodels.warehouse.schema import LOADABLE_TABLES, SOURCE_TABLES
from caremodels.warehouse.store import META_TABLES
from tests.conftest import TEST_KEY
from tests.ingest.sample_rows import csv_text, valid_rows

HEADER = (
    "spell_id,nhs_number,gp_practice_code,provider_code,admission_date,discharge_date,admission_method,"
    "admission_source,discharge_method,primary_diagnosis,age,sex\n"
)
GOOD = "S1,9434765919,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n"
ACCENTED = "S2,9000000009,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n".replace("J441", "Jé41")


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, TEST_KEY.decode())


def _ingest(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["--quiet", "ingest", *arguments, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else [], captured.err


def _quarantine(warehouse: Path) -> list[tuple[object, ...]]:
    with Warehouse(warehouse, read_only=True) as store:
        return store.query("SELECT row_number, field, reason FROM quarantine ORDER BY row_number")


def test_strict_exits_1_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + GOOD + GOOD.replace("S1,9434765919", "S2,9434765918"), encoding="utf-8")
    code, _, error = _ingest(capsys, str(source), "--warehouse", str(tmp_path / "w.duckdb"), "--strict")
    assert code == 1
    assert error.count("\n") == 1 and "Traceback" not in error
    assert error.startswith("caremodels: error: file ")
    assert (
        "row 3, field nhs_number: invalid NHS number (format or check digit) (1 bad row(s); --strict loads nothing)"
        in error
    )
    assert "9434765918" not in error
    with Warehouse(tmp_path / "w.duckdb", read_only=True) as store:
        assert store.query("SELECT count(*) FROM ingest_batches")[0][0] == 0


def test_a_latin_1_file_quarantines_its_accented_rows_unless_the_mapping_says_latin_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_bytes((HEADER + GOOD + ACCENTED).encode("latin-1"))
    warehouse = tmp_path / "w.duckdb"
    code, [result], _ = _ingest(capsys, str(source), "--warehouse", str(warehouse))
    assert code == 0 and (result["rows_loaded"], result["rows_quarantined"]) == (1, 1)
    [(row, field, reason)] = _quarantine(warehouse)
    assert (row, field) == (3, "primary_diagnosis") and reason.startswith("not valid UTF-8 text")
    # Declared as Latin-1, the file reads; the accented code is then simply not an ICD-10 code.
    mapping = tmp_path / "latin.yaml"
    mapping.write_text("tables:\n  apc_spells:\n    encoding: latin-1\n", encoding="utf-8")
    code, [result], _ = _ingest(capsys, str(source), "--warehouse", str(warehouse), "--mapping", str(mapping))
    assert result["status"] == "replaced"
    assert _quarantine(warehouse) == [(3, "primary_diagnosis", "not an ICD-10 code (e.g. J441)")]


def test_a_utf_16_file_with_a_byte_order_mark_loads_and_one_without_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + GOOD + GOOD.replace("S1,9434765919", "S2,9000000009"), encoding="utf-16")
    code, [result], _ = _ingest(capsys, str(source), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 0 and (result["rows_read"], result["rows_loaded"]) == (2, 2)
    source.write_bytes((HEADER + GOOD).encode("utf-16-le"))
    code, _, error = _ingest(capsys, str(source), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 1 and error.count("\n") == 1
    assert "looks like UTF-16 without a byte order mark" in error


def test_a_truncated_csv_loads_its_good_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = SOURCE_TABLES["apc_spells"]
    text = csv_text(spec, valid_rows(spec, 50))
    source = tmp_path / "apc_spells.csv"
    source.write_text(text[: len(text) - 30], encoding="utf-8")  # cut inside the last line
    code, [result], _ = _ingest(capsys, str(source), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 0 and (result["rows_read"], result["rows_loaded"], result["rows_quarantined"]) == (
        50,
        49,
        1,
    )
    assert _quarantine(tmp_path / "w.duckdb") == [
        (51, "", "more or fewer fields than the header (truncated or malformed)")
    ]


def test_a_truncated_parquet_file_fails_alone_and_the_other_files_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SOURCE_TABLES["apc_spells"]
    pq.write_table(pa.Table.from_pylist(valid_rows(spec, 200)), tmp_path / "whole.parquet")
    broken = tmp_path / "apc_spells.parquet"
    broken.write_bytes((tmp_path / "whole.parquet").read_bytes()[:-100])
    registrations = SOURCE_TABLES["gp_registrations"]
    (tmp_path / "gp_registrations.csv").write_text(csv_text(registrations, valid_rows(registrations, 3)))
    code, results, error = _ingest(
        capsys, str(broken), str(tmp_path / "gp_registrations.csv"), "--warehouse", str(tmp_path / "w.duckdb")
    )
    assert code == 1
    assert (
        error.count("\n") == 1
        and "apc_spells.parquet: cannot read Parquet (truncated or not Parquet" in error
    )
    assert [(result["table"], result["rows_loaded"]) for result in results] == [("gp_registrations", 3)]


def test_wrong_types_in_parquet_are_quarantined(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = SOURCE_TABLES["apc_spells"]
    rows = valid_rows(spec, 4)
    rows[1]["age"] = "old"
    rows[2]["admission_date"] = "2015-02-30"
    table = pa.Table.from_pylist(rows)  # every column text, as from a spreadsheet
    typed = pa.Table.from_pylist(valid_rows(spec, 2)).set_column(
        spec.columns.index(spec.column("age")), "age", pa.array([float("nan"), 2.5])
    )
    pq.write_table(table, tmp_path / "apc_spells.parquet")
    pq.write_table(typed, tmp_path / "typed.parquet")
    warehouse = str(tmp_path / "w.duckdb")
    code, [result], _ = _ingest(capsys, str(tmp_path / "apc_spells.parquet"), "--warehouse", warehouse)
    assert code == 0 and (result["rows_loaded"], result["rows_quarantined"]) == (2, 2)
    assert _quarantine(tmp_path / "w.duckdb") == [
        (2, "age", "not a number (integer)"),
        (3, "admission_date", "not a date (YYYY-MM-DD)"),
    ]
    _, [result], _ = _ingest(
        capsys, str(tmp_path / "typed.parquet"), "--warehouse", warehouse, "--table", "apc_spells"
    )
    assert result["rows_quarantined"] == 2
    with Warehouse(tmp_path / "w.duckdb", read_only=True) as store:
        assert store.query(
            "SELECT row_number, reason FROM quarantine WHERE file = 'typed.parquet' ORDER BY 1"
        ) == [(1, "not a number (integer)"), (2, "not a whole number")]


def test_status_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warehouse = tmp_path / "w.duckdb"
    for table in ("gp_registrations", "apc_spells", "prescribing"):
        spec = SOURCE_TABLES[table]
        (tmp_path / f"{table}.csv").write_text(csv_text(spec, valid_rows(spec, 3)), encoding="utf-8")
    (tmp_path / "apc_spells.csv").write_text(
        (tmp_path / "apc_spells.csv").read_text() + "broken,line\n", encoding="utf-8"
    )
    code, results, _ = _ingest(capsys, str(tmp_path), "--warehouse", str(warehouse))
    assert code == 0 and [result["table"] for result in results] == [
        "gp_registrations",
        "apc_spells",
        "prescribing",
    ]
    assert main(["warehouse", "status", "--warehouse", str(warehouse), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["tables"]["apc_spells"] == 3 and status["people_by_table"]["apc_spells"] == 3
    assert "prescribing" not in status["people_by_table"] and status["people"] == 3
    assert status["quarantine_by_reason"] == {
        "more or fewer fields than the header (truncated or malformed)": 1
    }
    [batch] = [batch for batch in status["batches"] if batch["table_name"] == "apc_spells"]
    assert (batch["rows_read"], batch["rows_loaded"], batch["rows_quarantined"]) == (4, 3, 1)
    assert batch["software_version"] and batch["content_hash"] and batch["source_format"] == "csv"
    assert main(["warehouse", "status", "--warehouse", str(warehouse)]) == 0
    assert "apc_spells" in capsys.readouterr().out

    out = tmp_path / "export"
    assert main(["warehouse", "export", "--warehouse", str(warehouse), "--out", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)["tables"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["tables"]) == set(exported) == {*LOADABLE_TABLES, *META_TABLES}
    spells = pq.read_table(out / "apc_spells.parquet")
    assert (
        spells.num_rows == 3
        and "person_id" in spells.column_names
        and "nhs_number" not in spells.column_names
    )
    assert spells.schema.field("admission_date").type == pa.date32()
    assert pq.read_table(out / "quarantine.parquet").num_rows == 1
    assert not list(out.glob(".export*"))


def test_an_older_warehouse_gains_the_new_provenance_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    connection = duckdb.connect(str(path))
    connection.execute(
        "CREATE TABLE ingest_batches (batch_id VARCHAR PRIMARY KEY, source VARCHAR, table_name VARCHAR, "
        "content_hash VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_quarantined BIGINT, "
        "rows_excluded_opt_out BIGINT, loaded_at TIMESTAMP, software_version VARCHAR)"
    )
    connection.execute(
        "INSERT INTO ingest_batches VALUES ('b', 'f.csv', 'apc_spells', 'h', 1, 1, 0, 0, now(), '0.1.0')"
    )
    connection.close()
    with Warehouse(path) as warehouse:
        [batch] = warehouse.status()["batches"]
    assert (batch["rows_unmapped"], batch["source_format"], batch["mapping"]) == (0, "", "")
