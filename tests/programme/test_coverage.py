"""Coverage lenses: each lens's population per year is reproduced from its membership table; the
vanguards' lens is zero before March 2015; user lenses are validated."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.programme import coverage
from caremodels.programme.coverage import (
    CoverageLens,
    census_day,
    coverage_lenses,
    lens_coverage,
    primary_care_homes_lens,
)
from caremodels.reference import practices, site_memberships, vanguard_sites
from caremodels.reference.list_growth import list_scale_at


def _reproduce(lens: CoverageLens, year: int) -> tuple[int, float]:
    """The covered population and share computed directly from the membership rows."""
    sizes = {p.practice_code: p.list_size_2021 for p in practices()}
    day = census_day(year)
    codes = {
        row.practice_code for row in lens.members if row.start <= day and (row.end is None or day <= row.end)
    }
    covered = sum(sizes[code] for code in codes) * list_scale_at(day)
    return round(covered), covered / (sum(sizes.values()) * list_scale_at(day))


@pytest.fixture(scope="module")
def lenses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CoverageLens]:
    folder = tmp_path_factory.mktemp("lenses")
    pch = folder / "pch.csv"
    # Two practices of 17,000-20,000 in 2021 make a primary care home of 30,000-50,000 in 2016.
    by_size = sorted(
        (p for p in practices() if 17_000 < p.list_size_2021 < 20_000), key=lambda p: p.practice_code
    )
    chosen = by_size[:2]
    pch.write_text(
        "site,practice_code,start_date\n" + "".join(f"Home A,{p.practice_code},2016-10-01\n" for p in chosen),
        encoding="utf-8",
    )
    sites = folder / "sites.yaml"
    sites.write_text(
        "sites:\n  - name: Adopter\n    care_model: MCP\n    start: 2018-06-01\n"
        f"    practices: [{by_size[5].practice_code}, {by_size[6].practice_code}]\n",
        encoding="utf-8",
    )
    return coverage_lenses(primary_care_homes_file=pch, adopted_sites_file=sites)


def test_every_lens_is_reproduced_from_its_membership_table(lenses: dict[str, CoverageLens]) -> None:
    assert set(lenses) >= {
        "vanguards",
        "vanguards-mcp",
        "ics-waves",
        "primary-care-homes",
        "adopted-sites",
        "combined",
    }
    for lens in lenses.values():
        result = lens_coverage(lens)
        for year_result in result.years:
            year = int(year_result.financial_year[:4])
            covered, share = _reproduce(lens, year)
            assert year_result.covered_population == covered, (lens.name, year)
            assert year_result.share == pytest.approx(share, rel=1e-12)


def test_the_vanguards_lens_is_zero_before_march_2015(lenses: dict[str, CoverageLens]) -> None:
    for name in (
        "vanguards",
        "vanguards-mcp",
        "vanguards-pacs",
        "vanguards-ehch",
        "vanguards-uec",
        "vanguards-acc",
    ):
        lens = lenses[name]
        assert min(row.start for row in lens.members) >= dt.date(2015, 3, 1)
        assert lens_coverage(lens).years[0].covered_population == 0  # 2014/15
    first = lens_coverage(lenses["vanguards"]).years[1]
    assert first.financial_year == "2015/16" and 4_500_000 < first.covered_population < 7_000_000
    # The dashboard's series is the same lens.
    assert [year.covered_population for year in coverage()] == [
        year.covered_population for year in lens_coverage(lenses["vanguards"]).years
    ]


def test_vanguard_lens_follows_the_site_membership() -> None:
    memberships = site_memberships()
    lens = coverage_lenses()["vanguards-pacs"]
    expected = {
        code
        for site in vanguard_sites()
        if site.care_model == "PACS"
        for code in memberships[site.id].practice_codes
    }
    assert {row.practice_code for row in lens.members} == expected


def test_ics_waves_reach_about_half_of_england_by_2020() -> None:
    years = {year.financial_year: year for year in lens_coverage(coverage_lenses()["ics-waves"]).years}
    assert years["2016/17"].covered_population == 0
    # The first ACSs with Greater Manchester and Surrey Heartlands: about one in six.
    assert 0.14 < years["2017/18"].share < 0.20
    assert 0.42 < years["2020/21"].share < 0.55
    assert years["2018/19"].share < years["2019/20"].share < years["2020/21"].share


def test_projection_at_the_current_pace() -> None:
    result = lens_coverage(coverage_lenses()["ics-waves"])
    shares = [year.share for year in result.years]
    assert result.projection.pace_per_year == pytest.approx((shares[-1] - shares[-4]) / 3)
    if shares[-1] < 0.5:
        first_label, first_share = result.projection.years[0]
        assert first_label == "2021/22" and first_share == pytest.approx(
            shares[-1] + result.projection.pace_per_year
        )
    flat = lens_coverage(coverage_lenses()["vanguards"]).projection
    assert flat.goal_reached_in is None and flat.years == ()


def test_primary_care_home_outside_30000_to_50000_is_refused(tmp_path: Path) -> None:
    big = max(practices(), key=lambda p: p.list_size_2021)
    path = tmp_path / "pch.csv"
    path.write_text(f"site,practice_code,start_date\nHuge,{big.practice_code},2017-01-01\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 2.*30,000 to 50,000"):
        primary_care_homes_lens(path)
    path.write_text("site,practice_code,start_date\nX,Z99999,2017-01-01\n", encoding="utf-8")
    with pytest.raises(DataError, match="practice_code"):
        primary_care_homes_lens(path)


def test_coverage_json_gives_every_lens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["programme", "coverage", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    names = [lens["name"] for lens in document["lenses"]]
    assert names[:2] == ["vanguards", "vanguards-mcp"] and "ics-waves" in names and "combined" in names
    for lens in document["lenses"]:
        assert lens["years"][-1]["financial_year"] == "2020/21"
        assert {"covered_population", "share"} <= set(lens["years"][0])
    assert main(["programme", "coverage", "--lens", "ics-waves", "--members", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"practice_code", "member", "start", "end", "source"} == set(rows[0])
    assert main(["programme", "coverage", "--lens", "primary-care-homes"]) == 1
    assert main(["programme", "coverage", "--lens", "nope"]) == 2
