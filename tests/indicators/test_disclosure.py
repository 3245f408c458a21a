from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caremodels.errors import CaremodelsError, DataError
from caremodels.indicators import LEVELS, PERIOD_KINDS, catalogue, find_indicator, indicator_results
from caremodels.indicators.disclosure import (
    DisclosurePolicy,
    apply_disclosure_control,
    load_disclosure_policy,
    round_count,
)
from caremodels.indicators.engines import CountingEngine
from caremodels.indicators.output import OUTPUT_COLUMNS, compute_to_file, publish, write_results
from caremodels.reference import DisclosureControl

ENGLAND = "E92000001"

pytestmark = [
    # Third-party deprecations (Ibis 12 with pandas 3 and DuckDB 1.5), not ours.
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated"),
]


def test_hes_rules() -> None:
    assert [round_count(n) for n in (0, 1, 7, 8, 12, 13, 15, 1002)] == [0, None, None, 10, 10, 15, 15, 1000]


def test_rows_with_a_small_count_are_suppressed_with_their_rates() -> None:
    frame = pd.DataFrame({"numerator": [3, 12, 0], "denominator": [100, 100, 4], "rate": [30.0, 120.0, 0.0]})
    published = apply_disclosure_control(frame, ["numerator", "denominator"], withheld_columns=["rate"])
    assert published["suppressed"].tolist() == [True, False, True]
    assert published["numerator"].tolist()[1] == 10
    assert pd.isna(published["rate"][0]) and published["rate"][1] == 120.0  # from the true count


def test_rules_can_be_configured() -> None:
    rules = DisclosureControl(suppress_from=1, suppress_to=9, round_to=10)
    assert round_count(9, rules) is None and round_count(14, rules) == 10 and round_count(15, rules) == 20


@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=50))
def test_no_published_count_is_between_1_and_7(counts: list[int]) -> None:
    published = apply_disclosure_control(pd.DataFrame({"count": counts}), ["count"])
    values = published["count"].dropna()
    assert not values.between(1, 7).any()
    assert (values % 5 == 0).all()
    assert (abs(values - pd.Series(counts)[values.index]) <= 2).all()


def test_counts_that_are_not_whole_are_controlled_too() -> None:
    # 0.4 resident-years may be a single person; 7.9 would round to 10 without hiding a small count.
    published = apply_disclosure_control(pd.DataFrame({"years": [0.0, 0.4, 7.9, 8.0, 12.6]}), ["years"])
    assert published["suppressed"].tolist() == [False, True, True, False, False]
    assert published["years"].tolist()[3:] == [10, 15]


def test_hidden_event_counts_suppress_a_row() -> None:
    frame = pd.DataFrame({"numerator": [40.0], "denominator": [1000.0], "events": [3], "value": [40.0]})
    published = apply_disclosure_control(
        frame, ["numerator", "denominator"], withheld_columns=["value"], also_suppress_on=["events"]
    )
    assert published["suppressed"].tolist() == [True]
    assert "events" in published.columns and pd.isna(published["value"][0])


def test_disclosure_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "suppress_from: 1\nsuppress_to: 9\nround_to: 10\nexempt_national: true\n", encoding="utf-8"
    )
    policy = load_disclosure_policy(path)
    assert policy == DisclosurePolicy(DisclosureControl(suppress_from=1, suppress_to=9, round_to=10), True)
    path.write_text("suppress_from: 1\nsuppress_to: 7\nround_to: 0\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_disclosure_policy(path)
    assert caught.value.field == "round_to"


@pytest.mark.parametrize("indicator_id", [definition.id for definition in catalogue()])
def test_no_export_carries_a_count_of_1_to_7(
    duckdb_fixture_engine: CountingEngine, groups_file: Path, tmp_path: Path, indicator_id: str
) -> None:
    """Every indicator at every level and period of the small fixture (where most counts are small),
    published and written in each format, then read back."""
    results = indicator_results(
        duckdb_fixture_engine,
        find_indicator(indicator_id),
        levels=LEVELS,
        periods=PERIOD_KINDS,
        groups_file=groups_file,
    )
    published = publish(results)
    assert published["suppressed"].any()  # the fixture is small: every indicator has small counts
    for suffix in (".csv", ".json", ".parquet"):
        out_file = tmp_path / f"{indicator_id}{suffix}"
        write_results(published, out_file)
        exported = _read(out_file)
        assert list(exported.columns) == OUTPUT_COLUMNS and len(exported) == len(results)
        for column in ("numerator", "denominator"):
            values = pd.to_numeric(exported[column]).dropna()
            assert not values.between(1, 7).any(), f"{suffix} {column}"
            assert (values % 5 == 0).all()
        hidden = exported[exported["suppressed"].astype(bool)]
        assert hidden[["numerator", "denominator", "value", "ci_low", "ci_high"]].isna().all().all()


def test_compute_to_file_writes_published_results(fixture_warehouse: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "referrals.csv"
    rows = compute_to_file(
        fixture_warehouse, "gp_referrals", level="ccg", period="quarter", out_file=out_file
    )
    exported = pd.read_csv(out_file)
    assert list(exported.columns) == OUTPUT_COLUMNS and len(exported) == rows
    assert exported["suppressed"].all()  # one or two referrals a quarter per CCG
    with pytest.raises(CaremodelsError, match=r"\.csv, \.parquet or \.json"):
        compute_to_file(
            fixture_warehouse, "gp_referrals", level="ccg", period="quarter", out_file=tmp_path / "x.xlsx"
        )


def test_exempt_national_rows_are_published_as_they_are(fixture_warehouse: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "england.csv"
    compute_to_file(
        fixture_warehouse,
        "deaths_in_hospital",
        level="england",
        period="financial_year",
        out_file=out_file,
        policy=DisclosurePolicy(exempt_national=True),
    )
    exported = pd.read_csv(out_file)
    assert exported["numerator"].tolist() == [1, 1]  # s14 in 2014/15, s20 in 2015/16
    assert not exported["suppressed"].any()


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".json":
        return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    return pd.read_parquet(path)


# --- Disclosure control that survives arithmetic (issue 11, item 4) ---------------------------------


def _true_rows(rows: list[dict[str, object]]) -> pd.DataFrame:
    import datetime as dt

    base = {
        "indicator_id": "emergency_admissions",
        "period": "financial_year",
        "period_start": dt.date(2015, 4, 1),
        "period_end": dt.date(2016, 3, 31),
        "events": 0,
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    frame["events"] = frame["numerator"].astype("int64")
    return frame


def _with_statistics(frame: pd.DataFrame, multiplier: int = 1000) -> pd.DataFrame:
    from caremodels.stats import crude_rate_ci_arrays

    interval = crude_rate_ci_arrays(frame["numerator"], frame["denominator"], multiplier=multiplier)
    return frame.assign(value=interval.value, ci_low=interval.lower, ci_high=interval.upper)


def test_values_and_intervals_come_from_the_published_counts() -> None:
    """ci_low / value and value x denominator give the rounded count back, not the true one."""
    from caremodels.stats import poisson_count_limits

    true = _with_statistics(
        _true_rows([{"level": "england", "code": "E92000001", "numerator": 52.0, "denominator": 10_003.0}])
    )
    published = publish(true).iloc[0]
    assert published["numerator"] == 50 and published["denominator"] == 10_005
    ratios = poisson_count_limits(np.arange(1, 200.0)).lower / np.arange(1, 200.0)
    recovered = int(np.argmin(np.abs(ratios - published["ci_low"] / published["value"]))) + 1
    assert recovered == 50  # the true count (52) is not recoverable
    assert round(published["value"] * published["denominator"] / 1000) == 50


def test_a_lone_suppressed_child_gets_a_complementary_suppression() -> None:
    """A CCG and its practices: one practice of 3 would be the CCG minus the others."""
    from caremodels.reference import practices

    ccg = practices()[0].ccg_code
    members = [p.practice_code for p in practices() if p.ccg_code == ccg][:3]
    counts = [3.0, 40.0, 120.0]
    rows = [
        {"level": "practice", "code": c, "numerator": n, "denominator": 5000.0}
        for c, n in zip(members, counts, strict=True)
    ]
    rows.append({"level": "ccg", "code": ccg, "numerator": sum(counts), "denominator": 15_000.0})
    published = publish(_with_statistics(_true_rows(rows)), present_practices=members)
    assert published["suppressed"].tolist() == [True, True, False, False]  # the 40 goes with the 3
    without = publish(_with_statistics(_true_rows(rows)), DisclosurePolicy(secondary_suppression=False))
    assert without["suppressed"].tolist() == [True, False, False, False]


def test_months_within_a_year_are_protected() -> None:
    import datetime as dt

    rows = []
    for month in range(12):
        start = dt.date(2015 + (month + 3) // 12, (month + 3) % 12 + 1, 1)
        end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
        count = 2.0 if month == 5 else 30.0 + month
        rows.append(
            {
                "level": "england",
                "code": ENGLAND,
                "numerator": count,
                "denominator": 5000.0,
                "period": "month",
                "period_start": start,
                "period_end": end,
            }
        )
    total = sum(float(row["numerator"]) for row in rows)  # type: ignore[arg-type]
    rows.append({"level": "england", "code": ENGLAND, "numerator": total, "denominator": 5000.0})
    published = publish(_with_statistics(_true_rows(rows)))
    assert published["suppressed"].sum() == 2 and published["suppressed"].iloc[5]
    assert not published["suppressed"].iloc[-1]  # the year is published; a second month is not


def test_a_small_complement_of_a_proportion_is_suppressed() -> None:
    from caremodels.stats import proportion_ci_arrays

    frame = _true_rows(
        [
            {"level": "england", "code": ENGLAND, "numerator": 95.0, "denominator": 100.0},
            {"level": "site", "code": "X", "numerator": 80.0, "denominator": 100.0},
        ]
    ).assign(indicator_id="ae_four_hour_performance")
    interval = proportion_ci_arrays(frame["numerator"], frame["denominator"])
    frame = frame.assign(value=interval.value, ci_low=interval.lower, ci_high=interval.upper)
    published = publish(frame)
    assert published["suppressed"].tolist() == [True, False]  # 5 who waited longer than 4 hours
    assert publish(frame, DisclosurePolicy(control_complements=False))["suppressed"].tolist() == [
        False,
        False,
    ]


def test_person_counts_in_diagnostics() -> None:
    from caremodels.indicators.disclosure import controlled_counts, publish_count

    assert publish_count(243) == 245 and publish_count(6) is None and publish_count(None) is None
    diagnostics = {"treated": 243, "controls": [68, 5], "balance": {"smd": 0.04, "matched": True}}
    assert controlled_counts(diagnostics) == {
        "treated": 245,
        "controls": [70, None],
        "balance": {"smd": 0.04, "matched": True},
    }


def test_policy_file_carries_every_option(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("secondary_suppression: false\nsignificant_figures: 3\n", encoding="utf-8")
    policy = load_disclosure_policy(path)
    assert not policy.secondary_suppression and policy.significant_figures == 3
    assert policy.rules == DisclosureControl(suppress_from=1, suppress_to=7, round_to=5)
    path.write_text("round_2: 5\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_disclosure_policy(path)
    assert caught.value.field == "round_2"


def _attack_module() -> Any:
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "validation" / "disclosure_attack.py"
    spec = importlib.util.spec_from_file_location("disclosure_attack", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["disclosure_attack"] = module
    spec.loader.exec_module(module)
    return module


ATTACKED = [
    "emergency_admissions",
    "emergency_admissions_standardised",
    "ae_four_hour_performance",
    "emergency_bed_days",
]


def test_attack_on_the_cli_exports_recovers_no_small_count(tiny_warehouse: Path) -> None:
    """The attacker's script (validation/disclosure_attack.py) on a tiny warehouse's exports of four
    indicators (a crude rate, a standardised rate, a proportion, bed days) at every level and period:
    interval inversion, rate x denominator, differencing and complements."""
    attack = _attack_module()
    from caremodels.indicators import PERIOD_KINDS, indicator_results_many
    from caremodels.indicators.output import open_engine

    engine = open_engine("duckdb", tiny_warehouse)
    try:
        results = indicator_results_many(
            engine,
            [find_indicator(one) for one in ATTACKED],
            levels=["practice", "ccg", "site", "care_model", "rest_of_england", "england"],
            periods=PERIOD_KINDS,
        )
    finally:
        engine.close()
    true = pd.concat(list(results.values()), ignore_index=True)
    published = publish(true)
    report = attack.attack(attack.cells_from_table(published, "cli"), attack.truth_of(true))
    assert published["suppressed"].any()
    assert report.correct_small == 0
    # A claim is a guess among the five counts a rounded count may be: right by chance 1 in 5.
    assert report.correct <= max(3, len(report.claims) / 3), report.line("cli")
    # Before: every published crude rate gave its exact count back (ci_low / value).
    naive = publish(true, DisclosurePolicy(significant_figures=None)).assign(
        value=true["value"], ci_low=true["ci_low"], ci_high=true["ci_high"]
    )
    naive_report = attack.attack(attack.cells_from_table(naive, "naive"), attack.truth_of(true))
    assert naive_report.correct > 10 * max(1, report.correct)


def test_two_separate_exports_cannot_be_differenced(tiny_warehouse: Path, tmp_path: Path) -> None:
    """A CCG's months from one call, its practices' months from another: every export is a part of
    one published hierarchy, so no relation across the two holds exactly one suppressed count."""
    attack = _attack_module()
    from caremodels.indicators import indicator_results_many
    from caremodels.indicators.output import open_engine

    indicator = "emergency_admissions"
    cells, published = [], []
    for level in ("ccg", "practice"):
        out_file = tmp_path / f"{level}.csv"
        compute_to_file(tiny_warehouse, indicator, level=level, period="month", out_file=out_file)
        table = pd.read_csv(out_file)
        published.append(table)
        cells += attack.cells_from_table(table, f"caremodels indicators compute --level {level}")
    engine = open_engine("duckdb", tiny_warehouse)
    try:
        true = pd.concat(
            list(
                indicator_results_many(
                    engine, [find_indicator(indicator)], levels=["ccg", "practice"], periods=["month"]
                ).values()
            ),
            ignore_index=True,
        )
    finally:
        engine.close()
    report = attack.attack(cells, attack.truth_of(true))
    assert sum(int(table["suppressed"].sum()) for table in published) > 0
    assert report.correct_small == 0
    assert report.bounded == 0, "a suppressed count is the one unknown of a CCG and its practices"
    # The same two tables published each in its own call, as before: the attack bounds many.
    separate = [publish(true[true["level"] == level]) for level in ("ccg", "practice")]
    before = attack.attack(
        [cell for i, table in enumerate(separate) for cell in attack.cells_from_table(table, f"call {i}")],
        attack.truth_of(true),
    )
    assert before.bounded > 10
