"""SPC charts for people: dates read without guessing, files written per group, the offline HTML page,
and the command's options (target, trajectory, rebase, baseline, annotations, short groups)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from caremodels.cli import main
from caremodels.errors import DataError
from caremodels.evaluation.spc import spc
from caremodels.spc_charts import ChartOptions, chart_spec, output_paths, parse_dates, write_charts
from caremodels.spc_charts.icons import assurance_icon_svg, variation_icon_svg

pytestmark = pytest.mark.filterwarnings("ignore::caremodels.evaluation.spc.ShortSeriesWarning")

VALUES = [5, 7, 6, 8, 9, 7, 6, 8, 7, 5, 6, 7, 8, 30, 7, 6]


def _frame(dates: list[str], groups: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"month": dates, "waits": VALUES[: len(dates)]})
    if groups is not None:
        frame["team"] = groups
    return frame


# -- dates ---------------------------------------------------------------------------------------


def test_day_first_monthly_dates_are_read_as_uk_dates() -> None:
    parsed = parse_dates(pd.Series(["01/04/2016", "01/05/2016", "01/06/2016"]), column="month")
    assert [d.date().isoformat() for d in parsed] == ["2016-04-01", "2016-05-01", "2016-06-01"]


def test_a_day_above_twelve_fixes_the_order_either_way() -> None:
    uk = parse_dates(pd.Series(["13/04/2016", "04/05/2016"]), column="d")
    us = parse_dates(pd.Series(["04/13/2016", "05/04/2016"]), column="d")
    assert [d.date().isoformat() for d in uk] == ["2016-04-13", "2016-05-04"]
    assert [d.date().isoformat() for d in us] == ["2016-04-13", "2016-05-04"]


def test_ambiguous_dates_are_refused_naming_column_and_rows() -> None:
    with pytest.raises(
        DataError, match=r"column 'month' could be day-first or month-first \(e\.g\. rows 2, 3"
    ):
        parse_dates(pd.Series(["04/05/2016", "05/04/2016"]), column="month")
    with pytest.raises(DataError, match=r"mix day-first and month-first orders \(rows 2 and 3\)"):
        parse_dates(pd.Series(["13/04/2016", "04/13/2016"]), column="month")


def test_date_format_wins_and_bad_rows_are_named() -> None:
    parsed = parse_dates(pd.Series(["04/05/2016"]), column="d", date_format="%m/%d/%Y")
    assert parsed.iloc[0].date().isoformat() == "2016-04-05"
    with pytest.raises(DataError, match=r"rows 3\)"):
        parse_dates(pd.Series(["04/05/2016", "nonsense"]), column="d", date_format="%d/%m/%Y")


def test_iso_dates_pass_through() -> None:
    parsed = parse_dates(pd.Series(["2016-04-01", "2016-05-01"]), column="d")
    assert parsed.iloc[1].date().isoformat() == "2016-05-01"


# -- SPC maths additions --------------------------------------------------------------------------


def test_baseline_fixes_the_limits_on_its_points() -> None:
    frame = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=16, freq="MS"), "waits": VALUES})
    (whole,) = spc(frame, value="waits", date="month")
    (fixed,) = spc(frame, value="waits", date="month", baseline=("2020-01-01", "2020-05-01"))
    # 5, 7, 6, 8, 9: mean 7, mean moving range 1.5, limits 3.01 to 10.99 (the hand-worked example).
    assert fixed.centre == pytest.approx(7.0)
    assert (fixed.lower_limit, fixed.upper_limit) == pytest.approx((3.01, 10.99))
    assert fixed.segments[0].baseline_points == 5
    assert whole.segments[0].baseline_points == 16
    assert fixed.points[13].special_cause_rule == "outside_limits"
    assert any("fixed on 5 baseline points" in caveat for caveat in fixed.caveats)
    with pytest.raises(ValueError, match="crosses a rebase"):
        spc(frame, value="waits", date="month", rebase="2020-03-01", baseline=("2020-01-01", "2020-05-01"))


def test_trend_length_eight_is_accepted() -> None:
    frame = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=8, freq="MS"), "v": range(8)})
    (result,) = spc(frame, value="v", date="month", trend_length=8)
    assert {p.special_cause_rule for p in result.points} >= {"trend"}


# -- rendering ------------------------------------------------------------------------------------


def test_icons_are_labelled_svgs() -> None:
    assert "<title>Special cause concern (low)</title>" in variation_icon_svg("concern_low")
    assert ">L</text>" in variation_icon_svg("concern_low")
    assert "</text>" not in variation_icon_svg("common_cause")
    assert ">P</text>" in assurance_icon_svg("pass")
    assert assurance_icon_svg(None) == ""


def test_chart_spec_has_target_trajectory_and_annotation_layers() -> None:
    frame = pd.DataFrame({"month": pd.date_range("2020-01-01", periods=16, freq="MS"), "waits": VALUES})
    (result,) = spc(frame, value="waits", date="month", target=12)
    options = ChartOptions(
        measure="waits",
        annotations=[(pd.Timestamp("2020-06-01").date(), "go-live")],
        trajectory={
            None: [(pd.Timestamp("2020-01-01").date(), 12.0), (pd.Timestamp("2020-09-01").date(), 10.0)]
        },
    )
    text = json.dumps(chart_spec(result, options))
    assert "target 12" in text
    assert "go-live" in text
    assert '"trajectory": 10.0' in text


def test_many_groups_write_one_file_each_in_a_folder(tmp_path: Path) -> None:
    frame = _frame([f"2020-{m:02d}-01" for m in range(1, 7)] * 2, ["a"] * 6 + ["b/c"] * 6)
    frame["waits"] = VALUES[:12]
    results = spc(frame, value="waits", date="month", group="team")
    assert output_paths(results, tmp_path / "x.svg") == [tmp_path / "x" / "a.svg", tmp_path / "x" / "b_c.svg"]
    written = write_charts(results, tmp_path / "x.svg")
    assert all(path.read_text().startswith("<svg") for path in written)
    (png,) = write_charts(results[:1], tmp_path / "one.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_page_is_offline_with_icons_and_summary(tmp_path: Path) -> None:
    frame = _frame([f"2020-{m:02d}-01" for m in range(1, 7)] * 2, ["a"] * 6 + ["b"] * 6)
    frame["waits"] = VALUES[:12]
    results = spc(frame, value="waits", date="month", group="team", target=12)
    (page,) = write_charts(results, tmp_path / "x.html", ChartOptions(measure="waits"))
    html = page.read_text()
    assert "Icon summary" in html
    assert html.count('class="mdc-icon"') >= 2 * 2 + 10  # two icons per group in the table, and the key
    assert "vegaEmbed(" in html
    # Nothing from another host: no src= or href= to http(s), and no stylesheet imports.
    assert not re.search(r"""(src|href)=["']?https?:""", html)
    assert "@import" not in html


# -- the command ----------------------------------------------------------------------------------


def _write_uk_csv(path: Path) -> Path:
    rows = [(f"01/{m:02d}/2019", "A", v) for m, v in zip(range(1, 13), VALUES, strict=False)]
    rows += [(f"01/{m:02d}/2020", "A", v) for m, v in zip(range(1, 5), VALUES[12:], strict=False)]
    rows += [("01/04/2019", "lonely", 3)]
    pd.DataFrame(rows, columns=["Month", "Team", "Waits"]).to_csv(path, index=False)
    return path


def test_command_reads_uk_dates_skips_short_groups_and_writes_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _write_uk_csv(tmp_path / "waits.csv")
    out = tmp_path / "waits.html"
    code = main(
        [
            "spc", str(csv), "--value", "waits", "--date", "month", "--group", "team", "--target", "12",
            "--improvement", "DECREASE", "--trend-length", "8", "--annotate", "2019-06-01=go-live",
            "--baseline", "2019-01-01..2019-05-01", "--out", str(out), "--json",
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped 1 group(s) with fewer than 2 points: lonely" in captured.err
    (result,) = json.loads(captured.out)
    assert result["group"] == "A"
    assert result["points"][0]["date"] == "2019-01-01"  # 1 January, read day first
    assert result["points"][3]["date"] == "2019-04-01"
    assert (result["lower_limit"], result["upper_limit"]) == pytest.approx((3.01, 10.99))
    assert "go-live" in out.read_text()


def test_command_refuses_ambiguous_dates_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "us.csv"
    pd.DataFrame({"when": ["04/05/2020", "05/04/2020", "06/03/2020"], "v": [1, 2, 3]}).to_csv(
        csv, index=False
    )
    assert main(["spc", str(csv), "--value", "v", "--date", "when"]) == 1
    err = capsys.readouterr().err
    assert "column 'when' could be day-first or month-first (e.g. rows 2, 3, 4" in err
    assert main(["spc", str(csv), "--value", "v", "--date", "when", "--date-format", "%m/%d/%Y"]) == 0
