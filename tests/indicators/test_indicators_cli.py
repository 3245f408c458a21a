"""caremodels indicators list | show | compute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from caremodels.cli import main
from caremodels.indicators import catalogue
from caremodels.indicators.output import OUTPUT_COLUMNS

pytestmark = [
    # Third-party deprecations (Ibis 12 with pandas 3 and DuckDB 1.5), not ours.
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in listed] == [definition.id for definition in catalogue()]
    assert {row["interval"] for row in listed} == {"byar_or_exact", "dobson", "wilson", "none"}


def test_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", "show", "ae_four_hour_performance"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["statistic"] == "proportion" and shown["interval_method"] == "wilson"
    assert shown["numerator"]["where"] == [{"field": "duration_minutes", "max": 240}]


def test_show_unknown_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["indicators", "show", "nope"]) == 1
    assert "no indicator 'nope'" in capsys.readouterr().err


def test_compute_csv_by_ccg_and_quarter(fixture_warehouse: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "referrals.csv"
    arguments = ["--quiet", "indicators", "compute", "--warehouse", str(fixture_warehouse)]
    assert (
        main(
            [
                *arguments,
                "--indicator",
                "gp_referrals",
                "--level",
                "ccg",
                "--period",
                "quarter",
                "--out",
                str(out_file),
            ]
        )
        == 0
    )
    exported = pd.read_csv(out_file)
    assert list(exported.columns) == OUTPUT_COLUMNS
    assert set(exported["code"]) == {"00R", "02M", "03R", "12F", "01H"}
    assert exported["period_start"].min() == "2014-04-01" and exported["period_end"].max() == "2016-03-31"


def test_compute_narrowed_months_with_rules_file(fixture_warehouse: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("suppress_from: 1\nsuppress_to: 0\nround_to: 1\n", encoding="utf-8")  # no control
    out_file = tmp_path / "admissions.json"
    arguments = [
        "--quiet",
        "indicators",
        "compute",
        "--warehouse",
        str(fixture_warehouse),
        "--level",
        "england",
    ]
    assert (
        main(
            [
                *arguments,
                "--indicator",
                "emergency_admissions",
                "--from",
                "2015-01",
                "--to",
                "2015-03",
                "--disclosure",
                str(rules),
                "--out",
                str(out_file),
            ]
        )
        == 0
    )
    exported: list[dict[str, Any]] = json.loads(out_file.read_text(encoding="utf-8"))
    # January-March 2015: s08, s21 and s27; s09 and s22; s16 and s23.
    assert [(row["period_start"], row["numerator"]) for row in exported] == [
        ("2015-01-01", 3),
        ("2015-02-01", 2),
        ("2015-03-01", 2),
    ]


def test_compute_pcn_without_groups_is_a_usage_error(
    fixture_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = [
        "indicators",
        "compute",
        "--warehouse",
        str(fixture_warehouse),
        "--indicator",
        "gp_referrals",
    ]
    assert main([*arguments, "--level", "pcn", "--out", str(tmp_path / "x.csv")]) == 2
    error = capsys.readouterr().err
    assert "not shipped" in error and len(error.strip().splitlines()) == 1


def test_compute_bad_month_is_a_usage_error(fixture_warehouse: Path, tmp_path: Path) -> None:
    arguments = [
        "indicators",
        "compute",
        "--warehouse",
        str(fixture_warehouse),
        "--indicator",
        "gp_referrals",
    ]
    assert main([*arguments, "--from", "April", "--out", str(tmp_path / "x.csv")]) == 2


def test_compute_on_spark_matches_duckdb(
    fixture_warehouse: Path, groups_file: Path, tmp_path: Path, spark_session: Any
) -> None:
    files = {}
    for engine in ("duckdb", "spark"):
        files[engine] = tmp_path / f"{engine}.parquet"
        arguments = [
            "--quiet",
            "indicators",
            "compute",
            "--warehouse",
            str(fixture_warehouse),
            "--engine",
            engine,
        ]
        assert (
            main(
                [
                    *arguments,
                    "--indicator",
                    "ae_attendances",
                    "--indicator",
                    "gp_referrals",
                    "--level",
                    "group",
                    "--groups",
                    str(groups_file),
                    "--period",
                    "financial_year",
                    "--out",
                    str(files[engine]),
                ]
            )
            == 0
        )
    duckdb_rows, spark_rows = (pd.read_parquet(path) for path in files.values())
    pd.testing.assert_frame_equal(duckdb_rows, spark_rows)
    assert set(duckdb_rows["indicator_id"]) == {"ae_attendances", "gp_referrals"}
    assert not spark_session.sparkContext._jsc.sc().isStopped()  # the test session's Spark is left running


def test_compute_says_what_each_figure_is_and_offers_a_per_period_rate(
    fixture_warehouse: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("suppress_from: 1\nsuppress_to: 0\nround_to: 1\n", encoding="utf-8")  # no control
    arguments = ["--quiet", "indicators", "compute", "--warehouse", str(fixture_warehouse), "--disclosure"]
    arguments += [
        str(rules),
        "--indicator",
        "emergency_admissions",
        "--level",
        "practice",
        "--period",
        "month",
    ]
    annual, per_month = tmp_path / "annual.csv", tmp_path / "per-month.csv"
    assert main([*arguments, "--out", str(annual)]) == 0
    assert main([*arguments, "--rate-basis", "per-period", "--out", str(per_month)]) == 0
    yearly, monthly = pd.read_csv(annual), pd.read_csv(per_month)
    assert set(yearly["unit"]) == {"per 1,000 registered patients per year"}
    assert set(monthly["unit"]) == {"per 1,000 registered patients per month"}
    assert set(yearly["title"]) == {"Emergency admissions per 1,000 registered patients"}
    row = yearly[(yearly["code"] == "P81004") & (yearly["period_start"] == "2014-04-01")].iloc[0]
    assert row["name"] == "Elizabeth Street Surgery"
    # 2 admissions, 3 patients: 8,000 per 1,000 a year, 666.7 per 1,000 in the month (rounded once).
    assert (row["numerator"], row["denominator"], row["value"]) == (2, 3, 8000.0)
    same = monthly[(monthly["code"] == "P81004") & (monthly["period_start"] == "2014-04-01")].iloc[0]
    assert same["value"] == 666.7
    # No output carries 15 significant figures.
    for value in pd.concat([yearly, monthly])[["value", "ci_low", "ci_high"]].stack():
        assert len(f"{value:.15g}".replace("-", "").replace(".", "").lstrip("0")) <= 6, value
