from __future__ import annotations

import json
from pathlib import Path

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
