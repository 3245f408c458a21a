"""Planted effects and non-causal factors: they appear in the data exactly as truth.json reports, and
truth.json reports them at the size planted."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from caremodels.synth import SynthConfig, SynthResult, generate, load_effects
from caremodels.synth.rates import ADVICE_EFFECT_REFERRED

EFFECTS = """
effects:
  - {target: {site: fylde-coast}, measure: emergency_admissions, relative_change: -0.5, start: 2016-04}
  - {target: {site: fylde-coast}, measure: emergency_bed_days, relative_change: -0.3, start: 2016-04}
  - {target: {site: fylde-coast, cohort: extensive_care}, measure: prescribing_cost, relative_change: -0.3, start: 2016-04}
  - {target: {care_model: PACS}, measure: ae_attendances, relative_change: -0.4, start: 2016-04}
  - {target: {site: better-care-together-morecambe-bay}, measure: referrals, relative_change: -0.3, start: 2016-04}
  - {target: {site: all-together-better-sunderland}, measure: first_outpatient, relative_change: -0.4, start: 2016-04}
  - {target: {site: all-together-better-sunderland}, measure: ambulance_incidents, relative_change: 0.5, start: 2016-04}
  - {target: {site: connecting-care-wakefield}, measure: elective_admissions, relative_change: 0.4, start: 2016-04}
  - target: {care_model: EHCH, cohort: care_home_residents}
    measure: emergency_admissions
    relative_change: -0.5
    start: 2016-04
non_causal:
  - target: {site: all-together-better-sunderland}
    measure: ae_attendances
    relative_change: 1.0
    start: 2015-04
    end: 2016-03
    reason: regression_to_the_mean
"""
# (site, measure, cohort, planted multiplier) in 2016/17, when every effect is in full.
PLANTED = [
    ("fylde-coast", "emergency_admissions", "all", 0.5),
    # Bed days fall with the admissions and again with the shorter stays: 0.5 x 0.7.
    ("fylde-coast", "emergency_bed_days", "all", 0.35),
    ("fylde-coast", "prescribing_cost", "extensive_care", 0.7),
    ("better-care-together-morecambe-bay", "ae_attendances", "all", 0.6),
    ("better-care-together-morecambe-bay", "referrals", "all", 0.7),
    ("all-together-better-sunderland", "first_outpatient", "all", 0.6),
    ("all-together-better-sunderland", "ambulance_incidents", "all", 1.5),
    ("connecting-care-wakefield", "elective_admissions", "all", 1.4),
    ("connecting-care-wakefield", "emergency_admissions", "care_home_residents", 0.5),
]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    folder = tmp_path_factory.mktemp("effects")
    (folder / "effects.yaml").write_text(EFFECTS, encoding="utf-8")
    # Nine full-size practices of the region (two years): enough care-home residents for their cohort.
    config = SynthConfig(
        scale="region",
        fraction=0.04,
        seed=5,
        start=dt.date(2015, 4, 1),
        end=dt.date(2017, 3, 1),
        effects=load_effects(folder / "effects.yaml"),
    )
    return generate(config, folder / "economy")


def _truth(result: SynthResult) -> dict[str, Any]:
    return json.loads((result.out_dir / "truth.json").read_text(encoding="utf-8"))


def _by_year(truth: dict[str, Any], site: str, measure: str, cohort: str, year: str) -> tuple[float, float]:
    for row in truth["realised_by_year"]:
        if (row["site"], row["measure"], row["cohort"], row["financial_year"]) == (
            site,
            measure,
            cohort,
            year,
        ):
            return row["events_with_effect"], row["events_without_effect"]
    raise KeyError((site, measure, cohort, year))


@pytest.mark.parametrize(("site", "measure", "cohort", "multiplier"), PLANTED)
def test_truth_reports_each_effect_at_its_planted_size(
    planted: SynthResult, site: str, measure: str, cohort: str, multiplier: float
) -> None:
    truth = _truth(planted)
    before_with, before_without = _by_year(truth, site, measure, cohort, "2015/16")
    assert before_with == before_without  # nothing before the start
    with_effect, without_effect = _by_year(truth, site, measure, cohort, "2016/17")
    assert without_effect > 10
    # Thinning is binomial (standard error sqrt(m (1 - m) / n)); additions are Poisson. Bed days and
    # pounds are sums of skewed amounts, so they get a wider allowance.
    error = math.sqrt(max(multiplier * abs(1 - multiplier), multiplier) / without_effect)
    allowance = 4 * error + (0.08 if measure in ("emergency_bed_days", "prescribing_cost") else 0.0)
    assert abs(with_effect / without_effect - multiplier) < allowance, (with_effect, without_effect)


def test_the_rest_of_england_is_untouched(planted: SynthResult) -> None:
    for row in _truth(planted)["realised_by_year"]:
        if row["site"] == "rest_of_england":
            assert row["events_with_effect"] == row["events_without_effect"], row


def test_referrals_fall_through_advice_and_guidance(planted: SynthResult) -> None:
    (advice,) = _truth(planted)["advice_and_guidance"]
    assert advice["site"] == "better-care-together-morecambe-bay"
    share = advice["referred_after_advice"] / advice["requests_instead_of_referral"]
    error = math.sqrt(
        ADVICE_EFFECT_REFERRED * (1 - ADVICE_EFFECT_REFERRED) / advice["requests_instead_of_referral"]
    )
    # Morecambe Bay: of 2,422 patients who would have been referred, 820 were.
    assert abs(share - 820 / 2422) < 4 * error


def test_non_causal_factor_moves_both_worlds_and_is_reported_apart(planted: SynthResult) -> None:
    truth = _truth(planted)
    (factor,) = truth["non_causal"]
    assert factor["reason"] == "regression_to_the_mean"
    high_with, high_without = _by_year(
        truth, "all-together-better-sunderland", "ae_attendances", "all", "2015/16"
    )
    later_with, later_without = _by_year(
        truth, "all-together-better-sunderland", "ae_attendances", "all", "2016/17"
    )
    assert high_with == high_without and later_with == later_without
    # Doubled in its window: the naive before-and-after is about -50% with no effect at all.
    assert 1.6 < high_with / later_with < 2.5


def _site_counts(result: SynthResult) -> dict[tuple[str, str, str], float]:
    """Events by site, measure and financial year counted from the files, as an analyst would."""
    from caremodels.reference import site_memberships

    connection = duckdb.connect()
    for table, path in result.files.items():
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    connection.execute("CREATE TABLE sites (site VARCHAR, practice_code VARCHAR)")
    members = [(site, code) for site, m in site_memberships().items() for code in m.practice_codes]
    connection.executemany("INSERT INTO sites VALUES (?, ?)", members)
    fy = "CASE WHEN month({0}) >= 4 THEN year({0}) ELSE year({0}) - 1 END"
    queries = {
        "emergency_admissions": (
            "apc_spells",
            "admission_date",
            "count(*)",
            "admission_method IN ('21','22','23','24','25','2A','2B','2C','2D','28')",
        ),
        "emergency_bed_days": (
            "apc_spells",
            "admission_date",
            "sum(date_diff('day', admission_date, discharge_date))",
            "admission_method IN ('21','22','23','24','25','2A','2B','2C','2D','28')",
        ),
        "elective_admissions": (
            "apc_spells",
            "admission_date",
            "count(*)",
            "admission_method IN ('11','12','13')",
        ),
        "ae_attendances": ("ae_attendances", "arrival_time", "count(*)", "TRUE"),
        "first_outpatient": (
            "op_attendances",
            "appointment_date",
            "count(*)",
            "first_attendance IN ('1','3') AND attended IN ('5','6')",
        ),
        "ambulance_incidents": ("ambulance_incidents", "call_time", "count(*)", "TRUE"),
    }
    counts: dict[tuple[str, str, str], float] = {}
    for measure, (table, date, value, where) in queries.items():
        rows = connection.execute(
            f"""SELECT coalesce(s.site, 'rest_of_england'), {fy.format(date)}, {value}
                FROM {table} e LEFT JOIN sites s ON s.practice_code = e.gp_practice_code
                WHERE {where} GROUP BY ALL"""
        ).fetchall()
        for site, year, count in rows:
            counts[(site, measure, f"{year}/{(year + 1) % 100:02d}")] = float(count)
    return counts


def test_the_files_hold_exactly_the_events_truth_json_reports(tiny_economy: SynthResult) -> None:
    counts = _site_counts(tiny_economy)
    checked = 0
    for row in _truth(tiny_economy)["realised_by_year"]:
        key = (row["site"], row["measure"], row["financial_year"])
        if row["cohort"] != "all" or row["measure"] not in {measure for _, measure, _ in counts}:
            continue
        assert counts.get(key, 0.0) == row["events_with_effect"], key
        checked += 1
    assert checked > 100


def test_default_effects_reproduce_the_seed_results_in_truth(tiny_economy: SynthResult) -> None:
    truth = _truth(tiny_economy)
    effects = {
        (e["target"].get("site"), e["target"].get("care_model"), e["measure"]) for e in truth["effects"]
    }
    assert ("Fylde Coast", None, "emergency_admissions") in effects
    assert ("Morecambe Bay", None, "referrals") in effects
    assert (None, "EHCH", "emergency_admissions") in effects
    wakefield = [f for f in truth["non_causal"] if f["target"]["site"] == "Wakefield care homes"]
    assert {f["measure"] for f in wakefield} == {
        "emergency_admissions",
        "emergency_bed_days",
        "ae_attendances",
        "ambulance_incidents",
    }
    assert all(f["reason"] == "regression_to_the_mean" for f in wakefield)
    # Fylde Coast extensive care: about -19% emergency admissions once in full (2017/18 onwards).
    with_effect, without_effect = _by_year(
        truth, "fylde-coast", "emergency_admissions", "extensive_care", "2018/19"
    )
    assert 0.65 < with_effect / without_effect < 0.95


def test_effects_file_schema_is_published(tmp_path: Path) -> None:
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "effects.schema.json").read_text(
            encoding="utf-8"
        )
    )
    assert "non_causal" in schema["properties"]
    assert "extensive_care" in json.dumps(schema)
