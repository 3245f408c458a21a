"""The same people on both sides: `care-record load` fills the store from a synth economy (idempotent),
`care-record extract` writes NDJSON that `caremodels ingest` loads under pseudonyms, with no NHS number
in the warehouse file; the CLI lists demo users and prints tokens the API accepts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from click.testing import CliRunner
from fastapi.testclient import TestClient

from caremodels.care_record import open_store
from caremodels.care_record.app import create_app
from caremodels.care_record.identity import rotate_demo_key
from caremodels.cli import cli
from caremodels.ingest import Pseudonymiser
from caremodels.ingest.fhir import load_fhir
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["-q", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_load_then_extract_then_ingest(
    backend: str,
    new_store_url: Callable[[str], str],
    tiny_economy: SynthResult,
    pseudonymiser: Pseudonymiser,
    tmp_path: Path,
) -> None:
    url = new_store_url(backend)
    _run("care-record", "init", "--store", url)
    folder = tiny_economy.files["gp_registrations"].parent
    loaded = json.loads(
        _run("care-record", "load", "--store", url, "--from", str(folder), "--patients", "150", "--json")
    )
    assert loaded["loaded"]["Patient"] == 150
    assert loaded["loaded"]["Encounter"] > 0
    assert loaded["users"] == 6
    again = json.loads(
        _run("care-record", "load", "--store", url, "--from", str(folder), "--patients", "150", "--json")
    )
    assert sum(again["loaded"].values()) == 0  # idempotent
    assert again["already_present"] == loaded["loaded"]

    users = json.loads(_run("care-record", "users", "--store", url, "--json"))
    assert {user["id"] for user in users} >= {
        "gp",
        "care-home-nurse",
        "radiologist",
        "outside-clinician",
        "privacy-officer",
    }
    assert {user["role_code"] for user in users} >= {"R8000", "R8001", "R0001"}
    store = open_store(url)
    try:
        rotate_demo_key(store)
        token = _run("care-record", "token", "--store", url, "--user", "gp").strip()
        client = TestClient(create_app(store))
        gp = {"Authorization": f"Bearer {token}"}
        practice = next(user["org_code"] for user in users if user["id"] == "gp")
        registrations = pq.read_table(tiny_economy.files["gp_registrations"]).to_pylist()
        number = next(
            row["nhs_number"]
            for row in registrations
            if row["practice_code"] == practice and row["registration_end"] is None
        )
        found = client.get(
            f"/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{number}", headers=gp
        ).json()
        if found["total"]:  # the GP's own patient, if among the 150 loaded
            patient_id = found["entry"][0]["resource"]["id"]
            outside = {
                "Authorization": "Bearer "
                + _run("care-record", "token", "--store", url, "--user", "outside-clinician").strip()
            }
            assert client.get(f"/fhir/Patient/{patient_id}", headers=outside).status_code == 403
    finally:
        store.close()

    out = tmp_path / "extract"
    _run("care-record", "extract", "--store", url, "--out", str(out))
    encounters = [json.loads(line) for line in (out / "Encounter.ndjson").read_text().splitlines()]
    assert len(encounters) == loaded["loaded"]["Encounter"]
    warehouse_path = tmp_path / "warehouse.duckdb"
    with Warehouse(warehouse_path) as warehouse:
        results = load_fhir(warehouse, sorted(out.glob("*.ndjson")), pseudonymiser=pseudonymiser)
    assert all(result.rows_quarantined == 0 for result in results), [
        r.file for r in results if r.rows_quarantined
    ]
    connection = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        rows = sum(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("apc_spells", "ae_attendances", "op_attendances")
        )
    finally:
        connection.close()
    assert rows == len(encounters)
    numbers = {
        identifier["value"]
        for line in (out / "Patient.ndjson").read_text().splitlines()
        for identifier in json.loads(line)["identifier"]
    }
    assert len(numbers) == 150
    content = warehouse_path.read_bytes()
    assert not any(number.encode() in content for number in numbers)


def test_load_validates_every_resource_naming_file_row_and_field(
    new_store_url: Callable[[str], str], tiny_economy: SynthResult, tmp_path: Path
) -> None:
    """An invalid value in any row (here an NHS number failing modulus 11) stops the load with the
    file, the row, the FHIR field and the reason, and without the value; nothing is written."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source = tiny_economy.files["gp_registrations"].parent
    folder = tmp_path / "economy"
    folder.mkdir()
    for path in source.iterdir():
        if path.is_file():
            (folder / path.name).symlink_to(path)
    registrations = pq.read_table(source / "gp_registrations.parquet")
    current = pc.is_null(registrations["registration_end"]).to_pylist()
    numbers = registrations["nhs_number"].to_pylist()
    practices = registrations["practice_code"].to_pylist()
    # The 30th of the 40 patients loaded (by practice and NHS number): not the first, since every
    # resource must be checked.
    loaded = sorted((practices[i], numbers[i], i) for i, is_current in enumerate(current) if is_current)
    row = loaded[29][2]
    good = numbers[row]
    bad = good[:9] + str((int(good[9]) + 1) % 10)
    numbers[row] = bad
    (folder / "gp_registrations.parquet").unlink()
    pq.write_table(
        registrations.set_column(
            registrations.schema.get_field_index("nhs_number"), "nhs_number", pa.array(numbers)
        ),
        folder / "gp_registrations.parquet",
    )
    url = new_store_url("sqlite")
    _run("care-record", "init", "--store", url)
    result = CliRunner().invoke(
        cli, ["-q", "care-record", "load", "--store", url, "--from", str(folder), "--patients", "40"]
    )
    assert result.exit_code != 0
    message = f"{result.output} {result.exception}"
    assert "gp_registrations.parquet" in message
    assert f"row {row + 1}," in message
    assert "field Patient.identifier[0]" in message
    assert "modulus-11" in message
    assert bad not in message and good not in message
    assert json.loads(_run("care-record", "users", "--store", url, "--json")) == []
