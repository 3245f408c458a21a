"""One number everywhere: on one warehouse, the CLI (``indicators compute``, CSV and JSON files), the
JSON API, the CSV downloads and the dashboard page give the same value, interval and unit for the
same indicator, area and period, for a crude rate, a standardised rate, a proportion and a care-home
residents' rate.

Each output is read by one reader in ``READERS``. The evaluation and report outputs (``evaluate``,
``report``) are not read here yet: when they take an indicator's value from
``caremodels.indicators.finish``, add a reader for each (a function of the warehouse, client, indicator,
site and period label returning a ``Figure``) and this test holds them to the same number.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from caremodels.cli import main
from caremodels.dashboard.figures import DashboardFigures
from caremodels.indicators.output import format_figure

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


READERS: dict[str, Callable[[Question], Figure]] = {
    "indicators compute (CSV)": lambda question: _cli(question, ".csv"),
    "indicators compute (JSON)": lambda question: _cli(question, ".json"),
    "JSON API": _api,
    "CSV download": _download,
    "dashboard page": _page,
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
    answers = {name: read(question) for name, read in READERS.items()}
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
