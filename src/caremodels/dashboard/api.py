"""The JSON API: one endpoint behind every page, each with a response model, so that the OpenAPI
document at ``/openapi.json`` (browsable at ``/docs``) describes every figure the pages show.

Unknown sites, indicators, areas or periods answer 404 with a ``detail`` message; invalid query
values answer 422. Every count has been through disclosure control (see ``schemas``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from caremodels import __version__
from caremodels.dashboard.areas import Geography, PeriodKind
from caremodels.dashboard.caching import ResponseCache
from caremodels.dashboard.figures import DashboardFigures
from caremodels.dashboard.schemas import (
    CareHomesResponse,
    CoverageYearOut,
    DataQualityResponse,
    ExplorerResponse,
    HealthResponse,
    IndicatorSummary,
    OverviewResponse,
    PopulationProfile,
    PracticeMonthRow,
    PracticeRankingResponse,
    SeriesResponse,
    SiteIndicatorResponse,
    SiteOut,
    SiteResponse,
    SpineResponse,
    TrustGroupResponse,
)

__all__ = ["PeriodQuery", "api_router"]

PeriodQuery = Annotated[
    str | None,
    Query(
        max_length=20,
        description="A period label such as 2019/20, 2019/20 Q1 or 2019-04 (default: the latest complete one).",
    ),
]
GeographyQuery = Annotated[Geography, Query(description="The kind of area to show.")]
PeriodKindQuery = Annotated[PeriodKind, Query(description="Months, financial quarters or financial years.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown site, indicator, area or period, or no data for it."}
}


def api_router(figures: DashboardFigures, cache: ResponseCache) -> APIRouter:
    """The API's routes; answers are serialised once per URL (``cache``)."""
    router = APIRouter(prefix="/api", tags=["API"])

    @router.get("/health", summary="Liveness check")
    def health() -> HealthResponse:
        return HealthResponse(
            status="ok",
            version=__version__,
            evaluations="ready" if figures.evaluations_ready else "computing",
        )

    @router.get(
        "/overview", summary="Programme overview: care models, coverage, growth against the rest of England"
    )
    @cache.json
    def overview(request: Request) -> OverviewResponse:
        return figures.overview()

    @router.get("/coverage", summary="Population covered by new care models per financial year")
    @cache.json
    def coverage(request: Request) -> list[CoverageYearOut]:
        return figures.overview().coverage

    @router.get("/sites", summary="The 50 vanguard sites with care model type and registered population")
    @cache.json
    def sites(request: Request) -> list[SiteOut]:
        return figures.sites_out()

    @router.get(
        "/sites/{site_id}",
        summary="A site: population, indicators, evaluations, reported results",
        responses=NOT_FOUND,
    )
    @cache.json
    def site(request: Request, site_id: str) -> SiteResponse:
        return figures.site(site_id)

    @router.get(
        "/sites/{site_id}/spine",
        summary="A site across the catalogue against England and the rest of England (Fingertips spine chart)",
        responses=NOT_FOUND,
    )
    @cache.json
    def spine(request: Request, site_id: str) -> SpineResponse:
        return figures.spine(site_id)

    @router.get(
        "/sites/{site_id}/trusts",
        summary="A site defined by its NHS trusts (an acute care collaboration): pooled 4-hour A&E "
        "performance from the published statistics, with SPC, and the member trusts' provider indicators",
        responses=NOT_FOUND,
    )
    @cache.json
    def trusts(request: Request, site_id: str) -> TrustGroupResponse:
        return figures.trust_group(site_id)

    @router.get(
        "/sites/{site_id}/population", summary="A site's age-sex profile and deprivation", responses=NOT_FOUND
    )
    @cache.json
    def population(request: Request, site_id: str) -> PopulationProfile:
        profile = figures.population(site_id)
        if profile is None:
            raise HTTPException(status_code=404, detail=f"no practices of {site_id} are in this warehouse")
        return profile

    @router.get(
        "/sites/{site_id}/indicators/{indicator_id}",
        summary="A site's indicator by month with its SPC chart and growth against the rest of England",
        responses=NOT_FOUND,
    )
    @cache.json
    def site_indicator(request: Request, site_id: str, indicator_id: str) -> SiteIndicatorResponse:
        return figures.site_indicator(site_id, indicator_id)

    @router.get("/indicators", summary="The indicator catalogue, with what this warehouse can compute")
    @cache.json
    def indicators(request: Request) -> list[IndicatorSummary]:
        return figures.indicators()

    @router.get(
        "/indicators/{indicator_id}",
        summary="An indicator for every area of a geography in one period, with funnel limits",
        responses=NOT_FOUND,
    )
    @cache.json
    def explore(
        request: Request,
        indicator_id: str,
        geography: GeographyQuery = "site",
        period_kind: PeriodKindQuery = "financial_year",
        period: PeriodQuery = None,
    ) -> ExplorerResponse:
        return figures.explore(indicator_id, geography, period_kind, period)

    @router.get(
        "/indicators/{indicator_id}/series",
        summary="An indicator over time for chosen areas (to compare sites)",
        responses=NOT_FOUND,
    )
    @cache.json
    def series(
        request: Request,
        indicator_id: str,
        geography: GeographyQuery = "site",
        period_kind: PeriodKindQuery = "financial_year",
        code: Annotated[list[str], Query(max_length=20, description="Area codes, e.g. site ids.")] = [],  # noqa: B006
    ) -> SeriesResponse:
        return figures.series(indicator_id, geography, period_kind, code)

    @router.get(
        "/indicators/{indicator_id}/practices",
        summary="Practices ranked by an indicator in a financial year, with deciles",
        responses=NOT_FOUND,
    )
    @cache.json
    def practices(request: Request, indicator_id: str, period: PeriodQuery = None) -> PracticeRankingResponse:
        return figures.practice_ranking(indicator_id, period)

    @router.get(
        "/indicators/{indicator_id}/practice-month",
        summary="An indicator by practice and month, disclosure-controlled",
        responses=NOT_FOUND,
    )
    @cache.json
    def practice_month(
        request: Request, indicator_id: str, practice: Annotated[str | None, Query(max_length=10)] = None
    ) -> list[PracticeMonthRow]:
        return figures.practice_month(indicator_id, practice)

    @router.get("/care-homes", summary="Enhanced health in care homes: framework and residents' rates")
    @cache.json
    def care_homes(request: Request) -> CareHomesResponse:
        return figures.care_homes()

    @router.get("/data-quality", summary="Ingest batches and quarantined rows")
    @cache.json
    def data_quality(request: Request) -> DataQualityResponse:
        return figures.data_quality()

    return router
