"""Features, models, validation and scoring on the tiny economy's warehouse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from xml.etree import ElementTree

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from caremodels.cli import main
from caremodels.errors import CaremodelsError
from caremodels.risk import FittedModels, age_sql, feature_frame, fit, predict, score, validate
from caremodels.risk.segments import SEGMENTS
from caremodels.warehouse import Warehouse
from tests.conftest import TEST_KEY
from tests.risk.conftest import VALIDATION_DATE


@pytest.fixture(scope="module")
def fitted(risk_warehouse: Path) -> FittedModels:
    return fit(risk_warehouse, dt.date(2017, 3, 31))


def test_features_count_what_the_warehouse_holds(risk_warehouse: Path) -> None:
    with Warehouse(risk_warehouse, read_only=True) as store:
        frame = feature_frame(store.connection, VALIDATION_DATE, outcome=True)
        spells = store.connection.execute(
            "SELECT person_id, admission_date, admission_method FROM apc_spells"
        ).df()
    emergency = spells[spells.admission_method.str.startswith("2") | (spells.admission_method == "28")]
    days = pd.to_datetime(emergency.admission_date)
    prior = emergency[(days > "2017-03-31") & (days <= "2018-03-31")].groupby("person_id").size()
    after = emergency[(days > "2018-03-31") & (days <= "2019-03-31")].groupby("person_id").size()
    indexed = frame.set_index("person_id")
    assert (indexed["emergency_admissions_1y"] == prior.reindex(indexed.index, fill_value=0)).all()
    assert (indexed["emergency_admissions_next_year"] == after.reindex(indexed.index, fill_value=0)).all()
    assert frame.person_id.is_unique and len(frame) > 10_000
    assert frame.age.between(0, 120).all() and set(frame.female) == {0, 1}
    # Sources not loaded (A&E, outpatients) read as no activity rather than failing.
    assert (frame.ae_attendances_1y == 0).all()
    assert frame.efi_recorded[frame.age < 60].sum() == 0 and frame.efi_recorded.sum() > 0
    assert frame.care_home.sum() > 0 and frame.hfrs.max() > 0


def test_ages_come_from_one_function_that_also_reads_a_birth_month() -> None:
    connection = duckdb.connect()
    day = dt.date(2018, 3, 31)
    full = age_sql({"date_of_birth"}, day)
    month = age_sql({"birth_month"}, day)
    row = connection.execute(
        f"SELECT {full}, (SELECT {month} FROM (SELECT DATE '1950-04-01' AS birth_month)), "
        f"(SELECT {month} FROM (SELECT DATE '1950-03-01' AS birth_month)) "
        "FROM (SELECT DATE '1950-04-01' AS date_of_birth)"
    ).fetchone()
    # Born in April 1950 (taken as the 1st): 67 on 31 March 2018, as from the full date; March: 68.
    assert row == (67, 67, 68)
    with pytest.raises(CaremodelsError, match="no date of birth"):
        age_sql({"sex"}, day)


def test_validation_reports_each_model_beside_the_oracle(
    risk_warehouse: Path, fitted: FittedModels, risk_oracle: pd.DataFrame
) -> None:
    result = validate(
        risk_warehouse,
        VALIDATION_DATE,
        np.random.default_rng(4),
        models=fitted,
        oracle=risk_oracle,
        replicates=20,
    )
    assert set(result["models"]) == {"cpm", "parr30", "hfrs", "efi", "multimorbidity"}
    oracle = result["oracle"]
    for name, summary in result["models"].items():
        low, high = summary["auroc_interval"]
        assert low < summary["auroc"] < high, name
        # Nobody beats knowing the expected count the admissions were drawn from.
        assert summary["auroc"] < oracle["auroc"], name
        # Recalibrated on the year before: calibrated on the next (the tiny economy is small, so wide).
        assert 0.8 < summary["calibration_slope"] < 1.2, name
        assert summary["caseload"]["size"] == result["caseload_size"]
    assert result["models"]["cpm"]["auroc"] > result["models"]["hfrs"]["auroc"]
    assert result["models"]["cpm"]["auroc"] > 0.65
    with pytest.raises(CaremodelsError, match="temporal split"):
        validate(risk_warehouse, dt.date(2017, 3, 31), np.random.default_rng(1), models=fitted, replicates=10)


def test_scores_are_pseudonymised_and_the_numbers_of_validation(
    risk_warehouse: Path, fitted: FittedModels, tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    summary = score(risk_warehouse, VALIDATION_DATE, fitted, out)
    table = pq.read_table(out).to_pandas()
    assert list(table.columns) == [
        "person_id",
        *(f"risk_{m.name}" for m in fitted.models),
        "segment",
        "tier",
    ]
    assert not any("nhs" in column for column in table.columns)
    assert table.person_id.str.fullmatch(r"[0-9a-f]{64}").all()
    assert summary.people == len(table) and sum(summary.by_tier.values()) == len(table)
    assert summary.by_tier["very_high"] == pytest.approx(0.005 * len(table), rel=0.2)
    assert set(table.segment) <= {name for name, _ in SEGMENTS} | {"healthy"}
    # One path: the risks scored in SQL are the risks validation predicts.
    with Warehouse(risk_warehouse, read_only=True) as store:
        frame = feature_frame(store.connection, VALIDATION_DATE)
    predicted = predict(frame, fitted).assign(person_id=frame.person_id).set_index("person_id")
    scored = table.set_index("person_id").loc[predicted.index]
    assert np.allclose(scored["risk_cpm"], predicted["cpm"], rtol=1e-12)
    assert scored[scored.tier == "very_high"].risk_cpm.min() > scored[scored.tier == "low"].risk_cpm.max()


def test_model_file_round_trips_and_refuses_unknown_terms(fitted: FittedModels, tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    fitted.save(path)
    assert FittedModels.load(path) == fitted
    document = json.loads(path.read_text())
    document["models"][0]["coefficients"]["1; DROP TABLE x"] = 1.0
    path.write_text(json.dumps(document))
    with pytest.raises(CaremodelsError, match="unknown term"):
        FittedModels.load(path)


def test_cli_validate_json_with_the_oracle_and_an_imported_score(
    risk_warehouse: Path,
    tiny_economy: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAREMODELS_PSEUDONYMISATION_KEY", TEST_KEY.decode())
    with Warehouse(risk_warehouse, read_only=True) as store:
        people = store.connection.execute("SELECT DISTINCT person_id FROM gp_registrations ORDER BY 1").df()
    # A stand-in for a licensed score brought as data: a random number per person.
    people["score"] = np.random.default_rng(8).random(len(people))
    imported = tmp_path / "acg.csv"
    people.to_csv(imported, index=False)
    report = tmp_path / "report.html"
    code = main(
        [
            "risk",
            "validate",
            "--warehouse",
            str(risk_warehouse),
            "--oracle",
            str(tiny_economy.out_dir),  # type: ignore[attr-defined]
            "--bootstrap",
            "10",
            "--import-score",
            f"acg={imported}",
            "--report",
            str(report),
            "--figures",
            str(tmp_path / "figures"),
            "--json",
        ]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["oracle"]["auroc"] > document["models"]["cpm"]["auroc"]
    acg = document["models"]["imported_acg"]
    assert acg["auroc_interval"][0] < 0.5 < acg["auroc_interval"][1]
    page = report.read_text()
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "oracle" in page
    figures = sorted((tmp_path / "figures").glob("*.svg"))
    assert {f.name for f in figures} >= {
        "risk-auroc.svg",
        "risk-calibration-cpm.svg",
        "risk-calibration-oracle.svg",
    }
    for figure in figures:
        root = ElementTree.parse(figure).getroot()  # well-formed, standalone SVG
        assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_an_imported_score_with_a_bad_row_names_the_row_not_the_value(tmp_path: Path) -> None:
    from caremodels.errors import DataError
    from caremodels.risk import read_imported_scores

    path = tmp_path / "acg.csv"
    path.write_text("person_id,score\naaa,0.5\nbbb,secret-value\n")
    with pytest.raises(DataError, match=r"row 3.*score") as raised:
        read_imported_scores(path)
    assert "secret-value" not in str(raised.value)
    path.write_text("person_id,value\naaa,0.5\n")
    with pytest.raises(DataError, match="missing column"):
        read_imported_scores(path)


def test_the_monthly_risk_list_ranks_each_practice_by_the_scored_risk_with_its_drivers(
    risk_warehouse: Path, fitted: FittedModels, tmp_path: Path
) -> None:
    from caremodels.risk.caseload import DRIVER_LABELS, risk_list, write_risk_list

    listed = risk_list(risk_warehouse, VALIDATION_DATE, fitted, per_practice=5)
    assert (listed.groupby("practice_code")["rank"].max() <= 5).all()
    assert listed.person_id.str.fullmatch(r"[0-9a-f]{64}").all()  # pseudonyms only
    # One number: the list's risk is the score's, and each practice's list is its highest scores.
    out = tmp_path / "scores.parquet"
    score(risk_warehouse, VALIDATION_DATE, fitted, out)
    scored = pq.read_table(out).to_pandas().set_index("person_id")["risk_cpm"]
    assert np.allclose(listed.risk, scored.loc[listed.person_id].to_numpy(), rtol=1e-12)
    for _, practice in listed.groupby("practice_code"):
        assert practice.sort_values("rank").risk.is_monotonic_decreasing
    drivers = [json.loads(value) for value in listed.drivers]
    assert all(len(items) <= 3 for items in drivers)
    assert set().union(*map(set, drivers)) <= set(DRIVER_LABELS.values())
    # The people of highest risk are driven by their recent hospital use.
    assert any("emergency admissions in the last year" in items for items in drivers)
    assert write_risk_list(listed, tmp_path / "list.parquet").exists()
    with pytest.raises(CaremodelsError, match="at least one person"):
        risk_list(risk_warehouse, VALIDATION_DATE, fitted, per_practice=0)
