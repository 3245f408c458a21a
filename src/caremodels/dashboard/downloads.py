"""CSV downloads of what the pages show. They are built from the API's response models, so they
carry the same disclosure-controlled counts: an empty cell is a suppressed count (1 to 7) or a rate
withheld because it rests on one, and the ``suppressed`` column says which rows (an empty value on a
row that is not suppressed has no value: no denominator, or a standardised rate from under 10
events). Every row says what its figure is: the indicator's title, the area's name beside its code,
and the value's unit with its period basis."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from caremodels.dashboard.api import PeriodQuery
from caremodels.dashboard.areas import Geography, PeriodKind
from caremodels.dashboard.figures import DashboardFigures

__all__ = ["csv_response", "download_router"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "A CSV file (UTF-8, header row)."},
    404: {"description": "Unknown site, indicator or period, or no data for it."},
}


def csv_response(rows: Sequence[dict[str, Any]], columns: Sequence[str], filename: str) -> Response:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    body = frame.to_csv(index=False, lineterminator="\n")
    safe = _SAFE_NAME.sub("-", filename)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


def download_router(figures: DashboardFigures) -> APIRouter:
    router = APIRouter(prefix="/downloads", tags=["Downloads"])

    @router.get(
        "/sites/{site_id}/indicators/{indicator_id}.csv",
        summary="A site's indicator by month (CSV)",
        response_class=Response,
        responses=CSV_RESPONSE,
    )
    def site_indicator_csv(site_id: str, indicator_id: str) -> Response:
        detail = figures.site_indicator(site_id, indicator_id)
        rows = [
            {
                "site_id": site_id,
                "site_name": detail.site.short_name,
                "indicator_id": indicator_id,
                "title": detail.indicator.title,
                **point.model_dump(mode="json"),
            }
            for point in detail.monthly
        ]
        columns = [
            "site_id",
            "site_name",
            "indicator_id",
            "title",
            "month",
            "numerator",
            "events",
            "denominator",
            "value",
            "ci_low",
            "ci_high",
            "unit",
            "suppressed",
        ]
        return csv_response(rows, columns, f"{site_id}-{indicator_id}-by-month.csv")

    @router.get(
        "/sites/{site_id}/population.csv",
        summary="A site's registered population by age band and sex (CSV)",
        response_class=Response,
        responses=CSV_RESPONSE,
    )
    def population_csv(site_id: str) -> Response:
        profile = figures.population(site_id)
        if profile is None:
            raise HTTPException(status_code=404, detail=f"no practices of {site_id} are in this warehouse")
        rows = [
            {"site_id": site_id, "profile_date": profile.profile_date.isoformat(), **band.model_dump()}
            for band in profile.age_sex
        ]
        return csv_response(
            rows, ["site_id", "profile_date", "age_band", "male", "female"], f"{site_id}-population.csv"
        )

    @router.get(
        "/indicators/{indicator_id}.csv",
        summary="An indicator for every area of a geography in one period (CSV)",
        response_class=Response,
        responses=CSV_RESPONSE,
    )
    def explorer_csv(
        indicator_id: str,
        geography: Geography = "site",
        period_kind: PeriodKind = "financial_year",
        period: PeriodQuery = None,
    ) -> Response:
        explored = figures.explore(indicator_id, geography, period_kind, period)
        rows = [
            {"indicator_id": indicator_id, "title": explored.indicator.title, **area.model_dump(mode="json")}
            for area in explored.areas
        ]
        columns = [
            "indicator_id",
            "title",
            "geography",
            "code",
            "name",
            "period",
            "period_start",
            "period_end",
            "numerator",
            "events",
            "denominator",
            "value",
            "ci_low",
            "ci_high",
            "unit",
            "suppressed",
            "funnel",
        ]
        label = (explored.period or "none").replace("/", "-").replace(" ", "-")
        return csv_response(rows, columns, f"{indicator_id}-{geography}-{label}.csv")

    @router.get(
        "/indicators/{indicator_id}/practices.csv",
        summary="Practices ranked by an indicator in a financial year, with deciles (CSV)",
        response_class=Response,
        responses=CSV_RESPONSE,
    )
    def practices_csv(indicator_id: str, period: PeriodQuery = None) -> Response:
        ranking = figures.practice_ranking(indicator_id, period)
        rows = [
            {
                "indicator_id": indicator_id,
                "title": ranking.indicator.title,
                "period": ranking.period,
                **rank.model_dump(),
                "sites": "; ".join(rank.sites),
                "unit": ranking.indicator.value_label,
            }
            for rank in ranking.ranked
        ]
        columns = [
            "indicator_id",
            "title",
            "period",
            "rank",
            "decile",
            "practice_code",
            "name",
            "sites",
            "numerator",
            "denominator",
            "value",
            "ci_low",
            "ci_high",
            "unit",
        ]
        label = (ranking.period or "none").replace("/", "-")
        return csv_response(rows, columns, f"{indicator_id}-practices-{label}.csv")

    return router
