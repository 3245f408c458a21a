"""The real published A&E statistics (NHS England, April 2016 to March 2019) load as an aggregate
source, and every type 1 trust's 4-hour performance charts with the same limits and signals as
``caremodels.evaluation.spc`` gives on the file read directly (the validation script's method)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from caremodels.cli import main
from caremodels.evaluation.spc import spc
from caremodels.indicators.published import four_hour_performance, group_four_hour_performance
from caremodels.ingest.aggregates import load_aggregate
from tests.conftest import shared_data

pytestmark = pytest.mark.filterwarnings("ignore::caremodels.evaluation.spc.ShortSeriesWarning")


@pytest.fixture(scope="module")
def ae_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ae") / "w.duckdb"
    result = load_aggregate("ae", shared_data("ae_attendances_2016-2019.csv"), path)
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "loaded",
        12_765,
        12_765,
        0,
    )
    return path


def test_loading_again_changes_nothing(ae_warehouse: Path) -> None:
    again = load_aggregate("ae", shared_data("ae_attendances_2016-2019.csv"), ae_warehouse)
    assert (again.status, again.rows_loaded) == ("unchanged", 12_765)


def test_bad_rows_are_quarantined_with_row_field_and_reason(tmp_path: Path) -> None:
    csv = tmp_path / "ae.csv"
    csv.write_text(
        "Period,Org_Code,Type,Attendances,Breaches,Admissions\n"
        "2017-03-01,RF4,1,100,10,5\n"
        "2017-03-15,RF4,2,100,10,5\n"
        "2017-03-01,rf4,other,100,110,5\n"
        "2017-03-01,RF4,1,100,10,5\n"
        "2017-03-01,R1H,4,100,10,5\n"
    )
    result = load_aggregate("ae", csv, tmp_path / "w.duckdb")
    assert (result.rows_loaded, result.rows_quarantined) == (1, 4)
    assert result.quarantine_by_reason == {
        "more 4-hour breaches than attendances": 1,
        "not an A&E department type (1, 2 or other)": 1,
        "not the first day of a month": 1,
        "repeats the provider, month and department type of an earlier row": 1,
    }


def _direct(path: Path) -> pd.DataFrame:
    """Performance computed straight from the CSV, as validation/spc_real_ae.py does."""
    raw = pd.read_csv(path, dtype={"org_code": str, "type": str})
    monthly = (
        raw.assign(period=pd.to_datetime(raw["period"]))
        .groupby(["org_code", "period"], as_index=False)[["attendances", "breaches"]]
        .sum()
    )
    monthly = monthly[monthly["attendances"] > 0]
    major = set(raw.loc[raw["type"] == "1", "org_code"])
    monthly = monthly[monthly["org_code"].isin(major)]
    return monthly.assign(performance=1 - monthly["breaches"] / monthly["attendances"])


@pytest.fixture(scope="module")
def trusts_page(ae_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], str]:
    """`caremodels spc` on the loaded statistics: every type 1 trust with 36 months, one HTML page."""
    out = tmp_path_factory.mktemp("charts") / "trusts.html"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            ["spc", "--warehouse", str(ae_warehouse), "--aggregate", "ae-4-hour", "--min-points", "36", "--out", str(out), "--json"]
        )  # fmt: skip
    assert code == 0, stderr.getvalue()
    return out, json.loads(stdout.getvalue()), stderr.getvalue()


def test_every_type_1_trust_with_36_months_charts_unchanged(
    trusts_page: tuple[Path, list[dict], str],
) -> None:
    out, charted, warnings_printed = trusts_page
    direct = _direct(shared_data("ae_attendances_2016-2019.csv"))
    months = direct.groupby("org_code")["period"].nunique()
    full = direct[direct["org_code"].isin(months[months == 36].index)]
    expected = spc(
        full, value="performance", date="period", group="org_code", improvement="increase", target=0.95
    )
    assert len(expected) == 130
    assert "skipped 10 group(s) with fewer than 36 points" in warnings_printed
    assert [r["group"] for r in charted] == [r.group for r in expected]
    for mine, theirs in zip(charted, expected, strict=True):
        reference = theirs.model_dump(mode="json")
        for field in ("centre", "lower_limit", "upper_limit", "variation_icon", "assurance_icon"):
            assert mine[field] == pytest.approx(reference[field]), (theirs.group, field)
        assert [p["special_cause_rule"] for p in mine["points"]] == [
            p["special_cause_rule"] for p in reference["points"]
        ]
    html = out.read_text()
    assert "R1H Barts Health NHS Trust" in html
    assert html.count('<section class="chart"') == 130


@pytest.mark.browser
def test_the_page_draws_every_chart_offline_in_chromium(trusts_page: tuple[Path, list[dict], str]) -> None:
    """Debian's Chromium opens the page from disk: 130 charts drawn, no error, no request but the file."""
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(
            f"{chromium} is missing: the browser tests drive Debian's Chromium (apt-get install chromium)"
        )
    out, _, _ = trusts_page
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_function("document.querySelectorAll('.vega svg').length === 130", timeout=60_000)
            assert page.locator("#summary svg.mdc-icon").count() >= 2 * 130
            assert page.get_by_text("chart could not be drawn").count() == 0
        finally:
            browser.close()
    assert errors == []
    assert requests == [out.as_uri()]


def test_a_group_of_trusts_pools_attendances_and_breaches(ae_warehouse: Path) -> None:
    trusts = four_hour_performance(ae_warehouse, org_codes=["RF4", "R1H"])
    pooled = group_four_hour_performance(ae_warehouse, ["RF4", "R1H"])
    march = trusts[trusts["period"] == pd.Timestamp("2017-03-01").date()]
    row = pooled[pooled["period"] == pd.Timestamp("2017-03-01").date()].iloc[0]
    assert row["attendances"] == march["attendances"].sum()
    assert row["performance"] == pytest.approx(1 - march["breaches"].sum() / march["attendances"].sum())
    assert row["providers"] == 2
    assert len(pooled) == 36


def test_warehouse_status_and_export_list_the_published_table(ae_warehouse: Path, tmp_path: Path) -> None:
    from caremodels.warehouse.store import Warehouse

    with Warehouse(ae_warehouse, read_only=True) as warehouse:
        assert warehouse.status()["tables"]["published_ae_monthly"] == 12_765
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            ["warehouse", "export", "--warehouse", str(ae_warehouse), "--out", str(tmp_path / "x"), "--json"]
        )
    assert code in (0, None)
    manifest = json.loads((tmp_path / "x" / "manifest.json").read_text())
    assert manifest["tables"]["published_ae_monthly"]["rows"] == 12_765
    assert len(pd.read_parquet(tmp_path / "x" / "published_ae_monthly.parquet")) == 12_765
