"""The generator's files: reproducible, valid against the canonical schema, and coherent across tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from caremodels.errors import DataError
from caremodels.ingest import validate
from caremodels.reference import site_memberships, vanguard_sites
from caremodels.synth import (
    SynthConfig,
    SynthResult,
    default_effects_path,
    generate,
    is_valid_nhs_number,
    load_effects,
)
from caremodels.synth.providers import acute_provider_codes
from caremodels.warehouse.schema import SOURCE_TABLES

SHORT = {"scale": "tiny", "seed": 11, "start": dt.date(2015, 4, 1), "end": dt.date(2016, 9, 1)}
AMBULANCE_TRUSTS = {"RRU", "RX6", "RX7", "RX8", "RX9", "RYA", "RYC", "RYD", "RYE", "RYF", "R1F"}


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def short_economy(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """Eighteen months of the tiny economy with default effects and a FHIR export."""
    config = SynthConfig.model_validate(SHORT | {"effects": load_effects(default_effects_path())})
    return generate(config, tmp_path_factory.mktemp("short"), fhir_patients=150)


def _query(result: SynthResult) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    for table, path in result.files.items():
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return connection


def test_same_seed_gives_byte_identical_files_whatever_the_workers(
    tmp_path: Path, short_economy: SynthResult
) -> None:
    again = generate(
        SynthConfig.model_validate(SHORT | {"effects": load_effects(default_effects_path())}),
        tmp_path / "again",
        fhir_patients=150,
        workers=2,
    )
    assert _digests(again.out_dir) == _digests(short_economy.out_dir)


def test_another_seed_gives_different_files(tmp_path: Path, short_economy: SynthResult) -> None:
    other = generate(
        SynthConfig.model_validate(SHORT | {"seed": 12, "effects": load_effects(default_effects_path())}),
        tmp_path / "other",
    )
    ours, theirs = _digests(short_economy.out_dir), _digests(other.out_dir)
    for table in SOURCE_TABLES:
        assert ours[f"{table}.parquet"] != theirs[f"{table}.parquet"], table


def test_csv_holds_the_same_rows_as_parquet(tmp_path: Path, short_economy: SynthResult) -> None:
    csv = generate(
        SynthConfig.model_validate(SHORT | {"effects": load_effects(default_effects_path())}),
        tmp_path / "csv",
        file_format="csv",
    )
    assert csv.events == short_economy.events
    assert csv.files["apc_spells"].suffix == ".csv"
    header = csv.files["ae_attendances"].read_text(encoding="utf-8").splitlines()[0]
    assert header.replace('"', "").split(",") == [c.name for c in SOURCE_TABLES["ae_attendances"].columns]


def test_every_table_is_written_and_every_row_passes_validation(tiny_economy: SynthResult) -> None:
    assert set(tiny_economy.files) == set(SOURCE_TABLES)
    for table, spec in SOURCE_TABLES.items():
        frame = pq.read_table(tiny_economy.files[table]).to_pandas()
        assert len(frame) == tiny_economy.events[table]
        assert len(frame) > 0, table
        frame["_row"] = range(1, len(frame) + 1)
        outcome = validate(frame, spec, today=dt.date(2026, 1, 1))
        assert outcome.problems.empty, (table, outcome.problems.head().to_dict("records"))


def test_people_have_valid_distinct_test_range_nhs_numbers(tiny_economy: SynthResult) -> None:
    registrations = pq.read_table(tiny_economy.files["gp_registrations"]).to_pandas()
    assert registrations["nhs_number"].is_unique
    assert registrations["nhs_number"].str.startswith("999").all()
    assert all(
        is_valid_nhs_number(number) for number in registrations["nhs_number"].sample(2000, random_state=1)
    )
    assert len(registrations) == tiny_economy.people


def test_tiny_economy_has_its_four_sites_and_the_rest_of_england(tiny_economy: SynthResult) -> None:
    truth = json.loads((tiny_economy.out_dir / "truth.json").read_text())
    sites = {row["site"] for row in truth["realised"]}
    assert {
        "fylde-coast",
        "better-care-together-morecambe-bay",
        "connecting-care-wakefield",
        "all-together-better-sunderland",
        "rest_of_england",
    } <= sites
    assert 20 <= tiny_economy.practices <= 30


def test_providers_are_site_trusts_or_real_type1_trusts(tiny_economy: SynthResult) -> None:
    connection = _query(tiny_economy)
    acute = set(acute_provider_codes())
    used = {
        row[0] for row in connection.execute("SELECT DISTINCT provider_code FROM ae_attendances").fetchall()
    }
    assert used <= acute
    trusts = {
        row[0]
        for row in connection.execute(
            "SELECT DISTINCT ambulance_trust_code FROM ambulance_incidents"
        ).fetchall()
    }
    assert trusts <= AMBULANCE_TRUSTS
    # Practices of a site use one of its own providers.
    site = next(s for s in vanguard_sites() if s.id == "fylde-coast")
    fylde = set(site_memberships()["fylde-coast"].practice_codes)
    pairs = connection.execute("SELECT DISTINCT gp_practice_code, provider_code FROM apc_spells").fetchall()
    codes = {provider for practice, provider in pairs if practice in fylde}
    assert codes and codes <= set(site.providers)
    # Ambulance conveyances go to the practice's acute trust; calls that were not conveyed go nowhere.
    assert connection.execute(
        "SELECT count(*) FROM ambulance_incidents WHERE (conveyed = 'Y') != (destination_provider_code IS NOT NULL)"
    ).fetchone() == (0,)


def test_deaths_end_registrations_and_nothing_happens_after_them(tiny_economy: SynthResult) -> None:
    connection = _query(tiny_economy)
    deaths = connection.execute(
        "SELECT count(*) FROM gp_registrations WHERE end_reason = 'death'"
    ).fetchone()[0]
    assert deaths > 0
    # Every death in hospital (discharge method 4) ends on the registration's death date.
    mismatched = connection.execute(
        """SELECT count(*) FROM apc_spells s JOIN gp_registrations r USING (nhs_number)
           WHERE s.discharge_method = '4' AND (r.end_reason IS DISTINCT FROM 'death' OR r.registration_end != s.discharge_date)"""
    ).fetchone()[0]
    assert mismatched == 0
    in_hospital = connection.execute(
        "SELECT count(*) FROM apc_spells WHERE discharge_method = '4'"
    ).fetchone()[0]
    assert 0.3 < in_hospital / deaths < 0.65  # 47% of deaths in England in 2015 were in hospital
    for table, column in (
        ("apc_spells", "admission_date"),
        ("ae_attendances", "arrival_time::DATE"),
        ("op_attendances", "appointment_date"),
        ("ambulance_incidents", "call_time::DATE"),
        ("referrals", "referral_date"),
    ):
        after = connection.execute(
            f"""SELECT count(*) FROM {table} e JOIN gp_registrations r USING (nhs_number)
                WHERE r.end_reason = 'death' AND {column} > r.registration_end"""
        ).fetchone()[0]
        assert after == 0, table


def test_admitted_ae_attendances_are_followed_by_an_emergency_admission(tiny_economy: SynthResult) -> None:
    connection = _query(tiny_economy)
    unpaired = connection.execute(
        """SELECT count(*) FROM ae_attendances a WHERE a.disposal = 'admitted' AND NOT EXISTS (
             SELECT 1 FROM apc_spells s WHERE s.nhs_number = a.nhs_number AND s.admission_method = '21'
               AND s.admission_date = a.arrival_time::DATE)"""
    ).fetchone()[0]
    assert unpaired == 0
    admitted_type1 = connection.execute(
        "SELECT avg((disposal = 'admitted')::INT) FROM ae_attendances WHERE department_type = '1'"
    ).fetchone()[0]
    # NHS England A&E data 2016-19: 27.5-30% of type 1 attendances were admitted.
    assert 0.2 < admitted_type1 < 0.35


def test_care_homes_hold_older_residents_of_their_practice(tiny_economy: SynthResult) -> None:
    connection = _query(tiny_economy)
    rows = connection.execute(
        """SELECT c.care_home_id, c.care_home_type, c.practice_code = r.practice_code AS same_practice,
                  date_diff('year', r.date_of_birth, c.residence_start) AS age
           FROM care_home_residence c JOIN gp_registrations r USING (nhs_number)"""
    ).fetchall()
    assert len(rows) > 50
    assert all(same for _, _, same, _ in rows)
    assert {kind for _, kind, _, _ in rows} == {"residential", "nursing"}
    assert sum(age >= 65 for *_, age in rows) / len(rows) > 0.9
    # A home has one type.
    assert connection.execute(
        "SELECT count(*) FROM (SELECT care_home_id FROM care_home_residence GROUP BY 1 HAVING count(DISTINCT care_home_type) > 1)"
    ).fetchone() == (0,)
    # Residents' admissions come from care homes (HES admission source 54, 65 or 85).
    share = connection.execute(
        """SELECT avg((s.admission_source IN ('54', '65', '85'))::INT) FROM apc_spells s
           JOIN care_home_residence c USING (nhs_number)
           WHERE s.admission_date BETWEEN c.residence_start AND coalesce(c.residence_end, DATE '2099-01-01')"""
    ).fetchone()[0]
    assert share == 1.0


def test_referrals_after_advice_point_at_a_request_that_was_referred(tiny_economy: SynthResult) -> None:
    connection = _query(tiny_economy)
    linked, wrong = connection.execute(
        """SELECT count(*), count(*) FILTER (WHERE a.outcome IS DISTINCT FROM 'referred' OR a.nhs_number != r.nhs_number
                                          OR r.referral_date < a.response_date)
           FROM referrals r LEFT JOIN advice_and_guidance a ON a.request_id = r.advice_request_id
           WHERE r.advice_request_id IS NOT NULL"""
    ).fetchone()
    assert linked > 0 and wrong == 0
    referred = connection.execute(
        "SELECT count(*) FROM advice_and_guidance WHERE outcome = 'referred'"
    ).fetchone()[0]
    assert referred == linked


def test_unregistered_population_is_estimated_for_every_area(tiny_economy: SynthResult) -> None:
    import csv

    assert tiny_economy.unregistered_population is not None
    with tiny_economy.unregistered_population.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["area_type"] for row in rows} == {"ccg", "site", "england"}
    for row in rows:
        registered, unregistered = int(row["registered_population"]), int(row["unregistered_estimate"])
        assert registered > 0
        assert 0.002 * registered - 1 <= unregistered <= 0.03 * registered + 1
    manifest = json.loads((tiny_economy.out_dir / "manifest.json").read_text())
    assert manifest["unregistered_population"]["by_financial_year"]["2015/16"]["unregistered_estimate"] > 0


def test_fhir_export_uses_uk_core_identifiers_and_resolves(short_economy: SynthResult) -> None:
    resources = {
        kind: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for kind, path in short_economy.fhir_files.items()
    }
    patients = resources["Patient"]
    assert 100 <= len(patients) <= 220  # about 150 asked for
    for patient in patients:
        (identifier,) = patient["identifier"]
        assert identifier["system"] == "https://fhir.nhs.uk/Id/nhs-number"
        assert is_valid_nhs_number(identifier["value"])
    organisations = {r["id"] for r in resources["Organization"]}
    for organisation in resources["Organization"]:
        assert organisation["identifier"][0]["system"] == "https://fhir.nhs.uk/Id/ods-organization-code"
    patient_ids = {p["id"] for p in patients}
    assert resources["Encounter"] and resources["Condition"]
    for resource in resources["Encounter"] + resources["Condition"]:
        assert resource["subject"]["reference"].removeprefix("Patient/") in patient_ids
    for encounter in resources["Encounter"]:
        assert encounter["serviceProvider"]["reference"].removeprefix("Organization/") in organisations


def test_fhir_export_loads_through_the_fhir_ingest_without_problems(
    tmp_path: Path, short_economy: SynthResult
) -> None:
    from caremodels.ingest import Pseudonymiser, load_fhir
    from caremodels.warehouse import Warehouse

    with Warehouse(tmp_path / "fhir.duckdb") as warehouse:
        results = load_fhir(
            warehouse,
            sorted(short_economy.fhir_files.values()),
            pseudonymiser=Pseudonymiser(b"synth-test-key-0123456789abcdef"),
            today=dt.date(2026, 1, 1),
        )
    by_file = {result.file: result for result in results}
    assert by_file["Encounter.ndjson"].rows_quarantined == 0
    assert by_file["Encounter.ndjson"].rows_unmapped == 0
    assert by_file["Encounter.ndjson"].rows_loaded > 0
    assert by_file["Condition.ndjson"].rows_quarantined == 0


def test_an_unknown_site_in_the_effects_fails_before_anything_is_written(tmp_path: Path) -> None:
    effects = tmp_path / "effects.yaml"
    effects.write_text(
        "effects:\n  - target: {site: Atlantis}\n    measure: referrals\n    relative_change: -0.1\n    start: 2015-04\n"
    )
    with pytest.raises(DataError, match="Atlantis"):
        generate(SynthConfig.model_validate(SHORT | {"effects": load_effects(effects)}), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_bad_effects_file_names_the_field(tmp_path: Path) -> None:
    effects = tmp_path / "effects.yaml"
    effects.write_text(
        "effects:\n  - target: {site: Fylde Coast}\n    measure: happiness\n    relative_change: -0.1\n    start: 2015-04\n"
    )
    with pytest.raises(DataError) as caught:
        load_effects(effects)
    assert caught.value.field == "effects.0.measure"
