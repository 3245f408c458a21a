"""One number everywhere: on one warehouse, the CLI (``indicators compute``, CSV and JSON files;
``evaluate --json``), the JSON API, the CSV downloads, the dashboard page and the site report give
the same value, interval and unit for the same indicator, area and period, for a crude rate, a
standardised rate, a proportion and a care-home residents' rate.

Each output is read by one reader in ``READERS`` (a function of the question returning a
``Figure``). ``evaluate`` and the report give a site's rate in the periods programme monitoring
compares (``--method baseline``, the comparison year being the question's year); a proportion is
not a rate of events over time, so they have no figure for it and their readers are skipped.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from caremodels.cli import main
from caremodels.dashboard.figures import DashboardFigures
from caremodels.evaluation import evaluate, growth_against_rest, indicator_counts, resolve_target
from caremodels.evaluation.monitoring import BaselineDiagnostics
from caremodels.evaluation.result import diagnostics_of
from caremodels.indicators import find_indicator, indicator_results
from caremodels.indicators.ibis_engine import duckdb_engine_for
from caremodels.indicators.output import format_figure
from caremodels.reports import site_report_html
from caremodels.warehouse import Warehouse

CASES = {
    "crude": "emergency_admissions",
    "standardised": "emergency_admissions_standardised",
    "proportion": "ae_four_hour_performance",
    "care home": "care_home_emergency_admissions",
}


@dataclass(frozen=True)
class Figure:
    value: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str


@dataclass(frozen=True)
class Question:
    warehouse: Path
    client: TestClient
    out: Path
    indicator: str
    site: str
    period: str
    """A financial year label (2019/20)."""

    @property
    def period_start(self) -> str:
        return f"{self.period[:4]}-04-01"


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _figure(row: dict[str, object] | pd.Series) -> Figure:
    return Figure(_number(row["value"]), _number(row["ci_low"]), _number(row["ci_high"]), str(row["unit"]))


def _cli(question: Question, suffix: str) -> Figure:
    out = question.out / f"{question.indicator}{suffix}"
    arguments = ["--quiet", "indicators", "compute", "--warehouse", str(question.warehouse)]
    arguments += ["--indicator", question.indicator, "--level", "site", "--period", "financial_year"]
    assert main([*arguments, "--out", str(out)]) == 0
    if suffix == ".json":
        frame = pd.DataFrame(json.loads(out.read_text(encoding="utf-8")))
    else:
        frame = pd.read_csv(out)
    frame["period_start"] = frame["period_start"].astype(str)
    (row,) = [
        row
        for _, row in frame.iterrows()
        if (row["code"], row["period_start"]) == (question.site, question.period_start)
    ]
    return _figure(row)


def _api(question: Question) -> Figure:
    url = f"/api/indicators/{question.indicator}?geography=site&period_kind=financial_year&period={question.period}"
    areas = question.client.get(url).json()["areas"]
    (row,) = [area for area in areas if area["code"] == question.site]
    return _figure(row)


def _download(question: Question) -> Figure:
    url = f"/downloads/indicators/{question.indicator}.csv?geography=site&period_kind=financial_year&period={question.period}"
    frame = pd.read_csv(io.StringIO(question.client.get(url).text))
    (row,) = [row for _, row in frame.iterrows() if row["code"] == question.site]
    return _figure(row)


def _page(question: Question) -> Figure:
    """The explorer page's row for the site, with the figures as the page prints them; the API's
    figure is the one the page must show, so it is checked in the page's text."""
    url = (
        f"/indicators/{question.indicator}?geography=site&period_kind=financial_year&period={question.period}"
    )
    text = html.unescape(question.client.get(url).text)
    shown = _api(question)
    row_start = text.index(f'<a href="/sites/{question.site}">')
    row = text[row_start : text.index("</tr>", row_start)]
    if shown.value is not None:
        expected = format_figure(shown.value)
        if shown.ci_low is not None:
            expected += f" ({format_figure(shown.ci_low)} to {format_figure(shown.ci_high)})"
        assert expected in row, (expected, row)
    assert f"Value (95% CI), {shown.unit}" in text
    return shown


def _over_time(question: Question) -> bool:
    """Whether programme monitoring (growth of a rate of events over time) applies."""
    return find_indicator(question.indicator).denominator.kind != "events"


def _evaluate(question: Question) -> Figure | None:
    """``caremodels evaluate --method baseline --json``: the site's published rate in the
    comparison year, from the diagnostics."""
    if not _over_time(question):
        return None
    arguments = [
        "--quiet",
        "evaluate",
        "--warehouse",
        str(question.warehouse),
        "--indicator",
        question.indicator,
    ]
    arguments += ["--site", question.site, "--method", "baseline", "--comparison", question.period, "--json"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(arguments) == 0
    rates = json.loads(printed.getvalue())["diagnostics"]["rates"]
    (rate,) = [rate for rate in rates if rate["period"] == question.period]
    return _figure(rate)


def _parsed(text: str) -> float:
    return float(text.replace(",", ""))


def _report(question: Question) -> Figure | None:
    """The site report's HTML: the row of the site's rate in the comparison year (the report
    compares the latest complete year, the question's)."""
    if not _over_time(question):
        return None
    with Warehouse(question.warehouse, read_only=True) as warehouse:
        page = html.unescape(site_report_html(warehouse, question.site, [question.indicator]))
    pattern = (
        r'<tr class="site-rate"><th scope="row">[^<]*, ' + re.escape(question.period) + r" \((.*?)\)</th>\s*"
        r'<td class="number">([\d,.]+)(?: \(95% CI ([\d,.]+) to ([\d,.]+)\))?</td>'
    )
    found = re.search(pattern, page)
    assert found, f"the report has no rate for {question.period}"
    unit, value, low, high = found.groups()
    return Figure(_parsed(value), _parsed(low) if low else None, _parsed(high) if high else None, unit)


READERS: dict[str, Callable[[Question], Figure | None]] = {
    "indicators compute (CSV)": lambda question: _cli(question, ".csv"),
    "indicators compute (JSON)": lambda question: _cli(question, ".json"),
    "JSON API": _api,
    "CSV download": _download,
    "dashboard page": _page,
    "evaluate --method baseline (JSON)": _evaluate,
    "site report (HTML)": _report,
}


def _busiest_site(figures: DashboardFigures, indicator: str) -> tuple[str, str]:
    """The site and latest complete financial year with the most events and a published value."""
    explored = figures.explore(indicator, "site", "financial_year", None)
    published = [area for area in explored.areas if area.value is not None]
    assert published, f"{indicator}: no site has a published value"
    best = max(published, key=lambda area: area.events or 0)
    return best.code, best.period


@pytest.mark.parametrize("kind", list(CASES))
def test_every_output_gives_the_same_number(
    kind: str,
    dashboard_warehouse: Path,
    client: TestClient,
    figures: DashboardFigures,
    tmp_path: Path,
) -> None:
    indicator = CASES[kind]
    site, period = _busiest_site(figures, indicator)
    question = Question(dashboard_warehouse, client, tmp_path, indicator, site, period)
    read = {name: reader(question) for name, reader in READERS.items()}
    answers = {name: answer for name, answer in read.items() if answer is not None}
    if kind != "proportion":
        assert set(answers) == set(READERS)
    first = answers["JSON API"]
    assert first.value is not None and first.ci_low is not None and first.ci_high is not None
    assert first.ci_low < first.value < first.ci_high
    for name, answer in answers.items():
        assert answer == first, f"{kind} {indicator} {site} {period}: {name} gives {answer}, the API {first}"
    expected_unit = {
        "crude": "per 1,000 registered patients per year",
        "standardised": "per 100,000 registered patients (ESP2013) per year",
        "proportion": "% within 4 hours",
        "care home": "per resident-year",
    }[kind]
    assert first.unit == expected_unit


def test_growth_of_a_standardised_indicator_is_the_engines_dsr(
    dashboard_warehouse: Path, figures: DashboardFigures
) -> None:
    """Programme monitoring grows a standardised indicator's DSR, not its crude count: the rates
    in the dashboard's growth comparison and in ``evaluate --method baseline`` are the indicator
    engine's DSRs (``indicator_results``) for the site and year, and the two give one growth."""
    indicator = "emergency_admissions_standardised"
    definition = find_indicator(indicator)
    site, _ = _busiest_site(figures, indicator)
    shown = figures.site_indicator(site, indicator).growth
    assert shown is not None
    with Warehouse(dashboard_warehouse, read_only=True) as warehouse:
        engine = duckdb_engine_for(warehouse)
        try:
            engine_rows = indicator_results(engine, definition, levels=["site"], periods=["financial_year"])
        finally:
            engine.close()
        result = evaluate(warehouse, indicator=indicator, method="baseline", site=site)
        counts = indicator_counts(warehouse, indicator)
        crude = evaluate(warehouse, indicator="emergency_admissions", method="baseline", site=site)
    # Without its counts by sex and age band, a standardised indicator's growth is refused.
    target = resolve_target(set(counts["practice_code"]), site=site)
    with pytest.raises(ValueError, match="by sex and age band"):
        growth_against_rest(
            counts,
            target.treated_practices,
            indicator=indicator,
            area=site,
            rest_practices=target.control_practices,
        )
    dsr = engine_rows[engine_rows["code"] == site].set_index("period_start")
    for year in (shown.baseline, shown.comparison):
        row = dsr.loc[pd.Timestamp(f"{year.financial_year[:4]}-04-01").date()]
        assert (year.rate, year.ci_low, year.ci_high) == pytest.approx(
            (row["value"], row["ci_low"], row["ci_high"]), rel=1e-9
        )
        assert year.unit == "per 100,000 registered patients (ESP2013) per year"
    diagnostics = diagnostics_of(result, BaselineDiagnostics)
    assert diagnostics.growth == pytest.approx(shown.growth, rel=1e-9)
    assert diagnostics.rest_growth == pytest.approx(shown.rest_growth, rel=1e-9)
    expected_growth = dsr.iloc[-1]["value"] / dsr.loc[pd.Timestamp("2014-04-01").date()]["value"] - 1
    assert shown.growth == pytest.approx(expected_growth, rel=1e-9)
    # The crude indicator grows differently: the standardised growth is not a relabelled crude one.
    assert diagnostics_of(crude, BaselineDiagnostics).growth != pytest.approx(diagnostics.growth, rel=1e-6)
