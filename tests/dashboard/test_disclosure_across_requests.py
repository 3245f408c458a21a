"""Answers of the dashboard taken together: a CCG's total from one request and its practices from
another are parts of one published hierarchy, so no suppressed count is their difference."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.indicators.test_disclosure import _attack_module

INDICATOR = "emergency_admissions"


def test_no_suppressed_count_is_the_difference_of_two_answers(client: TestClient) -> None:
    attack = _attack_module()
    cells = []
    for geography in ("all", "ccg", "site", "practice"):
        for period_kind in ("month", "financial_year"):
            periods = client.get(
                f"/api/indicators/{INDICATOR}?geography={geography}&period_kind={period_kind}"
            ).json()["periods"]
            for period in periods:
                url = f"/api/indicators/{INDICATOR}?geography={geography}&period_kind={period_kind}&period={period}"
                response = client.get(url)
                assert response.status_code == 200, url
                cells += attack.cells_from_json(response.json(), url)
    assert sum(cell.suppressed for cell in cells) > 0, "the tiny warehouse has small practice counts"
    assert all(cell.key is not None for cell in cells)
    report = attack.attack(cells)
    assert report.inconsistent == 0  # every answer shows a row the same way
    assert report.bounded == 0
    assert not [claim for claim in report.claims if claim.method == "differencing"]
