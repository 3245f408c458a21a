"""One membership file on every command that takes a site: ``evaluate``, ``report`` and ``serve``
give the same figures for it, dated memberships count a practice only within its dates, and a bad
file fails in one line naming what is wrong."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from caremodels.cli import main
from caremodels.dashboard import create_app
from caremodels.errors import ReferenceDataError
from caremodels.evaluation import evaluate, indicator_counts
from caremodels.evaluation.targets import resolve_target
from caremodels.reference import check_unlisted, find_site, member_in_month, site_memberships
from caremodels.reports import _percent_with_interval
from caremodels.warehouse import Warehouse

SITE = find_site("Fylde Coast")


@pytest.fixture(scope="module")
def site_practices(tiny_warehouse: Path) -> list[str]:
    """The site's practices in the warehouse by the built-in membership."""
    with Warehouse(tiny_warehouse, read_only=True) as store:
        present = set(indicator_counts(store, "emergency_admissions")["practice_code"])
    codes = sorted(set(site_memberships()[SITE.id].practice_codes) & present)
    assert len(codes) >= 3
    return codes


@pytest.fixture(scope="module")
def membership_file(tmp_path_factory: pytest.TempPathFactory, site_practices: list[str]) -> Path:
    """Upper-case, spaced headers; all but the last practice; the first joins in April 2016."""
    path = tmp_path_factory.mktemp("membership") / "my sites.csv"
    rows = [f"{SITE.short_name},{site_practices[0]},2016-04-01,"]
    rows += [f"{SITE.id},{code.lower()},," for code in site_practices[1:-1]]
    path.write_text("Site,Practice Code,START_DATE,End_Date\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_evaluate_report_and_serve_agree_on_one_membership_file(
    tiny_warehouse: Path,
    membership_file: Path,
    site_practices: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # caremodels evaluate
    arguments = ["--quiet", "evaluate", "--warehouse", str(tiny_warehouse), "--site", SITE.id]
    assert main([*arguments, "--method", "did", "--site-membership", str(membership_file), "--json"]) == 0
    mine = json.loads(capsys.readouterr().out)
    assert main([*arguments, "--method", "did", "--json"]) == 0
    built_in = json.loads(capsys.readouterr().out)
    assert mine["diagnostics"]["treated_practices"] == len(site_practices) - 1
    assert built_in["diagnostics"]["treated_practices"] == len(site_practices)
    assert mine["estimate"]["rate_ratio"] != built_in["estimate"]["rate_ratio"]

    # caremodels report: the same estimate, as the report prints it
    out = tmp_path / "report.html"
    report = ["--quiet", "report", "--warehouse", str(tiny_warehouse), "--site", SITE.id, "--out", str(out)]
    assert main([*report, "--site-membership", str(membership_file)]) == 0
    with Warehouse(tiny_warehouse, read_only=True) as store:
        result = evaluate(
            store,
            indicator="emergency_admissions",
            method="did",
            site=SITE.id,
            membership_file=membership_file,
        )
    assert result.estimate.rate_ratio == pytest.approx(mine["estimate"]["rate_ratio"], rel=1e-12)
    html = out.read_text(encoding="utf-8")
    assert _percent_with_interval(result) in html
    assert f"{len(site_practices) - 1} practices of the site" in html

    # caremodels serve: the site page's controlled evaluation, through the API
    app = create_app(tiny_warehouse, cache=False, background=False, membership_file=membership_file)
    with TestClient(app) as client:
        site = client.get(f"/api/sites/{SITE.id}").json()
    assert site["site"]["practices_in_warehouse"] == len(site_practices) - 1
    assert site["site"]["membership_source"] == "user file"
    served = [
        item
        for item in site["evaluations"]
        if item["method"] == "did" and item["indicator"] == "emergency_admissions"
    ]
    assert len(served) == 1
    assert served[0]["estimate"]["rate_ratio"] == pytest.approx(mine["estimate"]["rate_ratio"], rel=1e-9)


def test_a_dated_practice_counts_for_the_site_only_within_its_dates(
    tiny_warehouse: Path, membership_file: Path, site_practices: list[str]
) -> None:
    with Warehouse(tiny_warehouse, read_only=True) as store:
        counts = indicator_counts(store, "emergency_admissions")
    target = resolve_target(set(counts["practice_code"]), site=SITE.id, membership_file=membership_file)
    joined = site_practices[0]
    assert target.windows == {joined: ((dt.date(2016, 4, 1), None),)}
    kept = target.in_membership(counts)
    months = kept.loc[kept["practice_code"] == joined, "month"]
    assert min(months).isoformat()[:7] == "2016-04"
    # Other practices keep every month.
    other = site_practices[1]
    assert (kept["practice_code"] == other).sum() == (counts["practice_code"] == other).sum()
    assert member_in_month([(dt.date(2016, 4, 15), dt.date(2017, 3, 31))], dt.date(2016, 4, 1))
    assert not member_in_month([(dt.date(2016, 4, 15), dt.date(2017, 3, 31))], dt.date(2017, 4, 1))


def test_a_practice_missing_from_the_2021_list_counts_when_the_warehouse_has_it(tmp_path: Path) -> None:
    path = tmp_path / "closed.csv"
    path.write_text("site,practice_code\nfylde-coast,Y99999\n", encoding="utf-8")
    memberships = site_memberships(path)
    warnings = check_unlisted(memberships, {"Y99999"})
    assert len(warnings) == 1 and "Y99999" in warnings[0] and "row 2" in warnings[0]
    with pytest.raises(ReferenceDataError, match=r"row 2, field practice_code: 'Y99999' is neither"):
        check_unlisted(memberships, {"A81001"})


def test_a_file_without_the_columns_names_the_columns_it_has(
    tmp_path: Path, tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("Area,Code\nfylde-coast,A81001\n", encoding="utf-8")
    for command in (
        ["evaluate", "--warehouse", str(tiny_warehouse), "--site", SITE.id],
        ["report", "--warehouse", str(tiny_warehouse), "--site", SITE.id, "--out", str(tmp_path / "r.html")],
        ["serve", "--warehouse", str(tiny_warehouse), "--port", "0"],
    ):
        assert main([*command, "--site-membership", str(path)]) == 1
        error = capsys.readouterr().err
        assert "missing column(s) practice_code, site; columns found: 'Area', 'Code'" in error
        assert "wrong.csv, row 1" in error
    bad_date = tmp_path / "date.csv"
    bad_date.write_text("site,practice_code,end_date\nfylde-coast,A81001,31/03/2017\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="row 2, field end_date: not a date"):
        site_memberships(bad_date)


def test_indicators_count_a_dated_practice_only_in_its_months_in_every_engine(
    tiny_warehouse: Path, membership_file: Path, site_practices: list[str]
) -> None:
    from caremodels.indicators import find_indicator, indicator_results
    from caremodels.indicators.ibis_engine import duckdb_engine
    from caremodels.indicators.reference_engine import ReferenceEngine

    definition = find_indicator("emergency_admissions")
    frames = []
    for engine in (duckdb_engine(tiny_warehouse), ReferenceEngine(tiny_warehouse)):
        try:
            frames.append(
                indicator_results(
                    engine,
                    definition,
                    levels=["site", "practice"],
                    periods=["month", "financial_year"],
                    site_membership_file=membership_file,
                )
            )
        finally:
            engine.close()
    fast, reference = frames
    # One level alone takes the engine's other path (no table of levels): it must agree too.
    alone_engine = duckdb_engine(tiny_warehouse)
    try:
        alone = indicator_results(
            alone_engine, definition, levels=["site"], periods=["month"], site_membership_file=membership_file
        )
    finally:
        alone_engine.close()
    both = fast[(fast["level"] == "site") & (fast["period"] == "month")]
    assert alone["numerator"].tolist() == both["numerator"].tolist()
    columns = ["level", "code", "period", "period_start", "numerator", "denominator"]
    assert fast[columns].reset_index(drop=True).equals(reference[columns].reset_index(drop=True))

    site = fast[(fast["level"] == "site") & (fast["code"] == SITE.id) & (fast["period"] == "month")]
    by_practice = fast[(fast["level"] == "practice") & (fast["period"] == "month")]
    joined, undated = site_practices[0], site_practices[1:-1]
    april_2016 = dt.date(2016, 4, 1)
    assert len(site) > 24
    before = by_practice[
        (by_practice["code"] == joined)
        & (pd.to_datetime(by_practice["period_start"]) < pd.Timestamp(april_2016))
    ]
    assert before["numerator"].sum() > 0  # so leaving it out before April 2016 changes the site's figures
    for start, row in site.set_index("period_start").iterrows():
        members = [*undated, joined] if pd.Timestamp(start).date() >= april_2016 else undated
        expected = by_practice[by_practice["code"].isin(members) & (by_practice["period_start"] == start)][
            "numerator"
        ].sum()
        assert row["numerator"] == expected


def test_commands_without_a_warehouse_take_a_practice_missing_from_the_2021_list(tmp_path: Path) -> None:
    from caremodels.programme import site_summaries
    from caremodels.programme.coverage import lens_coverage, vanguards_lens
    from caremodels.reference import practices

    listed = next(practice for practice in practices() if practice.list_size_2021 > 0)
    path = tmp_path / "closed.csv"
    path.write_text(
        f"site,practice_code\nfylde-coast,Y99999\nfylde-coast,{listed.practice_code}\n", encoding="utf-8"
    )
    summary = next(item for item in site_summaries(path) if item.id == SITE.id)
    # The closed practice is a member but has no 2021 list size to add.
    assert summary.practices == 2
    assert summary.registered_population_2021 == listed.list_size_2021
    assert lens_coverage(vanguards_lens(membership_file=path)).years
