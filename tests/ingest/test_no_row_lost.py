"""No row lost without a record, and nothing counted twice: files the CSV reader would misread are
refused naming the line, unreadable files fail alone, renamed copies and re-extracts are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import caremodels.ingest
from caremodels.cli import main
from caremodels.ingest import KEY_ENVIRONMENT_VARIABLE
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY
from tests.ingest.test_files import GOOD, HEADER


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, TEST_KEY.decode())


def _ingest(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["--quiet", "ingest", *arguments, "--json"])
    captured = capsys.readouterr()
    # The console wraps long lines (long temporary paths): compare with whitespace run together.
    return code, json.loads(captured.out) if captured.out.strip() else [], " ".join(captured.err.split())


def _rows(count: int) -> list[str]:
    return [GOOD.replace("S1,", f"S{index},", 1) for index in range(count)]


def _batches(warehouse: Path) -> int:
    with Warehouse(warehouse, read_only=True) as store:
        return int(store.query("SELECT count(*) FROM ingest_batches")[0][0])


def test_a_stray_quote_that_would_swallow_a_50000_row_file_is_refused_naming_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(50_000)
    rows[100] = rows[100].replace(",J441,", ',"J441,')  # record 101, on line 102
    source = tmp_path / "apc_spells.csv"
    source.write_text(HEADER + "".join(rows), encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    code, results, error = _ingest(capsys, str(source), "--warehouse", str(warehouse))
    assert code == 1 and results == []
    assert error.count("caremodels: error:") == 1 and f"file {source}" in error and "line 102:" in error
    assert "quoted value" in error and _batches(warehouse) == 0


def test_a_cr_only_csv_is_refused_naming_line_1_and_the_other_files_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "apc_spells.csv").write_bytes((HEADER + "".join(_rows(5))).replace("\n", "\r").encode())
    (tmp_path / "ae_attendances.csv").write_text("", encoding="utf-8")  # empty: cannot be read at all
    (tmp_path / "referrals.csv").write_text(
        "referral_id,nhs_number,gp_practice_code,provider_code,referral_date,treatment_specialty,priority,"
        "advice_request_id\nR1,9434765919,A81001,RXL,2016-01-01,300,routine,\n",
        encoding="utf-8",
    )
    code, results, error = _ingest(capsys, str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 1
    assert [(result["table"], result["rows_loaded"]) for result in results] == [("referrals", 1)]
    assert "apc_spells.csv: line 1: the file's lines end with carriage returns only" in error
    assert "ae_attendances.csv: the file is empty" in error


def test_plain_ndjson_named_gz_fails_alone_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    }
    fake = tmp_path / "Encounter.ndjson.gz"
    fake.write_text(json.dumps(patient) + "\n", encoding="utf-8")
    (tmp_path / "apc_spells.csv").write_text(HEADER + GOOD, encoding="utf-8")
    (tmp_path / "bundle.json.gz").write_text('{"resourceType": "Bundle"}', encoding="utf-8")
    code, results, error = _ingest(capsys, str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 1
    assert [result["table"] for result in results] == ["apc_spells"]
    assert f"file {fake}: the file is named .gz but is not gzip-compressed" in error
    assert "bundle.json.gz: the file is named .gz but is not gzip-compressed" in error
    # The human summary lists the failure too.
    main(["--quiet", "ingest", str(fake), "--warehouse", str(tmp_path / "w.duckdb")])
    assert "1 file(s) failed" in capsys.readouterr().out


def test_an_internal_error_in_one_file_does_not_stop_the_later_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = caremodels.ingest.load_file

    def failing(warehouse: Warehouse, path: Path, **options: Any) -> Any:
        if path.name.startswith("apc_spells"):
            raise RuntimeError("9434765919 leaked from a bug")
        return real(warehouse, path, **options)

    monkeypatch.setattr(caremodels.ingest, "load_file", failing)
    (tmp_path / "apc_spells.csv").write_text(HEADER + GOOD, encoding="utf-8")
    (tmp_path / "referrals.csv").write_text(
        "referral_id,nhs_number,gp_practice_code,provider_code,referral_date,treatment_specialty,priority,"
        "advice_request_id\nR1,9434765919,A81001,RXL,2016-01-01,300,routine,\n",
        encoding="utf-8",
    )
    code, results, error = _ingest(capsys, str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 1 and [result["table"] for result in results] == ["referrals"]
    assert "apc_spells.csv: internal error (RuntimeError): this is a bug" in error
    assert "9434765919" not in error


def test_two_files_with_identical_content_load_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "apc_spells.csv"
    first.write_text(HEADER + "".join(_rows(3)), encoding="utf-8")
    copy = tmp_path / "spells_copy.csv"
    shutil.copy(first, copy)
    warehouse = str(tmp_path / "w.duckdb")
    code, results, error = _ingest(
        capsys, str(first), str(copy), "--table", "apc_spells", "--warehouse", warehouse
    )
    assert code == 1 and [result["file"] for result in results] == ["apc_spells.csv"]
    [batch] = [result["batch_id"] for result in results]
    assert (
        f"file spells_copy.csv: 3 row(s) of apc_spells have the same key (spell_id) as rows already loaded by batch {batch} from apc_spells.csv"
        in error
    )
    assert "--replace-overlapping" in error
    code, [result], _ = _ingest(
        capsys, str(copy), "--table", "apc_spells", "--warehouse", warehouse, "--replace-overlapping"
    )
    assert code == 0 and result["replaced_overlapping"] == [batch]
    with Warehouse(Path(warehouse), read_only=True) as store:
        assert store.query("SELECT count(*) FROM apc_spells")[0][0] == 3
        assert store.status()["overlap_by_table"]["apc_spells"] == 0


def test_a_csv_beside_its_parquet_copy_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "apc_spells.csv").write_text(HEADER + GOOD, encoding="utf-8")
    (tmp_path / "apc_spells.parquet").write_bytes(b"PAR1")
    code, results, error = _ingest(capsys, str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 1 and results == []
    assert "all hold table apc_spells (a CSV beside its Parquet copy?)" in error
    # Two extracts of one table, named apart, are not a copy: they load (the overlap check guards them).
    (tmp_path / "apc_spells.parquet").unlink()
    (tmp_path / "apc_spells.2016.csv").write_text(HEADER + GOOD.replace("S1,", "S9,"), encoding="utf-8")
    code, results, error = _ingest(capsys, str(tmp_path), "--warehouse", str(tmp_path / "w.duckdb"))
    assert code == 0 and [result["rows_loaded"] for result in results] == [1, 1]


def _emergency_admissions(
    warehouse: Path, out: Path, capsys: pytest.CaptureFixture[str]
) -> list[dict[str, Any]]:
    arguments = ["--warehouse", str(warehouse), "--indicator", "emergency_admissions", "--level", "england"]
    assert (
        main(
            ["--quiet", "indicators", "compute", *arguments, "--period", "financial_year", "--out", str(out)]
        )
        == 0
    )
    capsys.readouterr()
    rows: list[dict[str, Any]] = json.loads(out.read_text(encoding="utf-8"))
    return rows


def test_synth_output_loads_and_a_renamed_copy_changes_no_indicator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_economy: SynthResult
) -> None:
    warehouse = tmp_path / "w.duckdb"
    code, results, error = _ingest(capsys, str(tiny_economy.out_dir), "--warehouse", str(warehouse))
    assert code == 0, error
    tables = {result["table"] for result in results}
    assert {"unregistered_population", "apc_spells", "gp_registrations"} <= tables
    before = _emergency_admissions(warehouse, tmp_path / "before.json", capsys)
    renamed = tmp_path / "apc_spells_reextract.parquet"
    shutil.copy(tiny_economy.files["apc_spells"], renamed)
    code, _, error = _ingest(capsys, str(renamed), "--table", "apc_spells", "--warehouse", str(warehouse))
    assert code == 1 and "as rows already loaded by batch apc_spells-" in error
    assert _emergency_admissions(warehouse, tmp_path / "refused.json", capsys) == before
    code, _, _ = _ingest(
        capsys, str(renamed), "--table", "apc_spells", "--warehouse", str(warehouse), "--replace-overlapping"
    )
    assert code == 0
    assert _emergency_admissions(warehouse, tmp_path / "replaced.json", capsys) == before
    assert main(["warehouse", "status", "--warehouse", str(warehouse), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["tables"]["unregistered_population"] > 0
    assert not any(status["overlap_by_table"].values())
