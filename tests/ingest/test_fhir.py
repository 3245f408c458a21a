"""The FHIR R4 loader: UK Core and US Core exports, NDJSON and Bundles, every resource accounted for."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.ingest import KEY_ENVIRONMENT_VARIABLE, Pseudonymiser, load_fhir, load_file
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY, shared_data

TODAY = dt.date(2026, 1, 1)
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ODS = "https://fhir.nhs.uk/Id/ods-organization-code"
SNOMED = "http://snomed.info/sct"
ADMISSION_METHOD = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-AdmissionMethod"
TREATMENT_FUNCTION = "https://fhir.nhs.uk/CodeSystem/NHSDataModelAndDictionary-treatment-function"


def _nhs(number: str) -> dict[str, str]:
    return {"system": NHS, "value": number}


def _ref(kind: str, identifier: str) -> dict[str, str]:
    return {"reference": f"{kind}/{identifier}"}


def _encounter(
    identifier: str, patient: str, encounter_class: str, start: str, end: str, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": identifier,
        "status": extra.pop("status", "finished"),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": encounter_class},
        "subject": _ref("Patient", patient),
        "period": {"start": start, "end": end},
        **extra,
    }


def _condition(identifier: str, patient: str, codings: list[dict[str, str]], onset: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": identifier,
        "code": {"coding": codings},
        "subject": _ref("Patient", patient),
        "onsetDateTime": onset,
    }


def uk_core_export() -> dict[str, list[dict[str, Any]]]:
    """A small UK Core export exercising every mapping rule, by resource type."""
    trust = _ref("Organization", "trust")
    return {
        "Organization": [
            {"resourceType": "Organization", "id": "trust", "identifier": [{"system": ODS, "value": "RXL"}]},
            {
                "resourceType": "Organization",
                "id": "practice",
                "identifier": [{"system": ODS, "value": "A81001"}],
            },
            {"resourceType": "Organization", "id": "clinic", "address": [{"country": "GB"}]},
        ],
        "Patient": [
            {
                "resourceType": "Patient",
                "id": "p1",
                "identifier": [_nhs("943 476 5919")],
                "gender": "male",
                "birthDate": "1935-04-01",
                "generalPractitioner": [_ref("Organization", "practice")],
            },
            {
                "resourceType": "Patient",
                "id": "p2",
                "identifier": [_nhs("9000000009")],
                "gender": "female",
                "birthDate": "1950-01-01",
                "generalPractitioner": [{"identifier": {"system": ODS, "value": "A81002"}}],
            },
            {"resourceType": "Patient", "id": "p3", "identifier": [_nhs("9434765918")], "gender": "female"},
            {
                "resourceType": "Patient",
                "id": "p4",
                "identifier": [
                    {
                        "system": "https://trust.example/mrn",
                        "value": "M1",
                        "type": {"coding": [{"code": "MR"}]},
                    }
                ],
                "gender": "other",
                "birthDate": "2000-06-30",
            },
        ],
        "Encounter": [
            _encounter(
                "e1",
                "p1",
                "IMP",
                "2016-01-10T10:00:00+00:00",
                "2016-01-15T12:00:00+00:00",
                serviceProvider=trust,
                extension=[
                    {
                        "url": ADMISSION_METHOD,
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-AdmissionMethodEngland",
                                    "code": "21",
                                }
                            ]
                        },
                    }
                ],
                diagnosis=[{"condition": _ref("Condition", "c-copd"), "rank": 1}],
            ),
            _encounter(
                "e2", "p1", "EMER", "2016-01-10T06:00:00Z", "2016-01-10T09:30:00Z", serviceProvider=trust
            ),
            _encounter(
                "e3",
                "p2",
                "AMB",
                "2016-02-01T09:00:00Z",
                "2016-02-01T09:20:00Z",
                serviceProvider=trust,
                serviceType={"coding": [{"system": TREATMENT_FUNCTION, "code": "300"}]},
            ),
            _encounter(
                "e4",
                "p1",
                "AMB",
                "2016-03-01T09:00:00Z",
                "2016-03-01T09:20:00Z",
                serviceProvider=_ref("Organization", "clinic"),
                serviceType={"coding": [{"system": TREATMENT_FUNCTION, "code": "330"}]},
                type=[{"coding": [{"system": SNOMED, "code": "390906007"}]}],
            ),
            _encounter(
                "e5", "p3", "EMER", "2016-01-01T10:00:00Z", "2016-01-01T11:00:00Z", serviceProvider=trust
            ),
            _encounter(
                "e6",
                "p4",
                "EMER",
                "2016-04-01T10:00:00Z",
                "2016-04-01T09:00:00Z",
                serviceProvider={"identifier": {"system": ODS, "value": "RXL"}},
            ),
            _encounter(
                "e7", "p1", "IMP", "2016-06-01T10:00:00Z", "2016-06-02T10:00:00Z", serviceProvider=trust
            ),
            _encounter(
                "e8", "p1", "EMER", "2016-07-01T10:00:00Z", "2016-07-01T11:00:00Z", status="cancelled"
            ),
            _encounter("e9", "nobody", "EMER", "2016-07-01T10:00:00Z", "2016-07-01T11:00:00Z"),
        ],
        "Condition": [
            _condition("c1", "p1", [{"system": SNOMED, "code": "44054006"}], "2010-03-01"),
            _condition("c2", "p1", [{"system": SNOMED, "code": "73211009"}], "2012-01-01"),
            _condition("c3", "p1", [{"system": SNOMED, "code": "160903007"}], "2012-01-01"),
            _condition(
                "c-copd",
                "p1",
                [
                    {"system": SNOMED, "code": "13645005"},
                    {"system": "http://hl7.org/fhir/sid/icd-10-uk", "code": "J44.1"},
                ],
                "2014-05-05T08:00:00+01:00",
            ),
            _condition("c4", "p4", [{"system": SNOMED, "code": "195967001"}], "2030-01-01"),
        ],
        "Procedure": [{"resourceType": "Procedure", "id": "x1", "subject": _ref("Patient", "p1")}],
        "MedicationRequest": [
            {"resourceType": "MedicationRequest", "id": "m1", "subject": _ref("Patient", "p2")}
        ],
    }


def write_ndjson(
    folder: Path, export: dict[str, list[dict[str, Any]]], *, broken_line: bool = True
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, resources in export.items():
        lines = [json.dumps(resource) for resource in resources]
        if kind == "Encounter":
            path = folder / f"{kind}.ndjson"  # one plain file, the rest gzip
            text = (
                "\n".join(lines)
                + "\n"
                + ('{"resourceType": "Encounter", "id": "e10", "sta\n' if broken_line else "")
            )
            path.write_text(text, encoding="utf-8")
        else:
            path = folder / f"{kind}.ndjson.gz"
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        paths.append(path)
    return paths


def _rows(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return warehouse.query(sql)


def _check_uk_core_tables(warehouse: Warehouse, pseudonymiser: Pseudonymiser) -> None:
    p1 = pseudonymiser.pseudonym("9434765919")
    assert _rows(
        warehouse,
        "SELECT spell_id, person_id, gp_practice_code, provider_code, admission_date, discharge_date, "
        "admission_method, primary_diagnosis, age, sex FROM apc_spells",
    ) == [("e1", p1, "A81001", "RXL", dt.date(2016, 1, 10), dt.date(2016, 1, 15), "21", "J441", 80, "1")]
    assert _rows(
        warehouse,
        "SELECT attendance_id, person_id, provider_code, arrival_time, department_type, disposal FROM ae_attendances",
    ) == [("e2", p1, "RXL", dt.datetime(2016, 1, 10, 6, 0), "1", "admitted")]
    # e3 belongs to the opted-out p2; e4 is a follow-up at a UK organisation without an ODS code.
    assert _rows(
        warehouse,
        "SELECT appointment_id, provider_code, first_attendance, treatment_specialty FROM op_attendances",
    ) == [("e4", "89999", "2", "330")]
    assert _rows(
        warehouse, "SELECT person_id, condition, diagnosis_date FROM conditions ORDER BY condition"
    ) == [
        (p1, "copd", dt.date(2014, 5, 5)),
        (p1, "diabetes", dt.date(2010, 3, 1)),
    ]


def test_a_uk_core_export_maps_by_class_and_type_and_accounts_for_every_resource(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    paths = write_ndjson(tmp_path / "export", uk_core_export())
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        results = load_fhir(
            warehouse, paths, pseudonymiser=pseudonymiser, opt_outs=frozenset({"9000000009"}), today=TODAY
        )
        _check_uk_core_tables(warehouse, pseudonymiser)
        by_file = {result.file: result for result in results}
        quarantine = _rows(
            warehouse, "SELECT file, row_number, field, reason FROM quarantine ORDER BY file, row_number"
        )
        people = {row[0] for row in _rows(warehouse, "SELECT person_id FROM ae_attendances")}
    for result in results:
        assert result.rows_read == (
            result.rows_loaded + result.rows_quarantined + result.rows_excluded_opt_out + result.rows_unmapped
        ), result.file
    encounters = by_file["Encounter.ndjson"]
    assert (encounters.rows_read, encounters.rows_loaded, encounters.rows_quarantined) == (10, 3, 4)
    assert (encounters.rows_excluded_opt_out, encounters.rows_unmapped) == (1, 2)
    assert encounters.table == "ae_attendances,apc_spells,op_attendances"
    assert set(encounters.unmapped_by_reason) == {
        "Encounter: not finished (status cancelled): not activity to count",
        "Encounter: inpatient encounter without an admission method (no UK Core admission method, priority, "
        "admit source, or A&E attendance just before)",
    }
    assert (
        encounters.defaulted_by_reason[
            "Encounter: provider has no ODS code: coded 89999 (non-NHS UK provider)"
        ]
        == 1
    )
    assert quarantine == [
        ("Condition.ndjson.gz", 5, "diagnosis_date", "date in the future"),
        (
            "Encounter.ndjson",
            5,
            "Encounter.subject",
            "the subject Patient was quarantined (invalid NHS number (format or check digit))",
        ),
        ("Encounter.ndjson", 6, "departure_time", "departure_time before arrival_time"),
        ("Encounter.ndjson", 9, "Encounter.subject", "the subject Patient is not in the export"),
        ("Encounter.ndjson", 10, "", "not valid JSON (truncated or malformed line)"),
        ("Patient.ndjson.gz", 3, "Patient.identifier", "invalid NHS number (format or check digit)"),
    ]
    patients = by_file["Patient.ndjson.gz"]
    assert (
        patients.rows_read,
        patients.rows_quarantined,
        patients.rows_excluded_opt_out,
        patients.rows_unmapped,
    ) == (
        4,
        1,
        1,
        2,
    )
    assert patients.defaulted_by_reason == {
        "Patient: no NHS number: person_id is a keyed pseudonym of a local identifier (system|value)": 1,
        "Patient: GP practice not recorded: coded V81999 (not known)": 1,
    }
    conditions = by_file["Condition.ndjson.gz"]
    assert conditions.unmapped_by_reason == {
        "Condition: a later record of a condition already recorded for the person": 1,
        "Condition: SNOMED CT code not in the condition map": 1,
    }
    assert by_file["MedicationRequest.ndjson.gz"].rows_excluded_opt_out == 1
    assert by_file["Procedure.ndjson.gz"].rows_unmapped == 1
    # p4 has no NHS number: a keyed pseudonym of its medical record number, not linkable to NHS numbers.
    assert people == {pseudonymiser.pseudonym("9434765919")}


def test_fhir_and_hes_like_files_give_one_person_the_same_pseudonym(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    paths = write_ndjson(tmp_path / "export", uk_core_export(), broken_line=False)
    spells = tmp_path / "apc_spells.csv"
    spells.write_text(
        "spell_id,nhs_number,gp_practice_code,provider_code,admission_date,discharge_date,admission_method,"
        "admission_source,discharge_method,primary_diagnosis,age,sex\n"
        "S1,9434765919,A81001,RXL,2015-04-01,2015-04-03,21,19,1,J441,80,1\n",
        encoding="utf-8",
    )
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, today=TODAY)
        load_file(warehouse, spells, pseudonymiser=pseudonymiser, today=TODAY)
        people = _rows(warehouse, "SELECT DISTINCT person_id FROM apc_spells")
    assert people == [(pseudonymiser.pseudonym("9434765919"),)]


def test_a_bundle_loads_like_the_same_resources_in_ndjson(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    export = uk_core_export()
    # Bundles refer to their entries by fullUrl.
    entries = []
    for resources in export.values():
        for resource in resources:
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    text = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    text = re.sub(r'"(Patient|Organization|Condition)/([\w-]+)"', r'"urn:uuid:\2"', text)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(text, encoding="utf-8")
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        [result] = load_fhir(
            warehouse, [bundle], pseudonymiser=pseudonymiser, opt_outs=frozenset({"9000000009"}), today=TODAY
        )
        _check_uk_core_tables(warehouse, pseudonymiser)
    assert result.source_format == "fhir-json"
    assert result.rows_read == sum(len(resources) for resources in export.values())
    assert (
        result.rows_read
        == result.rows_loaded + result.rows_quarantined + result.rows_excluded_opt_out + result.rows_unmapped
    )


def test_no_nhs_number_from_a_fhir_export_reaches_the_warehouse_file(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    paths = write_ndjson(tmp_path / "export", uk_core_export())
    warehouse_path = tmp_path / "w.duckdb"
    with Warehouse(warehouse_path) as warehouse:
        load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, today=TODAY)
    numbers = {"9434765919", "9000000009", "9434765918", "M1"}
    content = warehouse_path.read_bytes()
    assert not any(number.encode() in content for number in numbers)
    connection = duckdb.connect(str(warehouse_path), read_only=True)
    for table, column in connection.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR'"
    ).fetchall():
        values = {row[0] for row in connection.execute(f'SELECT DISTINCT "{column}" FROM {table}').fetchall()}
        assert not values & numbers, f"{table}.{column}"
    connection.close()


def test_a_truncated_gzip_file_loads_what_was_read_and_quarantines_the_break(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    export = uk_core_export()
    export["Condition"] = export["Condition"] * 200  # long enough to cut mid-stream
    for index, condition in enumerate(export["Condition"]):
        condition["id"] = f"c{index}"
    paths = write_ndjson(tmp_path / "export", export, broken_line=False)
    conditions = next(path for path in paths if path.name.startswith("Condition"))
    conditions.write_bytes(conditions.read_bytes()[:-40])
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        results = load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, today=TODAY)
    result = next(result for result in results if result.file == conditions.name)
    assert result.quarantine_by_reason.get("file truncated (the compressed stream ends early)") == 1
    assert result.rows_loaded == 2  # diabetes and COPD for p1, earliest records kept
    assert result.rows_read == result.rows_loaded + result.rows_quarantined + result.rows_unmapped


def test_strict_fails_a_fhir_load_with_one_clear_error_and_writes_nothing(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    paths = write_ndjson(tmp_path / "export", uk_core_export())
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        with pytest.raises(DataError) as raised:
            load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, strict=True, today=TODAY)
        assert warehouse.query("SELECT count(*) FROM ingest_batches")[0][0] == 0
    assert "--strict loads nothing" in str(raised.value) and "9434765918" not in str(raised.value)


def test_the_synthea_us_core_sample_loads_and_every_resource_is_accounted_for(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    folder = shared_data("fhir-synthea-10")
    paths = sorted(folder.glob("*.ndjson.gz"))
    with Warehouse(tmp_path / "w.duckdb") as warehouse:
        results = load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, today=TODAY)
        again = load_fhir(warehouse, paths, pseudonymiser=pseudonymiser, today=TODAY)
        status = warehouse.status()
        people = {row[0] for row in warehouse.query("SELECT person_id FROM ae_attendances")}
    lines = {path.name: len(gzip.decompress(path.read_bytes()).splitlines()) for path in paths}
    for result in results:
        assert result.rows_read == lines[result.file]
        assert result.rows_read == (
            result.rows_loaded + result.rows_quarantined + result.rows_excluded_opt_out + result.rows_unmapped
        )
    assert {result.status for result in again} == {"unchanged"}
    by_file = {result.file: result for result in results}
    encounters = by_file["Encounter.ndjson.gz"]
    # Emergency (EMER) encounters and urgent care clinic visits are A&E attendances; the rest of this US
    # primary-care-heavy record has no NHS activity table, and is counted by reason.
    assert status["tables"]["ae_attendances"] == encounters.rows_loaded > 0
    assert encounters.rows_quarantined == 0
    assert sum(encounters.unmapped_by_reason.values()) == encounters.rows_unmapped
    assert status["tables"]["conditions"] == by_file["Condition.ndjson.gz"].rows_loaded > 0
    assert (
        by_file["Patient.ndjson.gz"].defaulted_by_reason[
            "Patient: no NHS number: person_id is a keyed pseudonym of a local identifier (system|value)"
        ]
        == lines["Patient.ndjson.gz"]
    )
    # US Core patients: pseudonyms of the medical record number, system|value.
    records = [
        json.loads(line) for line in gzip.decompress((folder / "Patient.ndjson.gz").read_bytes()).splitlines()
    ]
    mrns = {
        pseudonymiser.identifier_pseudonym(identifier["system"], identifier["value"])
        for record in records
        for identifier in record["identifier"]
        if identifier.get("type", {}).get("coding", [{}])[0].get("code") == "MR"
    }
    assert people and people <= mrns


def test_the_cli_loads_a_fhir_folder_beside_tabular_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, TEST_KEY.decode())
    folder = tmp_path / "export"
    write_ndjson(folder, uk_core_export())
    (folder / "manifest.json").write_text('{"not": "FHIR"}', encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    assert main(["ingest", str(folder), "--warehouse", str(warehouse), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert {result["file"] for result in results} == {path.name for path in folder.iterdir()} - {
        "manifest.json"
    }
    assert main(["warehouse", "status", "--warehouse", str(warehouse), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (
        status["unmapped_by_reason"]["Procedure: no table for this resource type in the canonical schema"]
        == 1
    )
    assert status["quarantine_by_reason"]["invalid NHS number (format or check digit)"] == 1
