"""Column-mapping files: users' own extracts with other names and code formats."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.ingest import KEY_ENVIRONMENT_VARIABLE, Pseudonymiser, load_file, load_mapping
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY

TODAY = dt.date(2026, 1, 1)

HES_MAPPING = """\
version: 1
tables:
  apc_spells:
    files: ["hes_apc_*.csv"]
    encoding: latin-1
    delimiter: "|"
    missing_values: ["NULL"]
    columns:
      spell_id: EPIKEY
      nhs_number: NEWNHSNO
      gp_practice_code: GPPRAC
      provider_code: PROCODE3
      admission_date: {source: ADMIDATE, date_formats: ["%Y%m%d", "%d/%m/%Y"]}
      discharge_date: {source: DISDATE, date_formats: ["%Y%m%d", "%d/%m/%Y"]}
      admission_method:
        source: ADMIMETH
        values: {"EM-AE": "21", "EM-GP": "22", "EL-WL": "11"}
      primary_diagnosis: DIAG_4_01
      age: STARTAGE
      sex: {source: SEX, values: {M: "1", F: "2"}}
"""

# A HES-style extract: other column names, '|' separated, Latin-1 (a GP practice name with an é
# would be read correctly), dates as YYYYMMDD or DD/MM/YYYY, local admission method codes, NHS
# numbers written 3-3-4 with spaces, and NULL for a missing provider.
HES_EXTRACT = (
    "EPIKEY|NEWNHSNO|GPPRAC|PROCODE3|ADMIDATE|DISDATE|ADMIMETH|DIAG_4_01|STARTAGE|SEX|NOTE\n"
    "E1|943 476 5919|A81001|RXL|20150401|20150403|EM-AE|J441|80|M|caf\xe9\n"
    "E2|900 000 0009|A81002|NULL|01/05/2015|03/05/2015|EL-WL|R074|45|F|\n"
    "E3|900 000 0009|A81002|RXL|2015-06-01|20150603|EM-GP|R074|45|F|\n"
    "E4|943 476 5919|A81001|RXL|20150701|20150630|EM-AE|J441|80|M|\n"
)


def _write(tmp_path: Path) -> tuple[Path, Path]:
    mapping = tmp_path / "hes.yaml"
    mapping.write_text(HES_MAPPING, encoding="utf-8")
    extract = tmp_path / "hes_apc_2015.csv"
    extract.write_bytes(HES_EXTRACT.encode("latin-1"))
    return mapping, extract


def test_a_hes_style_extract_loads_through_a_mapping(tmp_path: Path, pseudonymiser: Pseudonymiser) -> None:
    mapping_path, extract = _write(tmp_path)
    mapping = load_mapping(mapping_path)
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        result = load_file(warehouse, extract, pseudonymiser=pseudonymiser, mapping=mapping, today=TODAY)
        rows = warehouse.query(
            "SELECT spell_id, person_id, provider_code, admission_date, admission_method, sex "
            "FROM apc_spells ORDER BY spell_id"
        )
        quarantine = warehouse.query("SELECT row_number, field, reason FROM quarantine")
        batch = warehouse.query("SELECT table_name, mapping, source_format FROM ingest_batches")[0]
    assert (result.table, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "apc_spells",
        4,
        2,
        2,
    )
    assert rows == [
        ("E1", pseudonymiser.pseudonym("9434765919"), "RXL", dt.date(2015, 4, 1), "21", "1"),
        ("E2", pseudonymiser.pseudonym("9000000009"), None, dt.date(2015, 5, 1), "11", "2"),
    ]
    # Errors name the canonical field and the user's own column, with the formats the mapping allows.
    assert quarantine == [
        (4, "admission_date (ADMIDATE)", "not a date in the format YYYYMMDD or DD/MM/YYYY"),
        (5, "discharge_date (DISDATE)", "discharge_date before admission_date"),
    ]
    assert batch[0] == "apc_spells" and batch[1].startswith("hes.yaml (") and batch[2] == "csv"


def test_a_changed_mapping_replaces_the_batch_and_the_same_one_changes_nothing(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    mapping_path, extract = _write(tmp_path)
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        first = load_file(
            warehouse, extract, pseudonymiser=pseudonymiser, mapping=load_mapping(mapping_path), today=TODAY
        )
        again = load_file(
            warehouse, extract, pseudonymiser=pseudonymiser, mapping=load_mapping(mapping_path), today=TODAY
        )
        # Accept ISO dates too: row 4 now loads.
        mapping_path.write_text(
            HES_MAPPING.replace('"%d/%m/%Y"]}', '"%d/%m/%Y", "%Y-%m-%d"]}'), encoding="utf-8"
        )
        replaced = load_file(
            warehouse, extract, pseudonymiser=pseudonymiser, mapping=load_mapping(mapping_path), today=TODAY
        )
        batches = warehouse.query("SELECT count(*) FROM ingest_batches")[0][0]
    assert (first.status, again.status, replaced.status) == ("loaded", "unchanged", "replaced")
    assert (replaced.rows_loaded, replaced.rows_quarantined, batches) == (3, 1, 1)


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("tables:\n  hes: {}\n", "", "unknown table 'hes'"),
        (
            "tables:\n  apc_spells:\n    columns:\n      admission: ADMIDATE\n",
            "",
            "has no column 'admission'",
        ),
        (
            "tables:\n  apc_spells:\n    columns:\n      age: {source: STARTAGE, date_formats: ['%Y']}\n",
            "",
            "not a date or timestamp",
        ),
        (
            "tables:\n  apc_spells:\n    columns:\n      admission_date: {source: A, date_formats: [dd/mm/yyyy]}\n",
            "tables.apc_spells.columns.admission_date",
            "is not a strptime format",
        ),
        ("tables:\n  apc_spells:\n    encoding: ebcdic\n", "tables.apc_spells.encoding", "Input should be"),
        ("fhir:\n  condition_codes: {'44054006': sugar}\n", "fhir.condition_codes", "'sugar' is not one of"),
        ("tables: [\n", None, "not valid YAML"),
    ],
)
def test_mapping_errors_name_the_file_and_the_field(
    tmp_path: Path, text: str, field: str | None, reason: str
) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as raised:
        load_mapping(path)
    assert raised.value.file == str(path)
    assert reason in raised.value.reason
    if field:
        assert (raised.value.field or "").startswith(field)


def test_a_mapped_column_missing_from_the_file_is_one_clear_error(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    mapping_path, extract = _write(tmp_path)
    extract.write_bytes(HES_EXTRACT.replace("ADMIDATE", "ADMDATE").encode("latin-1"))
    with Warehouse(tmp_path / "w.duckdb") as warehouse, pytest.raises(DataError) as raised:
        load_file(
            warehouse, extract, pseudonymiser=pseudonymiser, mapping=load_mapping(mapping_path), today=TODAY
        )
    assert raised.value.field == "admission_date" and "'ADMIDATE' is not in the file" in raised.value.reason


def test_the_cli_loads_with_a_mapping_and_reports_in_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, TEST_KEY.decode())
    mapping_path, extract = _write(tmp_path)
    warehouse = tmp_path / "w.duckdb"
    code = main(
        ["ingest", str(extract), "--warehouse", str(warehouse), "--mapping", str(mapping_path), "--json"]
    )
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert (result["table"], result["rows_loaded"], result["rows_quarantined"]) == ("apc_spells", 2, 2)
