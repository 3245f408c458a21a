"""FHIR resources checked one by one: impossible structures quarantined with their location, opt-outs
on any NHS number, ambiguous identities never loaded, resources from a database through the same path."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from caremodels.ingest import Pseudonymiser, load_fhir, load_fhir_resources
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY
from tests.ingest.test_fhir import _encounter, _nhs

TODAY = dt.date(2026, 1, 1)
OPTED_OUT = "9434765919"
OTHER = "9434765870"
THIRD = "9434765889"
PSEUDONYMISER = Pseudonymiser(TEST_KEY)


def _patient(identifier: str, *numbers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": identifier,
        "identifier": list(numbers),
        "gender": "female",
        "birthDate": "1950-06-15",
        **extra,
    }


def _attendances(patient: str, count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        _encounter(
            f"{patient}-e{index}",
            patient,
            "EMER",
            f"2016-01-{index + 1:02d}T10:00:00Z",
            f"2016-01-{index + 1:02d}T11:00:00Z",
            serviceProvider={
                "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "RXL"}
            },
        )
        for index in range(first, first + count)
    ]


def _write(folder: Path, resources: list[dict[str, Any]], name: str = "export.ndjson") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(resource) + "\n" for resource in resources), encoding="utf-8")
    return path


def _quarantine(warehouse: Path) -> list[tuple[Any, ...]]:
    with Warehouse(warehouse, read_only=True) as store:
        return store.query("SELECT row_number, field, reason FROM quarantine ORDER BY row_number")


def _people(warehouse: Path) -> set[str]:
    with Warehouse(warehouse, read_only=True) as store:
        return {str(row[0]) for row in store.query("SELECT DISTINCT person_id FROM ae_attendances")}


def test_impossible_structures_are_quarantined_with_their_location_and_the_rest_loads(tmp_path: Path) -> None:
    good = _attendances("p1", 3)
    bad_period = {**good[0], "id": "bad-period", "period": "2016-01-01"}
    bad_identifier = {**good[0], "id": "bad-identifier", "identifier": 42}
    bad_class = {**good[0], "id": "bad-class", "class": "EMER"}
    resources = [_patient("p1", _nhs(OTHER)), *good, bad_period, bad_identifier, bad_class]
    path = _write(tmp_path / "export", resources)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"resourceType": "Encounter", "extension": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        handle.write('{"resourceType": "Observation", "id": "o"\n')  # truncated
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as store:
        [result] = load_fhir(store, [path], pseudonymiser=PSEUDONYMISER, today=TODAY)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (9, 3, 5)
    quarantine = _quarantine(warehouse)
    assert quarantine[:3] == [
        (5, "Encounter.period", "must be Period, not a string"),
        (6, "Encounter.identifier", "must be Identifier[], not a number"),
        (7, "Encounter.class", "must be Coding or CodeableConcept[], not a string"),
    ]
    assert quarantine[3][0] == 8 and "nested more than 64 levels deep" in quarantine[3][2]
    assert quarantine[4][0] == 9 and "not valid JSON" in quarantine[4][2]


def test_an_opted_out_second_or_superseded_nhs_number_excludes_the_person(tmp_path: Path) -> None:
    second = _patient("p1", _nhs(OTHER), _nhs(OPTED_OUT) | {"use": "old"})
    superseded = _patient("p2", _nhs(THIRD), _nhs(OPTED_OUT) | {"period": {"end": "2014-01-01"}})
    resources = [second, superseded, *_attendances("p1", 11), *_attendances("p2", 2, first=20)]
    path = _write(tmp_path / "export", resources)
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as store:
        [result] = load_fhir(
            store, [path], pseudonymiser=PSEUDONYMISER, opt_outs=frozenset({OPTED_OUT}), today=TODAY
        )
    assert (result.rows_loaded, result.rows_excluded_opt_out) == (0, 15)


def test_two_patients_sharing_an_id_are_quarantined_with_every_record_that_refers_to_them(
    tmp_path: Path,
) -> None:
    opted_out = _patient("p1", _nhs(OPTED_OUT))
    impostor = _patient("p1", _nhs(OTHER))
    resources = [
        _patient("p2", _nhs(THIRD)),
        opted_out,
        impostor,
        *_attendances("p1", 11),
        *_attendances("p2", 2, 20),
    ]
    path = _write(tmp_path / "export", resources)
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as store:
        [result] = load_fhir(
            store, [path], pseudonymiser=PSEUDONYMISER, opt_outs=frozenset({OPTED_OUT}), today=TODAY
        )
    assert (result.rows_loaded, result.rows_quarantined) == (2, 13)
    assert _people(warehouse) == {PSEUDONYMISER.pseudonym(THIRD)}
    quarantine = _quarantine(warehouse)
    assert quarantine[0][1:] == ("Patient.id", quarantine[0][2]) and "ambiguous identity" in quarantine[0][2]
    assert {field for _, field, _ in quarantine[2:]} == {"Encounter.subject"}
    # The same Patient twice, identical, is one person, not an ambiguity.
    again = _write(tmp_path / "again", [opted_out, opted_out, *_attendances("p1", 1)])
    with Warehouse(tmp_path / "w2.duckdb") as store:
        [result] = load_fhir(store, [again], pseudonymiser=PSEUDONYMISER, today=TODAY)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)


def test_two_current_nhs_numbers_are_an_ambiguous_identity(tmp_path: Path) -> None:
    path = _write(tmp_path / "export", [_patient("p1", _nhs(OTHER), _nhs(THIRD)), *_attendances("p1", 2)])
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as store:
        [result] = load_fhir(store, [path], pseudonymiser=PSEUDONYMISER, today=TODAY)
    assert (result.rows_loaded, result.rows_quarantined) == (0, 3)
    assert _quarantine(warehouse)[0][1:] == (
        "Patient.identifier",
        "ambiguous identity: more than one current NHS number (quarantined, never loaded)",
    )


def test_resources_from_a_database_load_like_the_same_file(tmp_path: Path) -> None:
    resources = [_patient("p1", _nhs(OTHER)), _patient("p2", _nhs(OPTED_OUT)), *_attendances("p1", 3)]
    resources += [*_attendances("p2", 2, 10), {"resourceType": "Encounter", "period": "x"}, "not a resource"]
    from_file = tmp_path / "file.duckdb"
    with Warehouse(from_file) as store:
        [by_file] = load_fhir(
            store,
            [_write(tmp_path / "export", resources[:-1])],
            pseudonymiser=PSEUDONYMISER,
            opt_outs=frozenset({OPTED_OUT}),
            today=TODAY,
        )
    from_store = tmp_path / "store.duckdb"
    with Warehouse(from_store) as store:
        result = load_fhir_resources(
            store,
            iter(resources),
            "operational-store/encounters",
            pseudonymiser=PSEUDONYMISER,
            opt_outs=frozenset({OPTED_OUT}),
            today=TODAY,
        )
        again = load_fhir_resources(
            store,
            resources,
            "operational-store/encounters",
            pseudonymiser=PSEUDONYMISER,
            opt_outs=frozenset({OPTED_OUT}),
            today=TODAY,
        )
    assert (result.rows_read, result.rows_loaded, result.rows_excluded_opt_out, result.rows_quarantined) == (
        9,
        3,
        3,
        2,
    )
    assert (by_file.rows_loaded, by_file.rows_excluded_opt_out) == (3, 3) and again.status == "unchanged"
    assert _people(from_file) == _people(from_store) == {PSEUDONYMISER.pseudonym(OTHER)}
    assert _quarantine(from_store) == [
        (8, "Encounter.period", "must be Period, not a string"),
        (9, "resourceType", "not a FHIR resource (no resourceType)"),
    ]


def test_conditions_split_over_two_files_keep_the_earliest_record_once(tmp_path: Path) -> None:
    def diabetes(identifier: str, onset: str) -> dict[str, Any]:
        return {
            "resourceType": "Condition",
            "id": identifier,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "73211009"}]},
            "subject": {"reference": "Patient/p1"},
            "onsetDateTime": onset,
        }

    folder = tmp_path / "export"
    paths = [
        _write(folder, [_patient("p1", _nhs(OTHER))], "Patient.ndjson"),
        _write(folder, [diabetes("c1", "2012-01-01")], "Condition_1.ndjson"),
        _write(folder, [diabetes("c2", "2010-05-01")], "Condition_2.ndjson"),
    ]
    warehouse = tmp_path / "w.duckdb"
    with Warehouse(warehouse) as store:
        results = {
            result.file: result
            for result in load_fhir(store, paths, pseudonymiser=PSEUDONYMISER, today=TODAY)
        }
        [(date,)] = store.query("SELECT diagnosis_date FROM conditions")
    assert (results["Condition_1.ndjson"].rows_loaded, results["Condition_1.ndjson"].rows_unmapped) == (0, 1)
    assert (results["Condition_2.ndjson"].rows_loaded, results["Condition_2.ndjson"].rows_unmapped) == (1, 0)
    assert date == dt.date(2010, 5, 1)
