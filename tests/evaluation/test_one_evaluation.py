"""One evaluation, one answer: matched controls count any catalogue indicator through the engines,
the command line, the report, the demo's call and the dashboard's give the same care-home figure
with the same comparison pool, and the methods are one registry."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from caremodels.cli import main
from caremodels.dashboard.evaluations import care_home_comparison, controlled_methods
from caremodels.errors import CaremodelsError
from caremodels.evaluation import (
    METHODS,
    REGISTRY,
    before_after_versus_matched,
    evaluate,
    indicator_counts,
    resolve_target,
)
from caremodels.evaluation.claims import resident_rates
from caremodels.evaluation.matched import MatchedDiagnostics, build_cohort
from caremodels.evaluation.monitoring import BaselineDiagnostics
from caremodels.evaluation.result import diagnostics_of
from caremodels.indicators import find_indicator
from caremodels.indicators.reference_engine import ReferenceEngine
from caremodels.ingest import Pseudonymiser
from caremodels.periods import financial_year_bounds
from caremodels.reference import find_site
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import load_tables

SITE = "Wakefield care homes"
SOURCE = Path(__file__).resolve().parents[2] / "src" / "caremodels" / "evaluation"
pytestmark = [
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated"),
]


@pytest.fixture(scope="module")
def economy_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    return load_tables(
        tmp_path_factory.mktemp("one_evaluation") / "warehouse.duckdb",
        tiny_economy,
        (
            "gp_registrations",
            "apc_spells",
            "ambulance_incidents",
            "care_home_residence",
            "conditions",
            "frailty_assessments",
        ),
        pseudonymiser,
    )


def _json(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["--quiet", *arguments, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert isinstance(document, dict)
    return document


def test_matched_controls_on_ambulance_conveyances_count_the_engines_events(
    economy_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An indicator no other method here uses, defined only in its YAML.
    arguments = ["evaluate", "--warehouse", str(economy_warehouse), "--site", SITE, "--method", "matched"]
    document = _json([*arguments, "--indicator", "ambulance_conveyances"], capsys)
    assert document["method"] == "matched" and document["indicator"] == "ambulance_conveyances"
    diagnostics = document["diagnostics"]
    assert isinstance(diagnostics, dict) and diagnostics["matched_treated"] > 0
    assert diagnostics["rate_unit"] == "events per person-year"
    # The residents' outcomes are the engine's events: the pandas reference engine, which shares no
    # code with the DuckDB engine matched controls use, gives the same total over follow-up.
    with Warehouse(economy_warehouse, read_only=True) as warehouse:
        present = set(indicator_counts(warehouse, "ambulance_conveyances")["practice_code"])
        cohort = build_cohort(
            warehouse, resolve_target(present, site=SITE), indicator="ambulance_conveyances"
        )
    engine = ReferenceEngine(economy_warehouse)
    try:
        events = engine.person_day_events(find_indicator("ambulance_conveyances"))
    finally:
        engine.close()
    joined = events.merge(cohort[["person_id", "index_date", "followup_end"]], on="person_id")
    inside = (joined["day"] >= joined["index_date"]) & (joined["day"] <= joined["followup_end"])
    assert cohort["outcome"].sum() == pytest.approx(joined.loc[inside, "numerator"].sum())
    assert cohort["outcome"].sum() > 0


def test_no_indicator_sql_in_the_evaluation_layer() -> None:
    # Event tables are read only through the indicator engines; SQL here builds cohorts.
    event_tables = ("apc_spells", "ae_attendances", "ambulance_incidents", "op_attendances", "referrals")
    for path in SOURCE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for table in event_tables:
            assert not re.search(rf"\b(FROM|JOIN)\s+{table}\b", text, flags=re.IGNORECASE), (path.name, table)


def test_cli_report_and_dashboard_give_one_care_home_figure_with_one_pool(
    economy_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Warehouse(economy_warehouse, read_only=True) as warehouse:
        claim = before_after_versus_matched(warehouse, SITE)
    assert claim.indicator == "care_home_emergency_admissions"
    matched = claim.matched
    assert matched.comparison_pool is not None and matched.comparison_pool.rule == "same_care_model"
    document = _json(
        [
            "evaluate",
            "--warehouse",
            str(economy_warehouse),
            "--site",
            SITE,
            "--method",
            "matched",
            "--indicator",
            "care_home_emergency_admissions",
            "--start",
            "2016-04",
        ],
        capsys,
    )
    estimate = document["estimate"]
    assert isinstance(estimate, dict)
    assert estimate["rate_ratio"] == pytest.approx(matched.estimate.rate_ratio, rel=1e-12)
    assert document["comparison_pool"] == matched.comparison_pool.model_dump(mode="json")
    dashboard, reason = care_home_comparison(economy_warehouse, find_site(SITE).id)
    assert dashboard is not None, reason
    assert dashboard.matched.estimate.rate_ratio == pytest.approx(matched.estimate.rate_ratio, rel=1e-12)
    out = tmp_path / "report.html"
    assert main(["report", "--warehouse", str(economy_warehouse), "--site", SITE, "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    # The report prints signed figures with a true minus sign (U+2212).
    assert f"{matched.estimate.percent_change:+.1f}%".replace("-", "\u2212") in html
    assert "Care-home residents&#39; emergency admissions per resident-year" in html
    assert "comparison pool (same_care_model)" in html
    assert "cannot count" not in html
    # Asked to leave other vanguards out, every output says so and the estimate moves.
    assert main(["--quiet", "evaluate", "--warehouse", str(economy_warehouse), "--site", SITE,
                 "--method", "matched", "--indicator", "care_home_emergency_admissions",
                 "--start", "2016-04", "--pool", "other_vanguards"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "comparison pool (other_vanguards)" in text and "another population-based vanguard" in text


def test_residents_rates_are_per_resident_year_in_every_output(economy_warehouse: Path) -> None:
    # The counts every method reads give the same residents' rate as the care-home claim, not 12 times it.
    with Warehouse(economy_warehouse, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, "care_home_emergency_admissions")
        target = resolve_target(set(counts["practice_code"]), site=SITE)
        (claimed,) = resident_rates(
            warehouse, target.treated_practices, indicator="care_home_emergency_admissions", years=[2015]
        )
    first, last = financial_year_bounds(2015)
    months = pd.to_datetime(counts["month"]).dt.date
    rows = counts[
        counts["practice_code"].isin(target.treated_practices) & (months >= first) & (months <= last)
    ]
    monthly = rows["numerator"].sum() / (rows["denominator"].sum() / 12)
    assert monthly == pytest.approx(claimed.rate, rel=1e-6)
    assert 0.1 < claimed.rate < 5


def test_the_methods_are_one_registry(economy_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tuple(sorted(REGISTRY)) == tuple(sorted(METHODS))
    assert main(["evaluate", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for method in REGISTRY.values():
        assert method.id in help_text
    assert [method.name for method in controlled_methods()] == [
        "difference in differences",
        "synthetic control",
    ]
    with Warehouse(economy_warehouse, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, "emergency_admissions")
        for method in ("baseline", "did", "synthetic"):
            result = evaluate(
                warehouse, indicator="emergency_admissions", method=method, site="Fylde Coast", counts=counts
            )
            assert isinstance(result.diagnostics, REGISTRY[method].diagnostics)
            assert result.comparison_pool is not None
        matched = evaluate(warehouse, indicator="care_home_emergency_admissions", method="matched", site=SITE)
        assert isinstance(matched.diagnostics, REGISTRY["matched"].diagnostics)
        # The typed model is what callers read: another method's model is refused by name.
        assert diagnostics_of(matched, MatchedDiagnostics).matched_treated > 0
        with pytest.raises(CaremodelsError, match="MatchedDiagnostics, not BaselineDiagnostics"):
            diagnostics_of(matched, BaselineDiagnostics)


@pytest.mark.parametrize("module", ["demo.py", "reports.py"])
def test_the_demo_and_the_report_read_typed_diagnostics(module: str) -> None:
    """No dictionary access to diagnostics (``diagnostics["growth"]``, ``.get(...)``): the demo and
    the report read the method's typed model (``diagnostics_of``), which mypy checks."""
    text = (SOURCE.parent / module).read_text(encoding="utf-8")
    assert not re.search(r"diagnostics\s*(\[|\.get\(|\.items\(|\.keys\()", text)
    assert "diagnostics_of(" in text
