"""A system's control total against monthly activity cost, and the operational standards from the
warehouse (A&E 4 hours) and from published counts (RTT, diagnostics, cancer)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from caremodels.budget import load_tariff
from caremodels.budget.system import (
    WAREHOUSE_CANNOT,
    load_standard_counts,
    load_system,
    operational_standards_of,
    practices_of_system,
    system_control_total,
)
from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.indicators import find_indicator, practice_month_counts
from caremodels.indicators.disclosure import round_count
from caremodels.ingest import Pseudonymiser
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from caremodels.warehouse.schema import LOADABLE_TABLES
from tests.conftest import load_tables

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "budget"


@pytest.fixture(scope="module")
def ae_warehouse(
    tmp_path_factory: pytest.TempPathFactory, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> Path:
    return load_tables(
        tmp_path_factory.mktemp("system") / "w.duckdb",
        tiny_economy,
        ("gp_registrations", "apc_spells", "ae_attendances"),
        pseudonymiser,
    )


def _months(frame, codes, year):  # type: ignore[no-untyped-def]
    return frame[
        frame["practice_code"].isin(codes)
        & (frame["month"] >= dt.date(year, 4, 1))
        & (frame["month"] <= dt.date(year + 1, 3, 1))
    ]


def test_control_total_against_monthly_activity_cost(ae_warehouse: Path) -> None:
    system = load_system(EXAMPLES / "system.yaml")
    tariff = load_tariff(EXAMPLES / "tariff.yaml")
    tariff = tariff.model_copy(
        update={
            "lines": tuple(
                line for line in tariff.lines if line.indicator in ("emergency_admissions", "ae_attendances")
            )
        }
    )
    result = system_control_total(system, tariff, ae_warehouse)
    codes = set(practices_of_system(system))
    with Warehouse(ae_warehouse, read_only=True) as warehouse:
        admissions = _months(
            practice_month_counts(warehouse, find_indicator("emergency_admissions")), codes, 2017
        )
        attendances = _months(practice_month_counts(warehouse, find_indicator("ae_attendances")), codes, 2017)
    by_month_admissions = admissions.groupby("month")["numerator"].sum()
    by_month_attendances = attendances.groupby("month")["numerator"].sum()
    population = admissions.groupby("month")["denominator"].sum()
    assert len(result.months) == 12
    for month in result.months:
        expected = (round_count(by_month_admissions[month.month]) or 0) * 1600 + (
            round_count(by_month_attendances[month.month]) or 0
        ) * 150
        assert month.activity_cost == pytest.approx(expected)
        assert month.registered_population == pytest.approx(population[month.month])
        assert month.control_total == pytest.approx(
            result.control_total_per_head * population[month.month] / 12
        )
    assert result.control_total_at_warehouse_population == pytest.approx(
        sum(m.control_total for m in result.months)
    )
    assert result.variance == pytest.approx(
        result.control_total_at_warehouse_population - result.activity_cost
    )
    assert result.assurance_icon in ("pass", "fail", "hit_and_miss")


def test_standards_from_the_warehouse_and_published_counts(ae_warehouse: Path, tmp_path: Path) -> None:
    system = load_system(EXAMPLES / "system.yaml")
    counts_file = tmp_path / "standards.csv"
    lines = ["standard,month,organisation_code,numerator,denominator"]
    for index, month in enumerate(["2017-04", "2017-05", "2017-06", "2017-07", "2017-08", "2017-09"]):
        lines.append(f"rtt_18_weeks,{month},RXL,{900 + index * 5},1000")
        lines.append(f"rtt_18_weeks,{month},RXL,{90},100")  # a second return from the same trust
        lines.append(f"rtt_18_weeks,{month},RR8,10,1000")  # not a member: ignored
    counts_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = {
        r.code: r for r in operational_standards_of(system, ae_warehouse, load_standard_counts(counts_file))
    }
    assert set(results) == {"ae_4_hour", "rtt_18_weeks", "diagnostics_6_weeks", "cancer_62_days"}
    rtt = results["rtt_18_weeks"]
    assert [m.performance for m in rtt.months] == pytest.approx([(990 + i * 5) / 1100 for i in range(6)])
    assert rtt.threshold == 0.92 and rtt.assurance_icon is not None
    assert results["cancer_62_days"].latest is None and "no data" in results["cancer_62_days"].caveats[-1]
    codes = set(practices_of_system(system))
    with Warehouse(ae_warehouse, read_only=True) as warehouse:
        four_hour = _months(
            practice_month_counts(warehouse, find_indicator("ae_four_hour_performance")), codes, 2017
        )
    monthly = four_hour.groupby("month")[["numerator", "denominator"]].sum()
    ae = results["ae_4_hour"]
    assert len(ae.months) == 12
    for month in ae.months:
        row = monthly.loc[month.month]
        assert month.performance == pytest.approx(row["numerator"] / row["denominator"])


def test_bad_standard_counts_are_located(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "standard,month,organisation_code,numerator,denominator\nae,2017-04,RXL,1,2\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match="row 2, field standard"):
        load_standard_counts(path)
    path.write_text(
        "standard,month,organisation_code,numerator,denominator\nrtt_18_weeks,2017-04,RXL,3,2\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="row 2, field numerator"):
        load_standard_counts(path)


def test_system_command_json(ae_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tariff = ae_warehouse.parent / "tariff.yaml"
    tariff.write_text(
        "source: test\nlines:\n  - {indicator: emergency_admissions, component: general_and_acute, unit_cost: 1600}\n"
        "risk_share: {provider_share_of_gain: 0.5, provider_share_of_loss: 0.5}\n",
        encoding="utf-8",
    )
    assert (
        main(
            [
                "budget",
                "system",
                str(EXAMPLES / "system.yaml"),
                "--warehouse",
                str(ae_warehouse),
                "--tariff",
                str(tariff),
                "--json",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["system"]["name"] == "Blackpool and Fylde Coast"
    assert len(document["control_total"]["months"]) == 12 and len(document["standards"]) == 4


def test_diagnostics_waits_cannot_come_from_the_warehouse(ae_warehouse: Path, tmp_path: Path) -> None:
    """The warehouse has no imaging (diagnostic test) waits, so the 6-week standard says it cannot be
    computed from the warehouse, with or without published counts; given DM01-style counts for a
    member organisation, those are used."""
    # The claim holds for the warehouse as it is: no loadable table records diagnostic tests.
    for name, table in LOADABLE_TABLES.items():
        words = " ".join([name, table.description, *(column.name for column in table.columns)]).lower()
        assert "imaging" not in words and "diagnostic test" not in words, name
    system = load_system(EXAMPLES / "system.yaml")
    without = {r.code: r for r in operational_standards_of(system, ae_warehouse)}
    diagnostics = without["diagnostics_6_weeks"]
    assert not diagnostics.computable_from_warehouse and diagnostics.latest is None
    assert diagnostics.caveats[0].startswith("cannot be computed from the warehouse: ")
    assert "imaging" in diagnostics.caveats[0] and "--standards-csv" in diagnostics.caveats[-1]
    assert without["ae_4_hour"].computable_from_warehouse
    assert {code for code, r in without.items() if not r.computable_from_warehouse} == set(WAREHOUSE_CANNOT)
    counts_file = tmp_path / "dm01.csv"
    counts_file.write_text(
        "standard,month,organisation_code,numerator,denominator\n"
        + "".join(f"diagnostics_6_weeks,2017-{month:02d},RXL,{980 + month},1000\n" for month in range(4, 10)),
        encoding="utf-8",
    )
    given = {
        r.code: r for r in operational_standards_of(system, ae_warehouse, load_standard_counts(counts_file))
    }["diagnostics_6_weeks"]
    assert given.latest == pytest.approx(989 / 1000)
    assert given.source == "published counts loaded by the user (member organisations)"
    assert not given.computable_from_warehouse and "imaging" in given.caveats[0]
