"""Periods (complete months, quarters, financial years, rolling 12 months) and geographies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from caremodels.errors import DataError
from caremodels.indicators.geography import ENGLAND_CODE, LEVELS, area_set, level_name, read_practice_groups
from caremodels.indicators.periods import complete_periods, month_index, month_start, period_kind

APRIL_2014 = month_index(dt.date(2014, 4, 1))


def test_month_index_round_trip() -> None:
    assert month_start(month_index(dt.date(2015, 12, 31))) == dt.date(2015, 12, 1)
    assert month_index(dt.date(2016, 1, 1)) - month_index(dt.date(2015, 12, 1)) == 1


def test_financial_years_and_quarters_are_complete_only() -> None:
    # April 2014 to February 2016: one whole financial year, 2015/16 is one month short.
    last = month_index(dt.date(2016, 2, 1))
    years = complete_periods("financial_year", APRIL_2014, last)
    assert [(p.start, p.end) for p in years] == [(dt.date(2014, 4, 1), dt.date(2015, 3, 31))]
    quarters = complete_periods("quarter", APRIL_2014, last)
    assert quarters[0].start == dt.date(2014, 4, 1) and quarters[0].end == dt.date(2014, 6, 30)
    assert quarters[-1].start == dt.date(2015, 10, 1) and len(quarters) == 7


def test_a_quarter_starting_mid_data_skips_the_part_quarter() -> None:
    may = month_index(dt.date(2014, 5, 1))
    quarters = complete_periods("quarter", may, month_index(dt.date(2014, 12, 1)))
    assert [p.start for p in quarters] == [dt.date(2014, 7, 1), dt.date(2014, 10, 1)]


def test_rolling_12_months_end_in_every_month_from_the_twelfth() -> None:
    periods = complete_periods("rolling_12_months", APRIL_2014, APRIL_2014 + 13)
    assert [p.end for p in periods] == [dt.date(2015, 3, 31), dt.date(2015, 4, 30), dt.date(2015, 5, 31)]
    assert all(p.months == 12 for p in periods)


def test_months() -> None:
    periods = complete_periods("month", APRIL_2014, APRIL_2014 + 1)
    assert [(p.start, p.end) for p in periods] == [
        (dt.date(2014, 4, 1), dt.date(2014, 4, 30)),
        (dt.date(2014, 5, 1), dt.date(2014, 5, 31)),
    ]


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="choose from"):
        period_kind("year")
    with pytest.raises(ValueError, match="choose from"):
        level_name("region")


PRESENT = frozenset({"P81004", "P81006", "B87001", "N85002", "A82004"})


def test_ccg_site_and_care_model_levels() -> None:
    ccg = area_set("ccg")
    assert ccg.practices_of("00R", PRESENT) == {"P81004"}
    site = area_set("site")
    assert site.practices_of("fylde-coast", PRESENT) == {"P81004", "P81006"}
    assert "fylde-coast" in site.codes(PRESENT)
    assert area_set("care_model").practices_of("MCP", PRESENT) == {"P81004", "P81006"}


def test_rest_of_england_leaves_out_the_sites_of_that_type() -> None:
    rest = area_set("rest_of_england")
    assert rest.practices_of("MCP", PRESENT) == {"B87001", "N85002", "A82004"}
    assert rest.practices_of("PACS", PRESENT) == {"P81004", "P81006", "B87001", "A82004"}
    assert set(rest.codes(PRESENT)) == {"MCP", "PACS", "EHCH", "UEC", "ACC"}
    assert area_set("england").practices_of(ENGLAND_CODE, PRESENT) == PRESENT


def test_a_site_membership_file_replaces_the_approximation(tmp_path: Path) -> None:
    membership = tmp_path / "sites.csv"
    membership.write_text("site,practice_code\nfylde-coast,A82004\n", encoding="utf-8")
    site = area_set("site", site_membership_file=membership)
    assert site.practices_of("fylde-coast", PRESENT) == {"A82004"}
    rest = area_set("rest_of_england", site_membership_file=membership)
    assert "A82004" not in rest.practices_of("MCP", PRESENT)


def test_pcn_needs_a_groups_file_because_membership_is_not_shipped() -> None:
    with pytest.raises(DataError, match="not shipped"):
        area_set("pcn")
    with pytest.raises(DataError, match="--groups"):
        area_set("group")


@pytest.mark.parametrize(
    ("content", "row", "field"),
    [
        ("group,practice_code\nNorth,P81004\n,P81006\n", 3, "group"),
        ("group,practice_code\nNorth,not-a-code\n", 2, "practice_code"),
        ("name,practice\nNorth,P81004\n", 1, None),
    ],
)
def test_bad_groups_files_name_file_row_and_field(
    tmp_path: Path, content: str, row: int, field: str | None
) -> None:
    path = tmp_path / "groups.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as caught:
        read_practice_groups(path)
    assert (caught.value.file, caught.value.row, caught.value.field) == (str(path), row, field)


def test_groups_file(tmp_path: Path) -> None:
    path = tmp_path / "groups.csv"
    path.write_text("group,practice_code\nNorth,p81004\nNorth,P81006\nSouth,A82004\n", encoding="utf-8")
    groups = area_set("pcn", groups_file=path)
    assert groups.practices_of("North", PRESENT) == {"P81004", "P81006"}
    assert set(LEVELS) == {
        "practice",
        "pcn",
        "ccg",
        "site",
        "care_model",
        "rest_of_england",
        "england",
        "group",
        "provider",
    }
