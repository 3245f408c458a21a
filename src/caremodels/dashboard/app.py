"""The dashboard: server-rendered pages in the NHS.UK design system, with a JSON API behind them.

Boundaries: the app opens the warehouse read-only, computes what the pages show when it starts, and
publishes counts only through disclosure control. Assets come from the installed npm package
nhsuk-frontend, served under /assets and /static; pages make no network calls.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader

from caremodels import __version__
from caremodels.analysis import compare_with_rest, indicator_counts
from caremodels.dashboard.assets import frontend_dist
from caremodels.dashboard.charts import Series, line_chart
from caremodels.errors import CaremodelsError
from caremodels.evaluation.monitoring import GrowthComparison, monthly_rates
from caremodels.indicators import find_indicator
from caremodels.indicators.disclosure import apply_disclosure_control, round_count
from caremodels.programme import coverage, practices_of_care_model, site_summaries
from caremodels.reference import VANGUARD_CARE_MODELS, care_model_types
from caremodels.warehouse.store import Warehouse

__all__ = ["create_app"]

HEADLINE_INDICATOR = "emergency_admissions"


@dataclass
class DashboardData:
    warehouse_path: Path
    counts: pd.DataFrame
    comparisons: list[GrowthComparison]
    monthly: pd.DataFrame
    status: dict[str, Any]


def _load(warehouse_path: Path) -> DashboardData:
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, HEADLINE_INDICATOR)
        status = warehouse.status()
    present = set(counts["practice_code"])
    comparisons: list[GrowthComparison] = []
    groups: dict[str, set[str]] = {}
    for model in VANGUARD_CARE_MODELS:
        practices = practices_of_care_model(model) & present
        if not practices:
            continue
        comparisons.append(compare_with_rest(counts, indicator_id=HEADLINE_INDICATOR, care_model=model))
        groups[model] = practices
    if comparisons:
        groups["Rest of England (all care models)"] = present - set().union(*groups.values())
    monthly = monthly_rates(counts, groups, multiplier=1000) if groups else pd.DataFrame()
    return DashboardData(warehouse_path, counts, comparisons, monthly, status)


def _environment() -> Environment:
    environment = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(Path(__file__).with_name("templates"))),
                PackageLoader("nhsuk_frontend_jinja"),
            ]
        ),
        undefined=ChainableUndefined,
        autoescape=True,
    )
    environment.filters["thousands"] = lambda value: f"{value:,.0f}"
    environment.filters["percent"] = lambda value, places=1: f"{value * 100:.{places}f}%"
    environment.filters["number"] = lambda value, places=1: f"{value:,.{places}f}"
    return environment


def _comparison_json(comparison: GrowthComparison) -> dict[str, Any]:
    document = comparison.model_dump(mode="json")
    for key in ("baseline", "comparison", "rest_baseline", "rest_comparison"):
        document[key]["events"] = round_count(document[key]["events"])
    return document


def create_app(warehouse_path: Path) -> FastAPI:
    """The dashboard app for one warehouse file. Raises ``CaremodelsError`` if the warehouse or the
    NHS.UK frontend assets are missing."""
    dist = frontend_dist()
    data_loader: Callable[[], DashboardData] = functools.cache(lambda: _load(warehouse_path))
    data_loader()  # fail at start-up, not on the first request
    environment = _environment()
    app = FastAPI(
        title="caremodels",
        version=__version__,
        description="New care models: programme monitoring and evaluation. Counts in every answer are "
        "disclosure-controlled (1-7 suppressed, others rounded to the nearest 5).",
    )
    app.mount("/assets", StaticFiles(directory=dist / "assets"), name="assets")
    app.mount("/static", StaticFiles(directory=dist), name="static")

    def render(template: str, request: Request, **context: Any) -> HTMLResponse:
        html = environment.get_template(template).render(
            request=request, version=__version__, frontend_version=_frontend_version(dist), **context
        )
        return HTMLResponse(html)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        data = data_loader()
        series = (
            [
                Series(str(area), list(zip(rows["month"], rows["rate"].astype(float), strict=True)))
                for area, rows in data.monthly.groupby("area", sort=False)
            ]
            if len(data.monthly)
            else []
        )
        chart = line_chart(
            series,
            title="Emergency admissions per 1,000 registered patients a year, by month",
            description="Monthly emergency admission rate, annualised, for each care model type in the "
            "warehouse and for the rest of England. The same figures are in the table below.",
            y_label="per 1,000 a year",
            chart_id="monthly-rate",
        )
        table = (
            data.monthly.pivot(index="month", columns="area", values="rate").sort_index()
            if len(data.monthly)
            else pd.DataFrame()
        )
        types = {model.code: model for model in care_model_types()}
        sites = site_summaries()
        by_type = {
            model: [site for site in sites if site.care_model == model] for model in VANGUARD_CARE_MODELS
        }
        return render(
            "overview.html",
            request,
            data=data,
            chart=chart,
            table=table,
            types=types,
            by_type=by_type,
            coverage=coverage(),
            indicator=find_indicator(HEADLINE_INDICATOR),
        )

    @app.get("/api/overview", summary="Growth of each care model type against the rest of England")
    def api_overview() -> dict[str, Any]:
        data = data_loader()
        return {
            "indicator": HEADLINE_INDICATOR,
            "warehouse": data.warehouse_path.name,
            "comparisons": [_comparison_json(comparison) for comparison in data.comparisons],
        }

    @app.get("/api/sites", summary="The 50 vanguard sites with care model type and registered population")
    def api_sites() -> list[dict[str, Any]]:
        return [site.model_dump(mode="json") for site in site_summaries()]

    @app.get("/api/coverage", summary="Population covered by new care models per financial year")
    def api_coverage() -> list[dict[str, Any]]:
        return [year.model_dump(mode="json") for year in coverage()]

    @app.get(
        "/api/indicators/{indicator_id}/practice-month",
        summary="An indicator by practice and month, disclosure-controlled",
    )
    def api_practice_month(indicator_id: str, practice: str | None = None) -> list[dict[str, Any]]:
        if indicator_id != HEADLINE_INDICATOR:
            try:
                find_indicator(indicator_id)
            except CaremodelsError as error:
                raise HTTPException(status_code=404, detail=str(error)) from error
            raise HTTPException(
                status_code=404, detail=f"{indicator_id} is not computed by this dashboard yet"
            )
        counts = data_loader().counts
        if practice is not None:
            counts = counts[counts["practice_code"] == practice]
        frame = counts.assign(rate=counts["numerator"] / counts["denominator"] * 1000)
        published = apply_disclosure_control(frame, ["numerator", "denominator"], withheld_columns=["rate"])
        published["month"] = published["month"].map(dt.date.isoformat)
        records = published.astype(object).where(published.notna(), None).to_dict("records")
        return [{str(key): value for key, value in record.items()} for record in records]

    @app.get("/api/health", summary="Liveness check")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


@functools.cache
def _frontend_version(dist: Path) -> str:
    import json

    package = json.loads((dist.parents[1] / "package.json").read_text(encoding="utf-8"))
    return str(package["version"])
