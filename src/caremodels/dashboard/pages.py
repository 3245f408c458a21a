"""The HTML pages: each renders the same response model its API endpoint returns, draws its charts
as inline SVG (``caremodels.dashboard.charts``) and shows every chart's numbers as a table."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Iterable
from html import escape
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from caremodels.dashboard.api import PeriodQuery
from caremodels.dashboard.areas import GEOGRAPHY_NAMES, PERIOD_NAMES, Geography, PeriodKind
from caremodels.dashboard.caching import ResponseCache
from caremodels.dashboard.charts import (
    Bar,
    FunnelPoint,
    PyramidBand,
    Series,
    SpineRow,
    bar_chart,
    funnel_chart,
    line_chart,
    pyramid_chart,
    spine_chart,
)
from caremodels.dashboard.figures import HEADLINE_INDICATOR, DashboardFigures, NotFound
from caremodels.dashboard.programme_sections import (
    ProgrammeInputs,
    coverage_trajectories,
    site_budget,
    site_surveys,
)
from caremodels.dashboard.programme_sections import coverage_chart as coverage_chart_of_lenses
from caremodels.dashboard.schemas import AreaSeries, ExplorerResponse
from caremodels.evaluation.spc import SpcResult
from caremodels.reference import VANGUARD_CARE_MODELS
from caremodels.spc_charts import ChartOptions, inline_svg

__all__ = ["PAGE_SIZE", "page_router"]

PAGE_SIZE = 50
Render = Callable[..., HTMLResponse]


def _series_chart(
    series: list[AreaSeries], *, title: str, description: str, y_label: str, chart_id: str
) -> str:
    return line_chart(
        [
            Series(
                line.name,
                [(point.period_start, point.value) for point in line.points],
                _intervals((point.period_start, point) for point in line.points),
            )
            for line in series
        ],
        title=title,
        description=description,
        y_label=y_label,
        chart_id=chart_id,
    )


def _intervals(points: Iterable[tuple[dt.date, Any]]) -> dict[dt.date, tuple[float, float]]:
    """The published 95% interval of each point that has one (every rate of counted events)."""
    return {
        day: (float(point.ci_low), float(point.ci_high))
        for day, point in points
        if getattr(point, "ci_low", None) is not None and getattr(point, "ci_high", None) is not None
    }


def dashboard_spc_chart(
    result: SpcResult,
    *,
    measure: str,
    title: str,
    selected: dt.date | None = None,
    withheld: Collection[Any] = (),
    value_format: str | None = None,
    chart_id: str = "spc-chart",
) -> str:
    """Every SPC chart of the dashboard, drawn as ``caremodels spc`` draws it (one path): limits,
    target line, signals, and a marker where the site was selected as a vanguard (its go-live)
    when that month is in the chart."""
    first, last = result.points[0].date, result.points[-1].date
    notes = [(selected, "selected as vanguard")] if selected is not None and first <= selected <= last else []
    options = ChartOptions(measure=measure, annotations=notes, value_format=value_format, title=title)
    return Markup(  # noqa: S704 - drawn by vl-convert from our own specification; its text is escaped
        f'<div class="caremodels-spc" id="{escape(chart_id)}">{inline_svg(result, options, withheld=withheld)}</div>'
    )


def _pages(total: int, page: int, base: str, query: dict[str, Any]) -> dict[str, Any] | None:
    """Parameters of the NHS.UK pagination component, or None for a single page."""
    count = max(1, math.ceil(total / PAGE_SIZE))
    if count == 1:
        return None

    def href(number: int) -> str:
        return f"{base}?{urlencode({**query, 'page': number}, doseq=True)}"

    shown = sorted({1, count, *range(max(1, page - 2), min(count, page + 2) + 1)})
    items: list[dict[str, Any]] = []
    for index, number in enumerate(shown):
        if index and number - shown[index - 1] > 1:
            items.append({"ellipsis": True})
        items.append({"number": number, "href": href(number), "current": number == page})
    return {
        "items": items,
        "previous": {"href": href(page - 1)} if page > 1 else None,
        "next": {"href": href(page + 1)} if page < count else None,
    }


def page_router(
    figures: DashboardFigures,
    render: Render,
    cache: ResponseCache,
    programme: ProgrammeInputs | None = None,
) -> APIRouter:
    """The pages' routes; each page is rendered once per URL (``cache``). ``programme`` holds the
    user's files behind the budget and staff survey sections."""
    router = APIRouter(include_in_schema=False)
    programme = programme or ProgrammeInputs()
    lenses = coverage_trajectories()

    @router.get("/", response_class=HTMLResponse)
    @cache.page
    def overview(request: Request) -> HTMLResponse:
        data = figures.overview()
        headline = next((item for item in data.indicators if item.id == HEADLINE_INDICATOR), None)
        monthly_chart = _series_chart(
            data.monthly,
            title="Emergency admissions per 1,000 registered patients per year, by month",
            description="Monthly emergency admission rate, annualised, for each care model type with practices "
            "in the warehouse and for practices outside every vanguard. The same figures are in the table below.",
            y_label="per 1,000 registered patients per year",
            chart_id="monthly-rate",
        )
        coverage_chart = bar_chart(
            [Bar(year.financial_year, year.share) for year in data.coverage],
            title="Share of England's registered population covered by new care models, by financial year",
            description="Coverage by MCP and PACS vanguards each year against the goal of 50% by 2020/21. "
            "The same figures are in the table below.",
            value_label="Share of England's registered population",
            goal=next((year.goal_share for year in data.coverage if year.goal_share), None),
            goal_label="Goal: 50% by 2020/21",
            percent=True,
            chart_id="coverage-chart",
        )
        growth_indicators = list(dict.fromkeys(growth.indicator for growth in data.growth_by_indicator))
        growth_matrix = {(growth.area, growth.indicator): growth for growth in data.growth_by_indicator}
        titles = {item.id: item.title for item in data.indicators}
        monthly_periods = sorted({point.period for line in data.monthly for point in line.points})
        monthly_lookup = {line.name: {point.period: point for point in line.points} for line in data.monthly}
        return render(
            "overview.html",
            request,
            page="overview",
            data=data,
            headline=headline,
            monthly_chart=monthly_chart,
            coverage_chart=coverage_chart,
            coverage_lenses=lenses,
            coverage_lenses_chart=coverage_chart_of_lenses(lenses, ("vanguards", "ics-waves", "combined")),
            growth_indicators=growth_indicators,
            growth_matrix=growth_matrix,
            titles=titles,
            monthly_periods=monthly_periods,
            monthly_lookup=monthly_lookup,
            sites_by_type={
                code: [site for site in figures.sites_out() if site.care_model == code]
                for code in VANGUARD_CARE_MODELS
            },
        )

    @router.get("/sites", response_class=HTMLResponse)
    @cache.page
    def sites(request: Request) -> HTMLResponse:
        everything = figures.sites_out()
        by_type = {
            code: [site for site in everything if site.care_model == code] for code in VANGUARD_CARE_MODELS
        }
        names = {row.code: row.name for row in figures.overview().care_models}
        return render("sites.html", request, page="sites", by_type=by_type, type_names=names)

    @router.get("/sites/{site_id}", response_class=HTMLResponse)
    @cache.page
    def site(request: Request, site_id: str) -> HTMLResponse:
        data = figures.site(site_id)
        pyramid = deprivation = ""
        if data.population is not None:
            pyramid = pyramid_chart(
                [
                    PyramidBand(band.age_band, band.male or 0, band.female or 0)
                    for band in data.population.age_sex
                ],
                title=f"Registered population of {data.site.short_name} by age and sex",
                description="Males on the left, females on the right, five-year age bands from 0-4 at the bottom "
                "to 90 and over at the top. Suppressed counts are drawn as zero. The same figures are in the table.",
                left_label="Male",
                right_label="Female",
                chart_id="pyramid",
            )
            deprivation = bar_chart(
                [
                    Bar(f"Decile {row.decile}", row.share or 0.0, reference=row.england_share)
                    for row in data.population.deprivation
                ],
                title=f"Registered population of {data.site.short_name} by deprivation decile",
                description="Share of the site's registered patients at practices in each IMD 2019 decile of "
                "England (decile 1 most deprived), with England's share (10% each) marked. "
                "The same figures are in the table.",
                value_label="Share of registered patients",
                reference_label="England (10% in each decile)",
                percent=True,
                chart_id="deprivation-chart",
            )
        trusts = figures.trust_group(site_id) if site_id in figures.trusts.sites else None
        group_spc = figures.trust_group_spc(site_id) if trusts is not None else None
        trust_chart = (
            dashboard_spc_chart(
                group_spc,
                measure="within 4 hours",
                title=f"A&E 4-hour performance of {data.site.short_name}'s trusts, by month (SPC chart)",
                selected=data.site.selected,
                value_format=".1%",
                chart_id="trusts-spc-chart",
            )
            if group_spc is not None
            else ""
        )
        spine_pending = bool(data.site.practices_in_warehouse) and not figures.spine_ready(site_id)
        spine = figures.spine(site_id) if data.site.practices_in_warehouse and not spine_pending else None
        spine_svg = (
            spine_chart(
                [
                    SpineRow(
                        row.title,
                        row.site.value,
                        float(row.england or 0.0),
                        float(row.lowest or 0.0),
                        float(row.lower_quartile or 0.0),
                        float(row.upper_quartile or 0.0),
                        float(row.highest or 0.0),
                        row.site.england_95 or "not compared",
                    )
                    for row in spine.rows
                ],
                title=f"Spine chart: {data.site.short_name} against England, latest financial year",
                description="One line per indicator: all practices in the warehouse at the centre, the range of "
                "vanguard sites as a bar with the middle half darker, and the site's value as a marker coloured and "
                "shaped by its comparison at 95%. The same figures are in the table.",
                chart_id="spine-chart",
            )
            if spine and spine.rows
            else ""
        )
        return render(
            "site.html",
            request,
            page="sites",
            data=data,
            spine=spine,
            spine_pending=spine_pending,
            spine_chart=spine_svg,
            trusts=trusts,
            trust_chart=trust_chart,
            titles={item.indicator.id: item.indicator.title for item in data.indicators},
            pyramid=pyramid,
            deprivation=deprivation,
            budget_section=site_budget(site_id, programme),
            survey_section=site_surveys(site_id, programme),
        )

    @router.get("/sites/{site_id}/indicators/{indicator_id}", response_class=HTMLResponse)
    @cache.page
    def site_indicator(request: Request, site_id: str, indicator_id: str) -> HTMLResponse:
        data = figures.site_indicator(site_id, indicator_id)
        result = figures.spc_result(site_id, indicator_id)
        chart = (
            dashboard_spc_chart(
                result,
                measure=data.indicator.value_label,
                title=f"{data.indicator.title}: {data.site.short_name}, by month (SPC chart)",
                selected=figures.sites[site_id].selected,
                withheld=figures.withheld_months(site_id, indicator_id),
            )
            if result is not None
            else ""
        )
        return render("site_indicator.html", request, page="sites", data=data, chart=chart)

    @router.get("/indicators", response_class=HTMLResponse)
    @cache.page
    def indicators(request: Request) -> HTMLResponse:
        return render("indicators.html", request, page="indicators", indicators=figures.indicators())

    @router.get("/indicators/{indicator_id}", response_class=HTMLResponse, response_model=None)
    @cache.page
    def explorer(
        request: Request,
        indicator_id: str,
        geography: Geography = "site",
        period_kind: PeriodKind = "financial_year",
        period: PeriodQuery = None,
        indicator: Annotated[str | None, Query(max_length=60)] = None,
        compare: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
        highlight: Annotated[str | None, Query(max_length=60)] = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        q: Annotated[str | None, Query(max_length=80, description="Area name or code contains")] = None,
    ) -> Response:
        if indicator and indicator != indicator_id:
            # The form's indicator select chooses another page: go there with the same choices.
            query = urlencode({"geography": geography, "period_kind": period_kind}, doseq=True)
            return RedirectResponse(f"/indicators/{indicator}?{query}", status_code=303)
        if period is not None and period not in figures.periods(indicator_id, period_kind):
            # A period of another period kind (the form keeps the old one): show the latest instead.
            period = None
        data = figures.explore(indicator_id, geography, period_kind, period)
        return _explorer_page(request, render, figures, data, compare, highlight, page, (q or "").strip())

    @router.get("/care-homes", response_class=HTMLResponse)
    @cache.page
    def care_homes(request: Request) -> HTMLResponse:
        data = figures.care_homes()
        charts = []
        for indicator in data.indicators:
            if not indicator.available:
                continue
            series = [
                Series(
                    group.group,
                    [(year.period_start, year.value) for year in group.years],
                    _intervals((year.period_start, year) for year in group.years),
                )
                for group in data.values
                if group.indicator == indicator.id
            ]
            charts.append(
                (
                    indicator,
                    line_chart(
                        series,
                        title=f"{indicator.title}, by financial year",
                        description="Annual value among care home residents for EHCH sites, each EHCH site with "
                        "practices in the warehouse, and the rest of England. The same figures are in the table.",
                        y_label=indicator.value_label,
                        chart_id=f"residents-{indicator.id}",
                    ),
                )
            )
        titles = {indicator.id: indicator.title for indicator in data.indicators}
        return render("care_homes.html", request, page="care-homes", data=data, charts=charts, titles=titles)

    @router.get("/data-quality", response_class=HTMLResponse)
    @cache.page
    def data_quality(request: Request) -> HTMLResponse:
        data = figures.data_quality()
        chart = bar_chart(
            [Bar(_shorten(row.reason, 44), row.rows or 0) for row in data.quarantine_by_reason],
            title="Quarantined rows by reason",
            description="Rows that failed validation and were quarantined, by reason; counts are rounded to "
            "the nearest 5 and counts from 1 to 7 are drawn as zero. The same figures are in the table.",
            value_label="Rows quarantined",
            label_width=330,
            chart_id="quarantine-chart",
        )
        return render("data_quality.html", request, page="data-quality", data=data, chart=chart)

    return router


def _explorer_page(
    request: Request,
    render: Render,
    figures: DashboardFigures,
    data: ExplorerResponse,
    compare: list[str],
    highlight: str | None,
    page: int,
    search: str = "",
) -> HTMLResponse:
    indicator = data.indicator
    if search:
        # Search by name (practices, CCGs and sites are named from the shipped reference data) or code.
        wanted = search.casefold()
        data = data.model_copy(
            update={
                "areas": [a for a in data.areas if wanted in a.name.casefold() or wanted in a.code.casefold()]
            }
        )
    geography = cast(Geography, data.geography)
    period_kind = cast(PeriodKind, data.period_kind)
    published = [area for area in data.areas if area.value is not None]
    funnel = ""
    if data.funnel is not None and published:
        funnel = funnel_chart(
            [
                FunnelPoint(
                    f"{area.name}: {area.value:,.1f}",
                    float(area.denominator or 0),
                    area.value or 0.0,
                    area.code == highlight,
                )
                for area in published
            ],
            {
                "denominator": data.funnel.denominator,
                "lower_95": data.funnel.lower_95,
                "upper_95": data.funnel.upper_95,
                "lower_99_8": data.funnel.lower_99_8,
                "upper_99_8": data.funnel.upper_99_8,
            },
            target=data.funnel.target,
            title=f"{indicator.title}, {data.period}: funnel plot of {GEOGRAPHY_NAMES[geography].lower()} areas",
            description="Each area's value against its denominator, with the overall value and "
            "95% and 99.8% control limits. Areas outside the limits differ from the overall value by more than "
            "chance would explain. The same figures are in the table below.",
            x_label=indicator.denominator_label,
            y_label=indicator.value_label,
            chart_id="funnel-chart",
        )
    site_codes = figures.areas.codes("site")
    chosen = [code for code in compare if code in site_codes] or site_codes[:3]
    comparison = figures.series(indicator.id, "site", period_kind, chosen) if chosen else None
    compare_chart = (
        _series_chart(
            comparison.series,
            title=f"{indicator.title}: chosen sites by {PERIOD_NAMES[period_kind].lower()}",
            description="The value of each chosen site over time. The same figures are in the table below.",
            y_label=indicator.value_label,
            chart_id="compare-chart",
        )
        if comparison
        else ""
    )
    ranking = (
        figures.practice_ranking(indicator.id, data.period) if data.period_kind == "financial_year" else None
    )
    ranked_page = ranking.ranked[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if ranking else []
    query = {"geography": data.geography, "period_kind": data.period_kind, "period": data.period or ""}
    listed = {**query, "q": search} if search else query
    areas_page = (
        data.areas if geography != "practice" else data.areas[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    )
    total_for_pages = len(ranking.ranked) if ranking else 0
    if geography == "practice":
        total_for_pages = len(data.areas) if search else max(total_for_pages, len(data.areas))
    return render(
        "explorer.html",
        request,
        page="indicators",
        data=data,
        indicators=figures.indicators(),
        geographies=GEOGRAPHY_NAMES,
        period_kinds=PERIOD_NAMES,
        funnel=funnel,
        site_names={code: figures.areas.name("site", code) for code in site_codes},
        chosen=chosen,
        comparison=comparison,
        compare_chart=compare_chart,
        ranking=ranking,
        ranked_page=ranked_page,
        areas_page=areas_page,
        pagination=_pages(total_for_pages, page, f"/indicators/{indicator.id}", listed),
        search=search,
        areas_total=len(data.areas),
        download_query=urlencode(query),
        highlight=highlight,
    )


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def not_found_page(render: Render, request: Request, error: NotFound) -> HTMLResponse:
    response = render("not_found.html", request, page="", message=str(error))
    response.status_code = 404
    return response
