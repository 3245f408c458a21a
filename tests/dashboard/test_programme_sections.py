"""The money and spread sections (``caremodels.dashboard.programme_sections``): the site page's
population budget and staff surveys and the overview's coverage lenses show what the command line
prints for the same inputs (one number), and say what is missing when the user gave no file."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi.testclient import TestClient

from caremodels.cli import main
from tests.dashboard.conftest import PROGRAMME

SITE = "fylde-coast"


def _json(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> object:
    assert main(["--quiet", *arguments, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _page(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.text)


def test_site_page_budget_is_the_budget_commands(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert PROGRAMME.budget_envelope is not None
    # The latest year of the example envelope, as the page takes it.
    years = re.findall(r'^  "(\d{4}/\d{2})":', PROGRAMME.budget_envelope.read_text(encoding="utf-8"), re.M)
    arguments = ["budget", "population", "--site", SITE, "--year", years[-1]]
    [document] = _json([*arguments, "--envelope", str(PROGRAMME.budget_envelope)], capsys)  # type: ignore[misc]
    text = _page(client, f"/sites/{SITE}")
    section = text[text.index('<h2 id="budget">') : text.index('<h2 id="surveys">')]
    assert f'<strong id="budget-total">£{document["budget"]:,.0f}</strong>' in section
    assert document["financial_year"] in section
    for line in document["components"]:
        assert f"£{line['budget']:,.0f}" in section and f"{line['need_index']:.3f}" in section
    for step in document["waterfall"]:
        assert f"£{step['running_pounds']:,.0f}" in section


def test_site_page_survey_is_the_survey_commands(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    files = PROGRAMME.surveys[SITE]
    arguments = [
        "survey",
        "results",
        "--questionnaire",
        str(files.questionnaire),
        "--responses",
        str(files.responses),
    ]
    document = _json(arguments, capsys)
    assert isinstance(document, dict)
    text = _page(client, f"/sites/{SITE}")
    section = text[text.index('<h2 id="surveys">') : text.index('<h2 id="downloads">')]
    shown = re.findall(r"(\d+\.\d)% \((\d+\.\d)% to (\d+\.\d)%\)", section)
    expected = [
        tuple(f"{row[key] * 100:.1f}" for key in ("share_agreeing", "ci_low", "ci_high"))
        for row in document["results"]
        if not row["suppressed"]
    ]
    assert sorted(shown) == sorted(expected) and len(shown) >= 3
    # The Sunderland-style fixture's later survey: 80% / 72% / 80% of the whole survey.
    whole = section[: section.index('id="surveys-teams-table"')]
    values = [value for value, _, _ in re.findall(r"(\d+\.\d)% \((\d+\.\d)% to (\d+\.\d)%\)", whole)]
    assert sorted(values[-3:]) == ["72.0", "80.0", "80.0"]


def test_a_site_without_a_survey_says_so(client: TestClient) -> None:
    text = _page(client, "/sites/connecting-care-wakefield")
    assert (
        '<p id="surveys-missing" class="caremodels-reason">No staff survey is recorded for this site' in text
    )


def test_overview_coverage_lenses_are_the_coverage_commands(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _json(["programme", "coverage"], capsys)
    assert isinstance(document, dict)
    text = _page(client, "/")
    table = text[text.index('id="coverage-lenses-table"') :]
    table = table[: table.index("</table>")]
    for lens in document["lenses"]:
        row = table[table.index(f'data-lens="{lens["name"]}"') :]
        row = row[: row.index("</tr>")]
        shares = re.findall(r"(\d+\.\d)%", row)
        assert shares == [f"{year['share'] * 100:.1f}" for year in lens["years"]], lens["name"]
        reached = lens["projection"]["goal_reached_in"] or "not at the current pace"
        assert reached in row
    # The vanguards' lens is zero before any vanguard existed (selected from March 2015).
    vanguards = next(lens for lens in document["lenses"] if lens["name"] == "vanguards")
    assert vanguards["years"][0]["financial_year"] == "2014/15" and vanguards["years"][0]["share"] == 0
    assert 'id="coverage-lenses-chart"' in text


def test_a_group_of_trusts_has_no_population_budget_and_says_why(client: TestClient) -> None:
    # EMRAD (an acute care collaboration) has no registered list: the budget section says so in
    # words, never with a reference-data error or a file path.
    page = _page(client, "/sites/emrad")
    reason = re.search(r'<p id="budget-missing" class="caremodels-reason">([^<]*)</p>', page)
    assert reason is not None
    assert "no registered population" in reason.group(1) and "/" not in reason.group(1)
