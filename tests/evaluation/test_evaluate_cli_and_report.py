"""caremodels evaluate, caremodels report and the evaluation runner, on a tiny synthetic economy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from caremodels.cli import main
from caremodels.errors import CaremodelsError
from caremodels.evaluation import METHODS, evaluate, funding_conditions, indicator_counts
from caremodels.ingest import Pseudonymiser
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import load_tables

from .care_home_simulation import TREATED_SITE, simulate_care_homes

RESULT_KEYS = {
    "method",
    "indicator",
    "target",
    "periods",
    "estimate",
    "diagnostics",
    "caveats",
    "comparison_pool",
}
ESTIMATE_KEYS = {"rate_ratio", "ci_low", "ci_high", "percent_change", "p_value"}


def _run_json(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    assert main(arguments) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def care_home_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    """The tiny economy with its care home, condition and frailty tables, for matched controls."""
    return load_tables(
        tmp_path_factory.mktemp("care_homes") / "warehouse.duckdb",
        tiny_economy,
        ("gp_registrations", "apc_spells", "care_home_residence", "conditions", "frailty_assessments"),
        pseudonymiser,
    )


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_the_tiny_economys_care_home_site(
    method: str, care_home_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["evaluate", "--warehouse", str(care_home_warehouse), "--site", "Wakefield care homes"]
    document = _run_json(["--quiet", *arguments, "--method", method, "--json"], capsys)
    assert isinstance(document, dict) and set(document) == RESULT_KEYS
    assert document["method"] == method
    estimate = document["estimate"]
    assert all(np.isfinite(estimate[key]) for key in ("rate_ratio", "ci_low", "ci_high"))
    assert estimate["ci_low"] <= estimate["rate_ratio"] <= estimate["ci_high"]
    assert document["diagnostics"]["inference"]["placebos"] >= 3


def test_progress_goes_to_stderr_unless_quiet(
    care_home_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["evaluate", "--warehouse", str(care_home_warehouse), "--site", "Fylde Coast"]
    assert main([*arguments, "--method", "synthetic", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["method"] == "synthetic"  # stdout holds only the JSON
    assert "Running synthetic control for Fylde Coast" in captured.err
    assert main(["--quiet", *arguments, "--method", "synthetic", "--json"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("method", ["baseline", "did", "synthetic"])
def test_every_practice_level_method_prints_the_one_result_shape(
    method: str, tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _run_json(
        [
            "evaluate",
            "--warehouse",
            str(tiny_warehouse),
            "--site",
            "Fylde Coast",
            "--method",
            method,
            "--json",
        ],
        capsys,
    )
    assert isinstance(document, dict)
    assert set(document) == RESULT_KEYS
    assert set(document["estimate"]) == ESTIMATE_KEYS
    assert document["method"] == method
    assert document["target"]["site"] == "fylde-coast"
    estimate = document["estimate"]
    assert estimate["ci_low"] <= estimate["rate_ratio"] <= estimate["ci_high"]
    assert estimate["percent_change"] == pytest.approx((estimate["rate_ratio"] - 1) * 100)


def test_matched_method_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "care_homes.duckdb"
    simulate_care_homes(
        path, np.random.default_rng(21), rate_ratio=0.85, treated_people=300, comparison_people=1200
    )
    document = _run_json(
        ["evaluate", "--warehouse", str(path), "--site", TREATED_SITE, "--method", "matched", "--json"],
        capsys,
    )
    assert isinstance(document, dict) and set(document) == RESULT_KEYS
    assert document["method"] == "matched"
    assert document["diagnostics"]["max_abs_smd_after"] < 0.1
    assert main(["evaluate", "--warehouse", str(path), "--site", TREATED_SITE, "--method", "matched"]) == 0
    text = capsys.readouterr().out
    assert "largest |SMD|" in text and "rate ratio" in text


def test_text_output_names_the_diagnostics(tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["evaluate", "--warehouse", str(tiny_warehouse), "--site", "Fylde Coast", "--method", "synthetic"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "RMSPE" in text and "placebos" in text


def test_year_to_date_comparison_uses_the_same_months_of_the_baseline(
    tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _run_json(
        [
            "evaluate",
            "--warehouse",
            str(tiny_warehouse),
            "--care-model",
            "MCP",
            "--comparison",
            "2016-04..2016-12",
            "--json",
        ],
        capsys,
    )
    assert isinstance(document, dict)
    assert document["periods"] == {"baseline": "2014-04 to 2014-12", "comparison": "2016-04 to 2016-12"}


def test_funding_conditions_for_every_pacs_and_mcp_site(
    tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = _run_json(
        ["evaluate", "--warehouse", str(tiny_warehouse), "--funding-conditions", "--json"], capsys
    )
    assert isinstance(documents, list) and documents
    for document in documents:
        condition = document["diagnostics"]["funding_condition_2017"]
        assert document["target"]["care_model"] in ("PACS", "MCP")
        required = {"PACS": 3.0, "MCP": 1.0}[document["target"]["care_model"]]
        assert condition["required_points_below_rest"] == required
        # Met only when the point meets the threshold and the interval lies below 1 (no difference).
        meets = document["diagnostics"]["difference_percentage_points"] <= -required
        assert condition["met"] == (meets and document["estimate"]["ci_high"] < 1)
        assert condition["verdict"] in ("met", "not met", "cannot tell")
        if condition["verdict"] == "not met":
            assert document["estimate"]["ci_low"] > condition["threshold_ratio"]


def test_usage_errors_exit_2(tiny_warehouse: Path) -> None:
    assert main(["evaluate", "--warehouse", str(tiny_warehouse)]) == 2
    assert (
        main(["evaluate", "--warehouse", str(tiny_warehouse), "--site", "Fylde Coast", "--care-model", "MCP"])
        == 2
    )
    assert (
        main(["evaluate", "--warehouse", str(tiny_warehouse), "--site", "Fylde Coast", "--start", "2015"])
        == 2
    )


def test_runner_knows_every_method_and_refuses_a_site_with_no_practices(tiny_warehouse: Path) -> None:
    assert METHODS == ("baseline", "did", "matched", "synthetic")
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, "emergency_admissions")
        with pytest.raises(CaremodelsError, match="no practices"):
            evaluate(warehouse, indicator="emergency_admissions", method="did", site="Dudley", counts=counts)
        excluded = evaluate(
            warehouse,
            indicator="emergency_admissions",
            method="did",
            site="Fylde Coast",
            exclude_sites=["Morecambe Bay"],
            counts=counts,
        )
        everyone = evaluate(
            warehouse, indicator="emergency_admissions", method="did", site="Fylde Coast", counts=counts
        )
    assert excluded.diagnostics["comparison_practices"] < everyone.diagnostics["comparison_practices"]
    assert funding_conditions(counts)


def test_report_sets_each_estimate_beside_the_sites_own_figure(tiny_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert (
        main(["report", "--warehouse", str(tiny_warehouse), "--site", "Fylde Coast", "--out", str(out)]) == 0
    )
    html = out.read_text(encoding="utf-8")
    for heading in (
        "Against the rest of England (programme monitoring)",
        "Difference in differences",
        "Synthetic control",
        "Site's own before-and-after",
        "event study",
    ):
        assert heading in html
    assert html.count("<svg") >= 4  # estimates, trend, event study, synthetic control
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_for_a_care_home_site_explains_the_gap(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "wakefield.duckdb"
    simulate_care_homes(
        path,
        np.random.default_rng(16),
        rate_ratio=0.95,
        effect_start=dt.date(2016, 4, 1),
        transient_excess=0.35,
    )
    out = tmp_path / "wakefield.html"
    assert main(["report", "--warehouse", str(path), "--site", TREATED_SITE, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Why the site's own figure and the matched estimate differ" in html
    assert "regression to the mean" in html
    assert "Balance: standardised mean differences" in html
    # The practices' own characteristics are adjusted for in the outcome model, not matched on, and
    # the balance table says so.
    assert "(adjusted for, not matched on)" in html
    # The matched comparison residents' areas are named, and their counts add up to those used.
    came_from = re.search(r"The matched comparison residents came from(.*?)</p>", html, flags=re.S)
    assert came_from is not None and "CCG" in came_from.group(1)
    listed = [int(count) for count in re.findall(r", (\d+) residents?", came_from.group(1))]
    used = re.search(r"matched with (\d+) of", html)
    assert used is not None and listed and sum(listed) == int(used.group(1))
