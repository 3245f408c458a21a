"""Every JSON endpoint and CSV download of the dashboard, on the tiny economy with every table."""

from __future__ import annotations

import io
import itertools
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from caremodels.dashboard.figures import DashboardFigures
from caremodels.indicators import catalogue
from caremodels.indicators.disclosure import round_count
from caremodels.indicators.output import round_figure
from caremodels.periods import financial_year
from caremodels.reference import ehch_framework, vanguard_sites

COUNT_KEYS = {
    "numerator",
    "events",
    "denominator",
    "people",
    "rows",
    "registered",
    "male",
    "female",
    "registered_in_warehouse",
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "rows_excluded_opt_out",
    "not_specified_sex",
    "deprivation_unknown",
}


def published_counts(document: Any) -> list[int | None]:
    """Every value under a count key, anywhere in a JSON document."""
    found: list[int | None] = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key in COUNT_KEYS and (value is None or isinstance(value, int)):
                found.append(value)
            else:
                found += published_counts(value)
    elif isinstance(document, list):
        for item in document:
            found += published_counts(item)
    return found


def assert_disclosure_controlled(document: Any) -> None:
    counts = published_counts(document)
    assert counts, "no counts found to check"
    for count in counts:
        assert count is None or (count % 5 == 0 and not 1 <= count <= 7), count


def get_json(client: TestClient, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text[:500])
    return response.json()


def test_health(client: TestClient) -> None:
    health = get_json(client, "/api/health")
    assert health["status"] == "ok"
    assert health["evaluations"] in ("ready", "computing")


def test_overview_covers_types_coverage_growth_and_funding(client: TestClient) -> None:
    overview = get_json(client, "/api/overview")
    assert [row["code"] for row in overview["care_models"]] == ["MCP", "PACS", "EHCH", "UEC", "ACC"]
    assert sum(row["sites"] for row in overview["care_models"]) == 50
    assert overview["coverage"][-1]["goal_share"] == 0.5
    areas = {growth["area"] for growth in overview["comparisons"]}
    assert {"MCP", "PACS", "EHCH"} <= areas
    for growth in overview["comparisons"]:
        assert growth["indicator"] == "emergency_admissions"
        # The rates are published from the rounded counts (so rate x person-years gives no true count
        # back); growth is the evaluation's, from the true counts: they agree within the rounding.
        baseline, comparison = growth["baseline"], growth["comparison"]
        expected = comparison["rate"] / baseline["rate"] - 1
        rounding = (1 + expected) * (2.5 / baseline["events"] + 2.5 / comparison["events"])
        assert growth["growth"] == pytest.approx(expected, abs=rounding + 1e-3)
        for year in (baseline, comparison):
            assert year["rate"] * year["person_years"] / 1000 == pytest.approx(year["events"], rel=1e-3)
    conditions = {row["care_model"]: row for row in overview["funding_conditions"]}
    assert set(conditions) == {"MCP", "PACS"}
    for row in conditions.values():
        # The evaluation layer's verdict (funding_condition), resting on the interval.
        meets = row["difference_percentage_points"] <= -row["required_points_below_rest"]
        assert row["met"] == (row["verdict"] == "met")
        assert row["met"] <= (meets and row["ci_high"] is not None and row["ci_high"] < 1)
        assert row["statement"].startswith(row["verdict"] + ":")
    assert len({growth["indicator"] for growth in overview["growth_by_indicator"]}) > 5
    assert [line["name"] for line in overview["monthly"]][-1].startswith("Rest of England")
    assert_disclosure_controlled(overview)


def test_overview_page_shows_each_funding_verdict_as_the_api_gives_it(client: TestClient) -> None:
    # The page shows the evaluation layer's verdict, never a yes/no that turns "cannot tell" into
    # "not met".
    overview = get_json(client, "/api/overview")
    page = client.get("/").text
    for row in overview["funding_conditions"]:
        assert f"condition\n        <strong>{row['verdict']}</strong>" in page
    verdicts = [
        growth["result"]["diagnostics"]["funding_condition_2017"]["verdict"]
        for growth in overview["comparisons"]
        if growth["result"]["diagnostics"].get("funding_condition_2017")
    ]
    assert verdicts
    tags = re.findall(r'class="nhsuk-tag nhsuk-tag--(?:green|red|grey)"\s*>\s*([^<]*?)\s*<', page)
    assert sorted(tags) == sorted(verdict.capitalize() for verdict in verdicts)


def test_coverage_grows_towards_the_goal(client: TestClient) -> None:
    coverage = get_json(client, "/api/coverage")
    shares = [year["share"] for year in coverage]
    assert all(later >= earlier - 1e-12 for earlier, later in itertools.pairwise(shares))
    assert coverage[0]["financial_year"] == "2014/15"


def test_sites_lists_the_50_vanguards(client: TestClient) -> None:
    sites = get_json(client, "/api/sites")
    assert [site["id"] for site in sites] == [site.id for site in vanguard_sites()]
    fylde = next(site for site in sites if site["id"] == "fylde-coast")
    assert fylde["practices_in_warehouse"] > 0
    assert fylde["care_model"] == "MCP"


def test_site_page_data(client: TestClient, evaluated: DashboardFigures) -> None:
    site = get_json(client, "/api/sites/fylde-coast")
    assert site["site"]["short_name"] == "Fylde Coast"
    assert site["evaluations_status"] == "ready"
    assert [row["indicator"]["id"] for row in site["indicators"]] == [d.id for d in catalogue()]
    profile = site["population"]
    bands = profile["age_sex"]
    assert len(bands) == 19 and bands[0]["age_band"] == "0-4" and bands[-1]["age_band"] == "90+"
    band_total = sum((band["male"] or 0) + (band["female"] or 0) for band in bands)
    # Each band is rounded to 5 (or suppressed), so the sum can differ from the rounded total.
    assert abs(band_total - profile["registered"]) <= 5 * 38 + 7 * 38
    assert sum(row["share"] for row in profile["deprivation"]) == pytest.approx(1)
    methods = {(item["indicator"], item["method"]) for item in site["evaluations"]}
    assert ("emergency_admissions", "baseline") in methods
    assert len(methods) > 1, "a controlled method should have run for the headline indicator"
    growth = next(
        item
        for item in site["evaluations"]
        if item["indicator"] == "emergency_admissions" and item["method"] == "baseline"
    )
    # The programme's comparison is calibrated on comparison CCGs (placebo areas); the Poisson
    # interval, which ignores over-dispersion between areas, is kept in the diagnostics.
    inference = growth["diagnostics"]["inference"]
    assert inference["placebos"] >= 3
    poisson = growth["diagnostics"]["poisson_interval"]
    estimate = growth["estimate"]
    ratio = (estimate["ci_high"] / estimate["ci_low"]) / (poisson["ci_high"] / poisson["ci_low"])
    assert ratio != pytest.approx(1.0, abs=1e-9)
    for item in site["evaluations"]:
        estimate = item["estimate"]
        if estimate["ci_low"] is not None:
            assert estimate["ci_low"] <= estimate["rate_ratio"] <= estimate["ci_high"]
    reported = site["reported"]
    assert [row["measure"] for row in reported] == [
        "A&E attendances",
        "First outpatient attendances",
        "Non-elective admissions",
    ]
    assert all(row["reported_value"] < 0 and "May 2017" in row["source"] for row in reported)
    assert all(row["status"] == "measured" for row in reported)
    assert_disclosure_controlled(site)


def test_reported_results_of_the_care_home_and_advice_sites(client: TestClient) -> None:
    wakefield = get_json(client, "/api/sites/connecting-care-wakefield")["reported"]
    assert {row["reported_value"] for row in wakefield} == {-0.09, -0.12, -0.19, -0.26}
    assert {row["measured_periods"]["baseline"] for row in wakefield} == {"2015/16"}
    bed_days = next(row for row in wakefield if row["measure"] == "Bed days")
    if bed_days["status"] == "measured":
        assert bed_days["measured_ci_low"] is None  # bed days are not Poisson counts
    morecambe = get_json(client, "/api/sites/better-care-together-morecambe-bay")["reported"]
    (advice,) = morecambe
    assert advice["kind"] == "share"
    assert advice["reported_value"] == pytest.approx(1 - 820 / 2422, abs=1e-4)


def test_population_of_a_site_without_practices_is_404(client: TestClient, figures: DashboardFigures) -> None:
    empty = next(site_id for site_id in figures.sites if not figures.site_practices[site_id])
    assert client.get(f"/api/sites/{empty}/population").status_code == 404
    assert client.get(f"/api/sites/{empty}").status_code == 200
    assert client.get("/api/sites/no-such-site").status_code == 404


def test_site_indicator_has_spc_and_growth(client: TestClient) -> None:
    detail = get_json(client, "/api/sites/fylde-coast/indicators/emergency_admissions")
    months = [point["month"] for point in detail["monthly"]]
    assert months == sorted(months) and len(months) >= 72
    for point in detail["monthly"]:
        assert (point["value"] is None) == point["suppressed"]
    # The SPC chart rests on every month's true value; suppressed months are withheld points.
    assert [point["date"] for point in detail["spc_points"]] == months
    suppressed = {point["month"] for point in detail["monthly"] if point["suppressed"]}
    for point in detail["spc_points"]:
        assert (point["value"] is None) == point["suppressed"] == (point["date"] in suppressed)
    assert detail["spc"]["variation_icon"]
    assert detail["spc"]["lower_limit"] < detail["spc"]["centre"] < detail["spc"]["upper_limit"]
    assert (
        detail["growth"]["result"]["diagnostics"]["funding_condition_2017"]["required_points_below_rest"] == 1
    )
    assert client.get("/api/sites/fylde-coast/indicators/nothing").status_code == 404


def test_indicator_list_matches_the_catalogue(client: TestClient) -> None:
    indicators = get_json(client, "/api/indicators")
    assert [item["id"] for item in indicators] == [d.id for d in catalogue()]
    available = {item["id"] for item in indicators if item["available"]}
    assert "emergency_admissions" in available
    for item in indicators:
        assert item["available"] == (item["reason_unavailable"] is None)


def test_explorer_values_match_an_independent_sum(client: TestClient, figures: DashboardFigures) -> None:
    explored = get_json(
        client, "/api/indicators/emergency_admissions?geography=all&period_kind=financial_year"
    )
    (area,) = explored["areas"]
    counts = figures.snapshot.indicators["emergency_admissions"].counts
    year = int(explored["period"][:4])
    in_year = counts[counts["month"].map(financial_year) == year]
    true_value = in_year["numerator"].sum() / (in_year["denominator"].sum() / 12) * 1000
    # Published from the published (rounded to 5) counts, so the value cannot be inverted to the true
    # count (docs/disclosure-control.md), then to 4 significant figures (1 decimal place from 100 up).
    events = round_count(in_year["numerator"].sum())
    mean_list = round_count(in_year["denominator"].sum() / 12)
    assert events is not None and mean_list is not None
    expected = events / mean_list * 1000
    assert area["value"] == round_figure([expected])[0]
    assert area["value"] == pytest.approx(true_value, rel=0.01)
    assert area["unit"] == "per 1,000 registered patients per year"
    assert explored["funnel"] is None
    by_site = get_json(client, "/api/indicators/emergency_admissions?geography=site")
    assert by_site["funnel"]["target"] == pytest.approx(true_value, abs=0.05)
    assert {row["code"] for row in by_site["areas"]} <= {site.id for site in vanguard_sites()}
    assert {row["funnel"] for row in by_site["areas"]} <= {
        "above_99_8",
        "above_95",
        "within",
        "below_95",
        "below_99_8",
        None,
    }
    limits = by_site["funnel"]
    assert all(
        low < limits["target"] < high
        for low, high in zip(limits["lower_95"], limits["upper_95"], strict=True)
    )
    assert all(wide <= narrow for wide, narrow in zip(limits["lower_99_8"], limits["lower_95"], strict=True))
    assert_disclosure_controlled(by_site)


def test_explorer_periods_and_errors(client: TestClient) -> None:
    monthly = get_json(client, "/api/indicators/emergency_admissions?geography=care_model&period_kind=month")
    assert monthly["period"] == monthly["periods"][-1]
    quarters = get_json(client, "/api/indicators/emergency_admissions?period_kind=quarter")["periods"]
    assert quarters[0].endswith("Q1")
    assert client.get("/api/indicators/emergency_admissions?period=1999/00").status_code == 404
    assert client.get("/api/indicators/emergency_admissions?geography=planet").status_code == 422
    assert client.get("/api/indicators/nothing").status_code == 404


def test_proportion_indicator_in_the_explorer(client: TestClient) -> None:
    indicators = {item["id"]: item for item in get_json(client, "/api/indicators")}
    proportion = next(
        item["id"] for item in indicators.values() if item["statistic"] == "proportion" and item["available"]
    )
    explored = get_json(client, f"/api/indicators/{proportion}?geography=ccg")
    scale = indicators[proportion]["multiplier"]
    for area in explored["areas"]:
        if area["value"] is not None:
            assert 0 <= area["value"] <= scale
            assert area["ci_low"] <= area["value"] <= area["ci_high"]


def test_series_compares_sites(client: TestClient) -> None:
    series = get_json(
        client, "/api/indicators/emergency_admissions/series?code=fylde-coast&code=connecting-care-wakefield"
    )
    assert [line["code"] for line in series["series"]] == ["fylde-coast", "connecting-care-wakefield"]
    assert all(line["points"] for line in series["series"])
    assert client.get("/api/indicators/emergency_admissions/series?code=atlantis").status_code == 404


def test_practices_are_ranked_with_deciles(client: TestClient) -> None:
    ranking = get_json(client, "/api/indicators/emergency_admissions/practices")
    ranked = ranking["ranked"]
    assert [row["rank"] for row in ranked] == list(range(1, len(ranked) + 1))
    values = [row["value"] for row in ranked]
    assert values == sorted(values)
    deciles = [row["decile"] for row in ranked]
    assert deciles == sorted(deciles) and deciles[0] == 1
    if len(ranked) >= 10:
        assert deciles[-1] == 10
    assert_disclosure_controlled(ranking)


def test_practice_month_is_disclosure_controlled(client: TestClient) -> None:
    rows = get_json(client, "/api/indicators/emergency_admissions/practice-month")
    assert rows
    assert any(row["suppressed"] for row in rows) or all(row["events"] for row in rows)
    for row in rows:
        assert (row["value"] is None) == row["suppressed"]
    assert_disclosure_controlled(rows)
    one = rows[0]["practice_code"]
    assert {
        row["practice_code"]
        for row in get_json(client, f"/api/indicators/emergency_admissions/practice-month?practice={one}")
    } == {one}


def test_care_homes(client: TestClient) -> None:
    homes = get_json(client, "/api/care-homes")
    assert [(item["number"], item["name"]) for item in homes["framework"]] == [
        (element.number, element.name) for element in ehch_framework()
    ]
    assert len(homes["framework"]) == 7
    assert len(homes["sites"]) == 6 and {site["care_model"] for site in homes["sites"]} == {"EHCH"}
    assert homes["indicators"], "the catalogue has residents' indicators"
    groups = {entry["group"] for entry in homes["values"]}
    assert {"EHCH sites", "Rest of England"} <= groups
    assert_disclosure_controlled(homes)


def test_data_quality_shows_batches_and_quarantine(client: TestClient, dashboard_warehouse: Any) -> None:
    quality = get_json(client, "/api/data-quality")
    assert any(batch["source"].endswith("care_home_residence.bad.csv") for batch in quality["batches"])
    by_field = {(row["table"], row["field"]): row["rows"] for row in quality["quarantine_by_field"]}
    # 10 broken care home ids and 9 broken practice codes, each rounded to the nearest 5.
    assert by_field[("care_home_residence", "care_home_id")] == 10
    assert by_field[("care_home_residence", "practice_code")] == 10
    assert quality["tables"] and quality["people"]
    assert_disclosure_controlled(quality)


def test_csv_downloads(client: TestClient) -> None:
    response = client.get("/downloads/sites/fylde-coast/indicators/emergency_admissions.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    frame = pd.read_csv(io.StringIO(response.text))
    assert list(frame.columns)[:6] == ["site_id", "site_name", "indicator_id", "title", "month", "numerator"]
    assert set(frame["site_name"]) == {"Fylde Coast"}
    assert set(frame["unit"]) == {"per 1,000 registered patients per year"}
    for column in ("numerator", "events", "denominator"):
        values = frame[column].dropna().to_numpy()
        assert np.all(values % 5 == 0) and not np.any((values >= 1) & (values <= 7))
    assert frame.loc[frame["suppressed"], "value"].isna().all()
    population = pd.read_csv(io.StringIO(client.get("/downloads/sites/fylde-coast/population.csv").text))
    assert list(population["age_band"])[:2] == ["0-4", "5-9"]
    areas = pd.read_csv(
        io.StringIO(client.get("/downloads/indicators/emergency_admissions.csv?geography=ccg").text)
    )
    assert set(areas["geography"]) == {"ccg"}
    named = areas["name"].str.startswith("NHS ") & areas["name"].str.endswith(" CCG")
    assert named.any() and (named | (areas["name"] == "CCG " + areas["code"])).all()
    practices = client.get("/downloads/indicators/emergency_admissions/practices.csv")
    assert practices.status_code == 200 and practices.text.startswith("indicator_id,title,period,rank,decile")
    assert client.get("/downloads/sites/nowhere/population.csv").status_code == 404


PAGES = [
    "/",
    "/sites",
    "/sites/fylde-coast",
    "/sites/fylde-coast/indicators/emergency_admissions",
    "/indicators",
    "/indicators/emergency_admissions",
    "/indicators/emergency_admissions?geography=practice&period_kind=financial_year&page=2",
    "/indicators/emergency_admissions?geography=ccg&period_kind=quarter",
    "/care-homes",
    "/data-quality",
]


@pytest.mark.parametrize("url", PAGES)
def test_pages_render_offline_with_charts_and_tables(client: TestClient, url: str) -> None:
    page = client.get(url)
    assert page.status_code == 200
    html = page.text
    assert html.count("<h1") == 1
    assert "/static/nhsuk-frontend.min.css" in html
    # No resource from elsewhere: the only absolute URL is the SVG namespace.
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    charts = html.count('class="caremodels-chart"') + html.count('class="caremodels-spc"')
    if charts:
        assert html.count("<table") >= charts, "every chart needs its table"


def test_stylesheet_is_served_without_remote_fonts(client: TestClient) -> None:
    css = client.get("/static/nhsuk-frontend.min.css")
    assert css.status_code == 200
    assert "nhsuk-header" in css.text
    assert "assets.nhs.uk" not in css.text


def test_unknown_pages_are_404_pages(client: TestClient) -> None:
    page = client.get("/sites/no-such-site")
    assert page.status_code == 404
    assert "Page not found" in page.text
    explorer = client.get(
        "/indicators/emergency_admissions", params={"indicator": "ae_attendances"}, follow_redirects=False
    )
    assert explorer.status_code == 303
    assert explorer.headers["location"].startswith("/indicators/ae_attendances")


def test_answers_are_served_from_the_response_cache(client: TestClient, dashboard_app: Any) -> None:
    cache = dashboard_app.state.response_cache
    first = client.get("/api/sites/fylde-coast").content
    hits = cache.hits
    assert client.get("/api/sites/fylde-coast").content == first
    assert client.get("/sites/fylde-coast").status_code == 200
    assert client.get("/sites/fylde-coast").status_code == 200
    assert cache.hits >= hits + 2


def test_unknown_addresses(client: TestClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "Page not found" in page.text
    assert client.get("/api/no-such-endpoint").json() == {"detail": "Not Found"}


def test_a_missing_warehouse_is_one_clear_error(tmp_path: Any) -> None:
    from caremodels.dashboard import create_app
    from caremodels.errors import CaremodelsError

    with pytest.raises(CaremodelsError, match="no warehouse at"):
        create_app(tmp_path / "missing.duckdb")


def test_care_home_site_shows_its_own_figure_beside_matched_controls(
    client: TestClient, evaluated: DashboardFigures
) -> None:
    site = get_json(client, "/api/sites/connecting-care-wakefield")
    by_method = {
        item["method"]: item
        for item in site["evaluations"]
        if item["indicator"] == "care_home_emergency_admissions"
    }
    not_run = [item for item in site["evaluations_not_run"] if item["method"] == "matched controls"]
    assert not not_run, not_run
    assert {"before_after", "matched"} <= set(by_method)
    for method in ("before_after", "matched"):
        estimate = by_method[method]["estimate"]
        assert estimate["ci_low"] <= estimate["rate_ratio"] <= estimate["ci_high"]
    assert "balance" in by_method["matched"]["diagnostics"]
    assert site["own_figure_explanation"], "the page must say why the two figures differ"
    page = client.get("/sites/connecting-care-wakefield")
    assert page.status_code == 200
    assert 'id="own-figure-explanation"' in page.text


def test_site_spc_chart_has_the_target_assurance_icon_and_go_live_marker_of_caremodels_spc(
    client: TestClient, figures: DashboardFigures
) -> None:
    from caremodels.spc_charts.icons import ASSURANCE_LABELS, assurance_icon_svg, variation_icon_svg

    html = client.get("/sites/fylde-coast/indicators/ae_four_hour_performance").text
    result = figures.spc_result("fylde-coast", "ae_four_hour_performance")
    assert result is not None and result.target == 95.0 and result.assurance_icon is not None
    assert 'class="caremodels-spc" id="spc-chart"' in html
    assert ">target 95<" in html  # the target line's label, drawn by caremodels.spc_charts
    assert ">selected as vanguard<" in html  # Fylde Coast was selected in March 2015, inside the chart
    assert variation_icon_svg(result.variation_icon) in html
    assert assurance_icon_svg(result.assurance_icon) in html
    assert ASSURANCE_LABELS[result.assurance_icon] in html
    # No target, no assurance icon: an indicator without an operational standard.
    plain = client.get("/sites/fylde-coast/indicators/emergency_admissions").text
    assert "no operational standard for this indicator" in plain and ">target " not in plain


def test_emrad_page_pools_its_trusts_published_four_hour_performance(
    client: TestClient, evaluated: DashboardFigures, dashboard_warehouse: Any
) -> None:
    """An acute care collaboration as a group of trusts: the numbers are those of
    caremodels.indicators.published for the same warehouse, with SPC against the 95% standard."""
    from caremodels.indicators.published import group_four_hour_performance
    from caremodels.reference import vanguard_sites

    emrad = next(site for site in vanguard_sites() if site.id == "emrad")
    expected = group_four_hour_performance(dashboard_warehouse, emrad.providers)
    body = client.get("/api/sites/emrad/trusts").json()
    assert [m["code"] for m in body["members"]] == list(emrad.providers)
    assert body["members"][0]["name"] == "Nottingham University Hospitals NHS Trust"
    assert len(body["four_hour"]) == len(expected) == 36
    for month, row in zip(body["four_hour"], expected.itertuples(), strict=True):
        assert (month["attendances"], month["breaches"], month["providers"]) == (
            row.attendances,
            row.breaches,
            row.providers,
        )
        assert month["performance"] == pytest.approx(row.performance, abs=5e-5)
    assert body["spc"]["target"] == 0.95 and body["spc"]["assurance_icon"] == "fail"
    assert body["indicators_status"] == "ready"
    # The tiny synthetic economy has no events at EMRAD's trusts: the page says so, not a blank.
    assert any("holds no events of" in note for note in body["cannot_measure"])
    assert any("no before-period" in note for note in body["cannot_measure"])
    html = client.get("/sites/emrad").text
    assert 'id="trusts-spc-chart"' in html and ">target 95.0%<" in html
    assert "Nottingham University Hospitals NHS Trust" in html and "What this page cannot measure" in html
    assert client.get("/api/sites/fylde-coast/trusts").status_code == 404


def test_every_explorer_row_is_compared_with_england_and_the_rest_at_95_and_99_8(
    client: TestClient, figures: DashboardFigures
) -> None:
    from caremodels.indicators.comparison import COMPARISONS

    body = client.get("/api/indicators/emergency_admissions?geography=site&period_kind=financial_year").json()
    assert body["areas"]
    for area in body["areas"]:
        for column in ("england_95", "england_99_8", "rest_95", "rest_99_8"):
            assert (area[column] is None) == area["suppressed"]
            assert area[column] is None or area[column] in COMPARISONS
        if area["england_95"] in ("better", "worse"):
            # A difference at 99.8% is one at 95% too.
            assert area["england_99_8"] in (area["england_95"], "similar")
    html = client.get("/indicators/emergency_admissions?geography=site").text
    assert "Against all practices (95%; 99.8%)" in html and "Against the rest (95%; 99.8%)" in html


def test_site_spine_chart_covers_the_catalogue_with_its_comparisons(
    client: TestClient, evaluated: DashboardFigures
) -> None:
    body = client.get("/api/sites/fylde-coast/spine").json()
    assert len(body["rows"]) + len(body["not_shown"]) == len(catalogue())
    for row in body["rows"]:
        assert row["lowest"] <= row["lower_quartile"] <= row["upper_quartile"] <= row["highest"]
        value = row["site"]["value"]
        assert value is None or row["lowest"] <= value <= row["highest"]  # the site is one of the sites
    html = client.get("/sites/fylde-coast").text
    assert 'id="spine-chart"' in html and 'id="spine-table"' in html
    assert html.count("<tr", html.index('id="spine-table"')) >= len(body["rows"])


def test_explorer_searches_areas_by_name(client: TestClient, figures: DashboardFigures) -> None:
    ccgs = figures.explore("emergency_admissions", "ccg", "financial_year", None).areas
    named = next(area for area in ccgs if area.name != f"CCG {area.code}")
    word = named.name.split()[1]  # e.g. "Blackpool" of "NHS Blackpool CCG"
    html = client.get(f"/indicators/emergency_admissions?geography=ccg&q={word.lower()}").text
    table = html[html.index('id="areas-table"') : html.index("</table>", html.index('id="areas-table"'))]
    shown = [
        area
        for area in ccgs
        if word.casefold() in area.name.casefold() or word.casefold() in area.code.casefold()
    ]
    assert named.name in table and table.count('<tr class="nhsuk-table__row">') - 1 == len(
        shown
    )  # less the header
    assert 'id="search-result"' in html
    nothing = client.get("/indicators/emergency_admissions?geography=ccg&q=no-such-area-zz").text
    assert "0 areas whose name or code contains" in nothing
