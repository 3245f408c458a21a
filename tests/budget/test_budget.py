"""Population budgets: the identities of the method, the shipped data against its source, the
unregistered estimate from either source, and activity cost against the target."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from caremodels.budget import (
    Membership,
    NationalEnvelope,
    activity_comparison,
    load_envelope,
    load_tariff,
    membership_of_site,
    population_budget,
    unregistered_from_csv,
    unregistered_from_warehouse,
)
from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.indicators import find_indicator, practice_month_counts
from caremodels.indicators.disclosure import round_count
from caremodels.ingest import Pseudonymiser, load_file
from caremodels.reference.list_growth import list_scale_at
from caremodels.reference.spread import NEED_COMPONENTS, WeightedPopulation, weighted_populations
from caremodels.synth import SynthResult
from caremodels.warehouse import Warehouse
from tests.conftest import shared_data

ROOT = Path(__file__).resolve().parents[2]
ENVELOPE = ROOT / "docs" / "examples" / "budget" / "national_envelope.yaml"
TARIFF = ROOT / "docs" / "examples" / "budget" / "tariff.yaml"


@pytest.fixture(scope="module")
def envelope() -> NationalEnvelope:
    return load_envelope(ENVELOPE, 2016)


def test_all_practices_share_out_exactly_the_national_envelope(envelope: NationalEnvelope) -> None:
    everyone = Membership(
        name="england", care_model=None, practice_codes=tuple(weighted_populations()), source="test"
    )
    result = population_budget(everyone, envelope, components=NEED_COMPONENTS)
    for line in result.components:
        assert line.budget == pytest.approx(envelope.components[line.component], rel=1e-9)
        assert line.need_index == pytest.approx(1.0, rel=1e-6)
    assert result.budget == pytest.approx(sum(envelope.components.values()), rel=1e-9)


def test_splitting_a_site_into_two_memberships_keeps_its_total(envelope: NationalEnvelope) -> None:
    site = membership_of_site("fylde-coast")
    codes = site.practice_codes
    halves = [
        Membership(name=name, care_model="MCP", practice_codes=part, source="test")
        for name, part in (("first", codes[: len(codes) // 2]), ("second", codes[len(codes) // 2 :]))
    ]
    whole = population_budget(site, envelope)
    parts = [population_budget(half, envelope) for half in halves]
    assert sum(part.budget for part in parts) == pytest.approx(whole.budget, rel=1e-12)
    assert sum(part.registered_population for part in parts) == pytest.approx(whole.registered_population)


def _record(code: str, registered: float, weighted: float) -> WeightedPopulation:
    values = dict.fromkeys(
        ["general_and_acute", "community_services", "mental_health", "maternity", "health_inequalities"],
        weighted,
    )
    values |= {"prescribing": weighted, "core_services": weighted, "primary_medical_care": weighted}
    return WeightedPopulation(
        practice_code=code, ccg_code_2021="00X", icb_code="QAA", registered_population=registered, **values
    )


def test_a_practice_with_need_index_one_gets_the_per_head_price(envelope: NationalEnvelope) -> None:
    # Weighted populations sum to the registered total, as in NHS England's file.
    table = {
        "A00001": _record("A00001", 1000, 1000),
        "A00002": _record("A00002", 2000, 1500),
        "A00003": _record("A00003", 3000, 3500),
    }
    one = Membership(name="one", care_model="PACS", practice_codes=("A00001",), source="test")
    result = population_budget(one, envelope, weighted=table)
    for line in result.components:
        assert line.need_index == pytest.approx(1.0)
        assert line.budget / line.registered_population == pytest.approx(line.price_per_head, rel=1e-12)
        assert line.price_per_head == pytest.approx(
            envelope.components[line.component] / line.registered_population / 6, rel=1e-12
        )
    assert result.budget_per_head == pytest.approx(sum(line.price_per_head for line in result.components))


def test_without_an_unregistered_estimate_the_budget_is_the_registered_budget(
    envelope: NationalEnvelope, tiny_economy: SynthResult
) -> None:
    site = membership_of_site("fylde-coast")
    registered_only = population_budget(site, envelope)
    assert registered_only.budget == registered_only.registered_budget
    assert registered_only.unregistered_population == 0
    estimate = unregistered_from_csv(tiny_economy.unregistered_population, "fylde-coast", 2016)
    with_unregistered = population_budget(site, envelope, unregistered=estimate)
    assert with_unregistered.registered_budget == pytest.approx(registered_only.budget)
    assert with_unregistered.budget == pytest.approx(registered_only.budget * (1 + estimate.per_registered))
    steps = with_unregistered.waterfall
    assert steps[0].pounds + steps[1].pounds + steps[2].pounds == pytest.approx(steps[-1].pounds)
    assert steps[-1].pounds == pytest.approx(with_unregistered.budget)


def test_need_index_of_a_site_matches_the_source_file(envelope: NationalEnvelope) -> None:
    site = membership_of_site("all-together-better-sunderland")
    wanted = set(site.practice_codes)
    sums = {"pop 2022/23": 0.0, "G&A WP": 0.0, "CS WP": 0.0, "Prescr WP": 0.0, "Final PMC WP": 0.0}
    with shared_data("practice_weighted_populations_2024-25.csv").open(
        newline="", encoding="utf-8"
    ) as handle:
        for row in csv.DictReader(handle):
            if row["Practice_Code"] in wanted:
                for column in sums:
                    sums[column] += float(row[column])
    result = population_budget(
        site,
        envelope,
        components=["general_and_acute", "community_services", "prescribing", "primary_medical_care"],
    )
    expected = {
        "general_and_acute": sums["G&A WP"] / sums["pop 2022/23"],
        "community_services": sums["CS WP"] / sums["pop 2022/23"],
        "prescribing": sums["Prescr WP"] / sums["pop 2022/23"],
        "primary_medical_care": sums["Final PMC WP"] / sums["pop 2022/23"],
    }
    for line in result.components:
        assert line.need_index == pytest.approx(expected[line.component], rel=1e-7)
    # Sunderland is deprived: more need than England's average for hospital care.
    assert expected["general_and_acute"] > 1


def test_unregistered_estimate_from_the_warehouse_table_matches_the_csv(
    tmp_path: Path, tiny_economy: SynthResult, pseudonymiser: Pseudonymiser
) -> None:
    path = tmp_path / "w.duckdb"
    # The table caremodels ingest makes from the generator's file.
    with Warehouse(path) as warehouse:
        load_file(warehouse, tiny_economy.unregistered_population, pseudonymiser=pseudonymiser)
    from_table = unregistered_from_warehouse(path, "fylde-coast", 2016)
    # A loader that stored the financial year as its starting calendar year is read the same way.
    second = tmp_path / "w2.duckdb"
    Warehouse(second).close()
    connection = duckdb.connect(str(second))
    connection.execute("DROP TABLE unregistered_population")
    connection.execute(
        "CREATE TABLE unregistered_population AS SELECT area_type, area_code, "
        "CAST(substr(financial_year, 1, 4) AS INTEGER) AS financial_year, registered_population, "
        "unregistered_estimate FROM read_csv_auto(?, header = true)",
        [str(tiny_economy.unregistered_population)],
    )
    connection.close()
    assert unregistered_from_warehouse(second, "fylde-coast", 2016).per_registered == pytest.approx(
        from_table.per_registered
    )
    from_csv = unregistered_from_csv(tiny_economy.unregistered_population, "fylde-coast", 2016)
    assert from_table.per_registered == pytest.approx(from_csv.per_registered)
    assert 0 < from_csv.per_registered < 0.2
    with pytest.raises(DataError, match="no unregistered estimate"):
        unregistered_from_csv(tiny_economy.unregistered_population, "no-such-area", 2016)


def test_envelope_errors_name_the_file_and_year(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no envelope for 2030/31"):
        load_envelope(ENVELOPE, 2030)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: x\nyears:\n  '2016/17': {general_and_acute: -5}\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.yaml"):
        load_envelope(bad, 2016)


def test_activity_cost_against_the_target_with_the_risk_share(
    envelope: NationalEnvelope, tiny_warehouse: Path
) -> None:
    tariff = load_tariff(TARIFF)
    site = membership_of_site("fylde-coast")
    budget = population_budget(site, envelope, components=["general_and_acute"])
    result = activity_comparison(
        budget,
        tariff.model_copy(
            update={"lines": tuple(line for line in tariff.lines if line.indicator == "emergency_admissions")}
        ),
        tiny_warehouse,
        level="site",
        code="fylde-coast",
    )
    # The same activity counted independently, through the indicators' practice-month counts.
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        counts = practice_month_counts(warehouse, find_indicator("emergency_admissions"))
    mine = counts[
        counts["practice_code"].isin(site.practice_codes)
        & (counts["month"] >= dt.date(2016, 4, 1))
        & (counts["month"] <= dt.date(2017, 3, 1))
    ]
    admissions = int(mine["numerator"].sum())
    population = float(mine.groupby("month")["denominator"].sum().mean())
    assert admissions > 7
    published = round_count(admissions)
    assert published is not None and abs(published - admissions) <= 2
    # Priced from the published (rounded) count, so the cost reveals no more than the count.
    assert result.actual == pytest.approx(published * 1600)
    assert result.warehouse_registered_population == pytest.approx(population)
    line = budget.components[0]
    share = tariff.share_of("general_and_acute")
    assert share == 0.45
    assert result.target == pytest.approx(
        line.registered_budget / line.registered_population * population * share
    )
    assert result.variance == pytest.approx(result.target - published * 1600)
    assert result.provider_share == pytest.approx(0.5 * result.variance)
    assert result.provider_share + result.commissioner_share == pytest.approx(result.variance)
    assert result.outcome in ("gain", "loss")


def test_budget_commands_print_json(tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "budget",
                "population",
                "--site",
                "Fylde Coast",
                "--year",
                "2016/17",
                "--envelope",
                str(ENVELOPE),
                "--json",
            ]
        )
        == 0
    )
    [document] = json.loads(capsys.readouterr().out)
    assert document["care_model"] == "MCP"
    assert [line["component"] for line in document["components"]] == [
        "community_services",
        "primary_medical_care",
        "prescribing",
    ]
    assert document["waterfall"][-1]["pounds"] == pytest.approx(document["budget"])
    assert (
        main(
            [
                "budget",
                "activity",
                "--site",
                "fylde-coast",
                "--year",
                "2016/17",
                "--envelope",
                str(ENVELOPE),
                "--components",
                "general_and_acute",
                "--warehouse",
                str(tiny_warehouse),
                "--tariff",
                str(TARIFF),
                "--json",
            ]
        )
        == 1
    )
    # The tiny warehouse holds no A&E or outpatient table: the error says what is missing, in one line.
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "ae_attendances" in error
    assert main(["budget", "population", "--year", "2016/17", "--envelope", str(ENVELOPE)]) == 2


def test_membership_csv_gives_a_budget_per_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codes = membership_of_site("fylde-coast").practice_codes
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "group,practice_code\n"
        + "".join(f"{'north' if index % 2 else 'south'},{code}\n" for index, code in enumerate(codes)),
        encoding="utf-8",
    )
    common = ["--year", "2016/17", "--envelope", str(ENVELOPE), "--json"]
    assert main(["budget", "population", "--membership", str(groups), "--care-model", "MCP", *common]) == 0
    parts = json.loads(capsys.readouterr().out)
    assert [part["membership"] for part in parts] == ["south", "north"]
    assert main(["budget", "population", "--site", "fylde-coast", *common]) == 0
    [whole] = json.loads(capsys.readouterr().out)
    assert sum(part["budget"] for part in parts) == pytest.approx(whole["budget"], rel=1e-12)
    # A group has no care model of its own: without --care-model or --components it is refused.
    assert main(["budget", "population", "--membership", str(groups), *common]) == 1
    assert "--care-model" in capsys.readouterr().err


def test_list_growth_carries_the_populations_to_the_budget_year() -> None:
    site = membership_of_site("fylde-coast")
    early = population_budget(site, load_envelope(ENVELOPE, 2015))
    late = population_budget(site, load_envelope(ENVELOPE, 2018))
    assert late.registered_population / early.registered_population == pytest.approx(
        list_scale_at(dt.date(2018, 10, 1)) / list_scale_at(dt.date(2015, 10, 1)), rel=1e-12
    )
    assert early.weighted_population_year == "2022/23" and early.list_growth < late.list_growth < 1
