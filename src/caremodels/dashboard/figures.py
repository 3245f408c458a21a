"""Every figure the dashboard shows, as the response models of its JSON API.

``DashboardFigures`` is built once from a ``WarehouseSnapshot``. Programme and site figures are
computed when it is built (so the first visitor does not wait); explorer aggregations are computed
on first use and kept. Pages and API endpoints call the same methods, so a page never shows a
number the API does not give.

Disclosure control happens here, once, on the way out: counts pass through
``caremodels.indicators.disclosure.round_count``; a rate resting on a suppressed count is withheld.
Growth comparisons and evaluations whose annual counts include a suppressed one are not published.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import warnings
from collections.abc import Callable, Collection, Iterable
from typing import Any, Literal, TypeVar, cast

import numpy as np
import pandas as pd

from caremodels.dashboard.areas import (
    GEOGRAPHY_NAMES,
    MONTHS_IN_PERIOD,
    AreaIndex,
    Geography,
    PeriodKind,
    rates_by_area,
)
from caremodels.dashboard.reported import ReportedResult, reported_results, reported_results_source
from caremodels.dashboard.schemas import (
    AgeSexBand,
    AreaRate,
    AreaSeries,
    AreaYearOut,
    BatchOut,
    CareHomesResponse,
    CareModelRow,
    CoverageYearOut,
    DataQualityResponse,
    DeprivationDecile,
    EhchElementOut,
    EvaluationOut,
    ExplorerResponse,
    FunnelLimitsOut,
    FundingConditionRow,
    GrowthOut,
    IndicatorSummary,
    MonthlyPoint,
    OverviewResponse,
    PopulationProfile,
    PracticeMonthRow,
    PracticeRank,
    PracticeRankingResponse,
    QuarantineCount,
    ReportedVsMeasured,
    ResidentRate,
    SeriesPoint,
    SeriesResponse,
    SiteIndicatorResponse,
    SiteIndicatorSummary,
    SiteOut,
    SiteResponse,
    SpcPointOut,
    SpcSummary,
    TableCount,
)
from caremodels.dashboard.snapshot import OLDEST_BAND_FROM, WarehouseSnapshot
from caremodels.errors import CaremodelsError
from caremodels.evaluation.monitoring import GrowthComparison, growth_against_rest
from caremodels.evaluation.result import EvaluationResult
from caremodels.evaluation.spc import ShortSeriesWarning, SpcResult, spc
from caremodels.indicators import IndicatorDefinition, catalogue
from caremodels.indicators.disclosure import round_count
from caremodels.periods import financial_year, financial_year_label
from caremodels.programme import coverage, site_summaries
from caremodels.reference import (
    VANGUARD_CARE_MODELS,
    care_model_types,
    ehch_framework,
    practices,
    programme_constants,
    site_memberships,
    vanguard_sites,
)
from caremodels.stats import crude_rate_ci_arrays, funnel_limits_rate, proportion

__all__ = ["HEADLINE_INDICATOR", "DashboardFigures", "NotFound"]

HEADLINE_INDICATOR = "emergency_admissions"
REST_OF_ENGLAND = "Rest of England"
_T = TypeVar("_T")
FunnelBand = Literal["above_99_8", "above_95", "within", "below_95", "below_99_8"]


class NotFound(CaremodelsError):
    """A site, indicator or period the dashboard does not know (HTTP 404)."""


def disclosed(count: float | int | None) -> int | None:
    """A count as published (None when suppressed)."""
    if count is None or (isinstance(count, float) and not math.isfinite(count)):
        return None
    return round_count(round(count))


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy scalars Python ones."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _improvement(definition: IndicatorDefinition) -> Literal["increase", "decrease", "neither"]:
    return {"lower": "decrease", "higher": "increase"}.get(definition.direction_of_improvement, "neither")  # type: ignore[return-value]


class DashboardFigures:
    """The figures of one warehouse snapshot."""

    def __init__(self, snapshot: WarehouseSnapshot) -> None:
        self.snapshot = snapshot
        self.memberships = site_memberships()
        self.sites = {site.id: site for site in vanguard_sites()}
        self.types = {model.code: model for model in care_model_types()}
        self.summaries = {summary.id: summary for summary in site_summaries()}
        self.present = set(snapshot.present_practices)
        self.areas = AreaIndex.build(self.present, self.memberships)
        self.site_practices = {
            site_id: set(membership.practice_codes) & self.present
            for site_id, membership in self.memberships.items()
        }
        self.type_practices = {
            model: {code for site in vanguard_sites() if site.care_model == model for code in self.memberships[site.id].practice_codes}
            for model in VANGUARD_CARE_MODELS
        }
        self.sites_of_practice: dict[str, list[str]] = {}
        for site in vanguard_sites():
            for code in self.memberships[site.id].practice_codes:
                self.sites_of_practice.setdefault(code, []).append(site.short_name)
        self.deciles = _deprivation_deciles()
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        # Computed now so that no visitor waits for them.
        self._overview = self._build_overview()
        self._site_responses = {site_id: self._build_site(site_id) for site_id in self.sites}
        self._care_homes = self._build_care_homes()
        self._data_quality = self._build_data_quality()

    # -- shared helpers -------------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], build: Callable[[], _T]) -> _T:
        with self._lock:
            if key in self._memo:
                return cast(_T, self._memo[key])
        value = build()
        with self._lock:
            self._memo.setdefault(key, value)
            return cast(_T, self._memo[key])

    def indicator_summary(self, definition: IndicatorDefinition) -> IndicatorSummary:
        return IndicatorSummary(
            id=definition.id,
            title=definition.title,
            description=definition.description,
            unit=definition.unit,
            multiplier=definition.multiplier,
            direction_of_improvement=definition.direction_of_improvement,
            available=definition.id in self.snapshot.indicators,
            reason_unavailable=self.snapshot.unavailable.get(definition.id),
        )

    def indicators(self) -> list[IndicatorSummary]:
        return [self.indicator_summary(definition) for definition in catalogue()]

    def available_indicators(self) -> list[IndicatorDefinition]:
        return [item.definition for item in self.snapshot.indicators.values()]

    def _definition(self, indicator_id: str, *, require_data: bool = True) -> IndicatorDefinition:
        for definition in catalogue():
            if definition.id == indicator_id:
                if require_data and indicator_id not in self.snapshot.indicators:
                    raise NotFound(
                        f"indicator {indicator_id} has no data in this warehouse: "
                        f"{self.snapshot.unavailable.get(indicator_id, 'not computed')}"
                    )
                return definition
        raise NotFound(f"no indicator {indicator_id!r}")

    def site_out(self, site_id: str) -> SiteOut:
        site = self.sites.get(site_id)
        if site is None:
            raise NotFound(f"no vanguard site {site_id!r}")
        summary = self.summaries[site_id]
        return SiteOut(
            id=site.id,
            name=site.name,
            short_name=site.short_name,
            care_model=site.care_model,
            care_model_name=self.types[site.care_model].name,
            selected=site.selected,
            lead_organisation=site.lead_organisation,
            description=site.description,
            population_basis=site.population_basis,
            practices=summary.practices,
            practices_in_warehouse=len(self.site_practices[site_id]),
            registered_population_2021=summary.registered_population_2021,
            membership_source=summary.membership_source,
        )

    def sites_out(self) -> list[SiteOut]:
        return [self.site_out(site_id) for site_id in self.sites]

    def _growth(
        self,
        counts: pd.DataFrame,
        area_practices: Collection[str],
        rest_practices: Collection[str],
        *,
        indicator: IndicatorDefinition,
        area: str,
        care_model: str | None,
        baseline_year: int | None = None,
        comparison_year: int | None = None,
        multiplier: float | None = None,
    ) -> tuple[GrowthOut | None, str | None]:
        """A published growth comparison, or None and the reason it is not published."""
        if not set(area_practices) & set(counts["practice_code"]):
            return None, f"no practices of {area} have data for this indicator"
        try:
            comparison = growth_against_rest(
                counts,
                area_practices,
                indicator=indicator.id,
                area=area,
                rest_practices=rest_practices,
                baseline_year=baseline_year,
                comparison_year=comparison_year,
                care_model=care_model,
                multiplier=multiplier or indicator.multiplier,
            )
        except (ValueError, ZeroDivisionError) as error:
            return None, str(error)
        return _growth_out(comparison)

    # -- programme overview ---------------------------------------------------------------------

    def overview(self) -> OverviewResponse:
        return self._overview

    def _build_overview(self) -> OverviewResponse:
        population = self._registered_by_practice()
        care_models = []
        for code in VANGUARD_CARE_MODELS:
            model_sites = [summary for summary in self.summaries.values() if summary.care_model == code]
            in_warehouse = self.type_practices[code] & self.present
            care_models.append(
                CareModelRow(
                    code=code,
                    name=self.types[code].name,
                    selected=self.types[code].selected,
                    sites=len(model_sites),
                    sites_in_warehouse=sum(1 for site in model_sites if self.site_practices[site.id]),
                    registered_population_2021=None
                    if code == "ACC"
                    else sum(site.registered_population_2021 for site in model_sites),
                    registered_in_warehouse=disclosed(sum(population.get(p, 0) for p in in_warehouse))
                    if in_warehouse
                    else None,
                )
            )
        comparisons: list[GrowthOut] = []
        by_indicator: list[GrowthOut] = []
        for item in self.snapshot.indicators.values():
            for code in VANGUARD_CARE_MODELS:
                area = self.type_practices[code] & self.present
                if not area:
                    continue
                growth, _ = self._growth(
                    item.counts,
                    area,
                    self.present - self.type_practices[code],
                    indicator=item.definition,
                    area=code,
                    care_model=code,
                )
                if growth is None:
                    continue
                by_indicator.append(growth)
                if item.definition.id == HEADLINE_INDICATOR:
                    comparisons.append(growth)
        conditions = []
        for growth in comparisons:
            condition = growth.result.diagnostics.get("funding_condition_2017")
            if isinstance(condition, dict):
                conditions.append(
                    FundingConditionRow(
                        care_model=growth.area,
                        required_points_below_rest=float(condition["required_points_below_rest"]),
                        difference_percentage_points=growth.difference_percentage_points,
                        met=bool(condition["met"]),
                    )
                )
        return OverviewResponse(
            warehouse=self.snapshot.path.name,
            indicator=HEADLINE_INDICATOR,
            indicators=self.indicators(),
            care_models=care_models,
            coverage=[CoverageYearOut(**year.model_dump()) for year in coverage()],
            comparisons=comparisons,
            growth_by_indicator=by_indicator,
            funding_conditions=conditions,
            monthly=self._monthly_by_type(),
        )

    def _registered_by_practice(self) -> dict[str, int]:
        frame = self.snapshot.population
        return {str(code): int(people) for code, people in frame.groupby("practice_code")["people"].sum().items()}

    def _monthly_by_type(self) -> list[AreaSeries]:
        item = self.snapshot.indicators.get(HEADLINE_INDICATOR)
        if item is None:
            return []
        groups: dict[str, set[str]] = {}
        for code in VANGUARD_CARE_MODELS:
            practices_of_type = self.type_practices[code] & self.present
            if practices_of_type:
                groups[f"{self.types[code].name} ({code})"] = practices_of_type
        if groups:
            groups[f"{REST_OF_ENGLAND} (outside every vanguard)"] = self.present - set().union(*groups.values())
        return [
            AreaSeries(code=name, name=name, points=self._monthly_points(item.counts, practices_of_group, item.definition))
            for name, practices_of_group in groups.items()
            if practices_of_group
        ]

    def _monthly_points(
        self, counts: pd.DataFrame, group: Collection[str], definition: IndicatorDefinition
    ) -> list[SeriesPoint]:
        return [
            SeriesPoint(
                period=point.month.isoformat()[:7],
                period_start=point.month,
                rate=point.rate,
                ci_low=point.ci_low,
                ci_high=point.ci_high,
            )
            for point in _monthly(counts, group, definition.multiplier)
        ]

    # -- site pages -----------------------------------------------------------------------------

    def site(self, site_id: str) -> SiteResponse:
        if site_id not in self._site_responses:
            raise NotFound(f"no vanguard site {site_id!r}")
        return self._site_responses[site_id]

    def _build_site(self, site_id: str) -> SiteResponse:
        site = self.sites[site_id]
        practices_of_site = self.site_practices[site_id]
        summaries = []
        evaluations = []
        for definition in catalogue():
            item = self.snapshot.indicators.get(definition.id)
            if item is None:
                summaries.append(
                    SiteIndicatorSummary(
                        indicator=self.indicator_summary(definition),
                        latest_period=None,
                        latest_rate=None,
                        spc=None,
                        growth=None,
                        reason=self.snapshot.unavailable.get(definition.id),
                    )
                )
                continue
            detail = self.site_indicator(site_id, definition.id) if practices_of_site else None
            latest = next((point for point in reversed(detail.monthly) if point.rate is not None), None) if detail else None
            growth = detail.growth if detail else None
            if growth is not None:
                evaluations.append(growth.result)
            summaries.append(
                SiteIndicatorSummary(
                    indicator=self.indicator_summary(definition),
                    latest_period=latest.month.isoformat()[:7] if latest else None,
                    latest_rate=latest.rate if latest else None,
                    spc=detail.spc if detail else None,
                    growth=growth,
                    reason=None
                    if detail and growth
                    else (detail.growth_reason if detail else f"no practices of {site.short_name} are in this warehouse"),
                )
            )
        return SiteResponse(
            site=self.site_out(site_id),
            population=self.population(site_id) if practices_of_site else None,
            indicators=summaries,
            evaluations=evaluations,
            reported=[self._reported(result) for result in reported_results() if result.site == site_id],
        )

    def population(self, site_id: str) -> PopulationProfile | None:
        self.site_out(site_id)
        frame = self.snapshot.population
        frame = frame[frame["practice_code"].isin(self.site_practices[site_id])]
        if frame.empty or self.snapshot.profile_date is None:
            return None
        by_band = frame.groupby(["age_from", "sex"])["people"].sum()
        bands = []
        for age_from in range(0, OLDEST_BAND_FROM + 1, 5):
            label = f"{age_from}+" if age_from == OLDEST_BAND_FROM else f"{age_from}-{age_from + 4}"
            bands.append(
                AgeSexBand(
                    age_band=label,
                    male=disclosed(int(by_band.get((age_from, "1"), 0))),
                    female=disclosed(int(by_band.get((age_from, "2"), 0))),
                )
            )
        by_practice = frame.groupby("practice_code")["people"].sum()
        by_decile: dict[int, int] = {}
        unknown = 0
        for code, people in by_practice.items():
            decile = self.deciles.get(str(code))
            if decile is None:
                unknown += int(people)
            else:
                by_decile[decile] = by_decile.get(decile, 0) + int(people)
        published = {decile: disclosed(by_decile.get(decile, 0)) for decile in range(1, 11)}
        total_published = sum(value for value in published.values() if value is not None)
        deprivation = [
            DeprivationDecile(
                decile=decile,
                people=published[decile],
                # Shares from the published counts, so they cannot give a suppressed count back.
                share=(published[decile] or 0) / total_published if total_published else None,
                england_share=0.1,
            )
            for decile in range(1, 11)
        ]
        return PopulationProfile(
            profile_date=self.snapshot.profile_date,
            registered=disclosed(int(frame["people"].sum())),
            not_specified_sex=disclosed(int(frame.loc[frame["sex"] == "9", "people"].sum())),
            age_sex=bands,
            deprivation=deprivation,
            deprivation_unknown=disclosed(unknown),
        )

    def site_indicator(self, site_id: str, indicator_id: str) -> SiteIndicatorResponse:
        return self._cached(("site_indicator", site_id, indicator_id), lambda: self._site_indicator(site_id, indicator_id))

    def _site_indicator(self, site_id: str, indicator_id: str) -> SiteIndicatorResponse:
        site = self.site_out(site_id)
        definition = self._definition(indicator_id)
        counts = self.snapshot.indicators[indicator_id].counts
        group = self.site_practices[site_id]
        monthly = _monthly(counts, group, definition.multiplier)
        spc_summary, spc_points, spc_reason = _spc_of(monthly, definition)
        care_model = self.sites[site_id].care_model
        growth, growth_reason = self._growth(
            counts,
            group,
            self.present - self.type_practices[care_model],
            indicator=definition,
            area=site.short_name,
            care_model=care_model,
        )
        return SiteIndicatorResponse(
            site=site,
            indicator=self.indicator_summary(definition),
            monthly=monthly,
            spc=spc_summary,
            spc_points=spc_points,
            spc_reason=spc_reason,
            growth=growth,
            growth_reason=growth_reason,
        )

    def _reported(self, result: ReportedResult) -> ReportedVsMeasured:
        base = {
            "site_id": result.site,
            "measure": result.measure,
            "cohort": result.reported_cohort,
            "reported": result.reported,
            "reported_change": result.reported_change,
            "reported_period": result.reported_period,
            "source": reported_results_source(),
            "indicator": result.indicator,
            "measured_periods": {
                "baseline": financial_year_label(result.baseline_year),
                "comparison": financial_year_label(result.comparison_year),
            },
        }
        group = self.site_practices[result.site]
        if result.kind == "advice_and_guidance":
            return self._reported_advice(result, base, group)
        if result.indicator is None:
            return _not_measurable(base, result, "no indicator is named for this result")
        try:
            definition = self._definition(result.indicator, require_data=False)
        except NotFound:
            return _not_measurable(base, result, f"the indicator catalogue has no {result.indicator} yet")
        if result.cohort == "care_home_residents":
            counts = self._resident_counts(definition.id)
            if counts is None:
                reason = self.snapshot.care_homes.reason or self.snapshot.care_homes.unavailable.get(
                    definition.id, "not computed for care home residents"
                )
                return _not_measurable(base, result, f"{definition.title} among care home residents: {reason}")
        else:
            item = self.snapshot.indicators.get(definition.id)
            if item is None:
                return _not_measurable(
                    base, result, f"{definition.title}: {self.snapshot.unavailable.get(definition.id, 'no data')}"
                )
            counts = item.counts
        care_model = self.sites[result.site].care_model
        growth, reason = self._growth(
            counts,
            group,
            self.present - self.type_practices[care_model],
            indicator=definition,
            area=self.sites[result.site].short_name,
            care_model=care_model,
            baseline_year=result.baseline_year,
            comparison_year=result.comparison_year,
        )
        if growth is None:
            return _not_measurable(base, result, f"{definition.title}: {reason}")
        low, high = _ratio_interval(growth.baseline, growth.comparison)
        return ReportedVsMeasured(
            **base,
            measured_change=growth.growth,
            measured_ci_low=low,
            measured_ci_high=high,
            rest_change=growth.rest_growth,
            method=f"{definition.title}, {'care home residents' if result.cohort == 'care_home_residents' else 'whole registered list'}: "
            "change in the annual rate between the two years (95% CI), rest of England beside it",
            note=result.note,
            status="measured",
        )

    def _reported_advice(self, result: ReportedResult, base: dict[str, Any], group: set[str]) -> ReportedVsMeasured:
        advice = self.snapshot.advice
        rows = advice[(advice["practice_code"].isin(group)) & (advice["financial_year"] == result.comparison_year)]
        requests, referred = int(rows["requests"].sum()), int(rows["referred"].sum())
        if requests == 0:
            return _not_measurable(
                base, result, "no advice and guidance requests from the site's practices are loaded for that year"
            )
        if disclosed(referred) is None or disclosed(requests - referred) is None:
            return _not_measurable(base, result, "too few requests to publish")
        share = proportion(referred, requests)
        return ReportedVsMeasured(
            **{**base, "measured_periods": {"year": financial_year_label(result.comparison_year)}},
            measured_change=share.value - 1 if share.value is not None else None,
            measured_ci_low=share.lower - 1 if share.lower is not None else None,
            measured_ci_high=share.upper - 1 if share.upper is not None else None,
            method="share of advice and guidance requests that ended in a referral, minus one (Wilson 95% CI)",
            note=result.note,
            status="measured",
        )

    # -- indicator explorer ---------------------------------------------------------------------

    def _rates(self, indicator_id: str, geography: Geography, period_kind: PeriodKind) -> pd.DataFrame:
        definition = self._definition(indicator_id)
        return self._cached(
            ("rates", indicator_id, geography, period_kind),
            lambda: rates_by_area(
                self.snapshot.indicators[indicator_id].counts,
                self.areas,
                geography,
                period_kind,
                multiplier=definition.multiplier,
            ),
        )

    def periods(self, indicator_id: str, period_kind: PeriodKind) -> list[str]:
        rates = self._rates(indicator_id, "all", period_kind)
        return list(dict.fromkeys(rates["period"]))

    def explore(
        self, indicator_id: str, geography: Geography, period_kind: PeriodKind, period: str | None
    ) -> ExplorerResponse:
        return self._cached(
            ("explore", indicator_id, geography, period_kind, period),
            lambda: self._explore(indicator_id, geography, period_kind, period),
        )

    def _explore(
        self, indicator_id: str, geography: Geography, period_kind: PeriodKind, period: str | None
    ) -> ExplorerResponse:
        definition = self._definition(indicator_id)
        periods = self.periods(indicator_id, period_kind)
        if period is None:
            period = periods[-1] if periods else None
        elif period not in periods:
            raise NotFound(f"{indicator_id} has no complete {period_kind.replace('_', ' ')} {period!r}")
        rates = self._rates(indicator_id, geography, period_kind)
        rows = rates[rates["period"] == period]
        overall = self._rates(indicator_id, "all", period_kind)
        overall = overall[overall["period"] == period]
        funnel: FunnelLimitsOut | None = None
        bands: list[FunnelBand | None] = [None] * len(rows)
        if geography != "all" and len(overall) and float(overall["rate"].iloc[0]) > 0 and len(rows):
            target = float(overall["rate"].iloc[0])
            person_years = rows["person_years"].to_numpy(dtype=np.float64)
            bands = _funnel_bands(rows["rate"].to_numpy(dtype=np.float64), person_years, target, definition.multiplier)
            funnel = _funnel_curves(person_years, MONTHS_IN_PERIOD[period_kind] / 12, target, definition.multiplier)
        areas = [
            _area_rate(geography, row, band)
            for row, band in zip(rows.itertuples(index=False), bands, strict=True)
        ]
        return ExplorerResponse(
            indicator=self.indicator_summary(definition),
            geography=geography,
            period_kind=period_kind,
            period=period,
            periods=periods,
            areas=areas,
            funnel=funnel,
        )

    def series(
        self, indicator_id: str, geography: Geography, period_kind: PeriodKind, codes: Iterable[str]
    ) -> SeriesResponse:
        definition = self._definition(indicator_id)
        rates = self._rates(indicator_id, geography, period_kind)
        wanted = list(dict.fromkeys(codes))
        unknown = [code for code in wanted if code not in self.areas.names[geography]]
        if unknown:
            raise NotFound(f"no {GEOGRAPHY_NAMES[geography].lower()} {unknown[0]!r} in this warehouse")
        series = []
        for code in wanted:
            rows = rates[rates["code"] == code]
            series.append(
                AreaSeries(
                    code=code,
                    name=self.areas.name(geography, code),
                    points=[
                        SeriesPoint(
                            period=row.period,
                            period_start=row.period_start,
                            rate=area.rate,
                            ci_low=area.ci_low,
                            ci_high=area.ci_high,
                        )
                        for row in rows.itertuples(index=False)
                        for area in [_area_rate(geography, row, None)]
                    ],
                )
            )
        return SeriesResponse(
            indicator=self.indicator_summary(definition), geography=geography, period_kind=period_kind, series=series
        )

    def practice_ranking(self, indicator_id: str, period: str | None) -> PracticeRankingResponse:
        return self._cached(("ranking", indicator_id, period), lambda: self._practice_ranking(indicator_id, period))

    def _practice_ranking(self, indicator_id: str, period: str | None) -> PracticeRankingResponse:
        explored = self.explore(indicator_id, "practice", "financial_year", period)
        published = [area for area in explored.areas if not area.suppressed and area.rate is not None]
        published.sort(key=lambda area: (area.rate, area.code))
        total = len(published)
        ranked = [
            PracticeRank(
                rank=rank,
                decile=(rank - 1) * 10 // total + 1,
                practice_code=area.code,
                sites=self.sites_of_practice.get(area.code, []),
                rate=cast(float, area.rate),
                ci_low=cast(float, area.ci_low),
                ci_high=cast(float, area.ci_high),
                numerator=area.numerator,
                registered_population=area.registered_population,
            )
            for rank, area in enumerate(published, start=1)
        ]
        return PracticeRankingResponse(
            indicator=explored.indicator,
            period=explored.period,
            ranked=ranked,
            not_ranked=len(explored.areas) - total,
        )

    def practice_month(self, indicator_id: str, practice: str | None) -> list[PracticeMonthRow]:
        definition = self._definition(indicator_id)
        counts = self.snapshot.indicators[indicator_id].counts
        if practice is not None:
            counts = counts[counts["practice_code"] == practice]
        rows = []
        for row in counts.itertuples(index=False):
            numerator, denominator = disclosed(row.numerator), disclosed(row.denominator)
            suppressed = numerator is None or denominator is None
            rows.append(
                PracticeMonthRow(
                    practice_code=str(row.practice_code),
                    month=row.month,
                    numerator=numerator,
                    denominator=denominator,
                    rate=None if suppressed else float(row.numerator) / float(row.denominator) * definition.multiplier,
                    suppressed=suppressed,
                )
            )
        return rows

    # -- care homes -----------------------------------------------------------------------------

    def care_homes(self) -> CareHomesResponse:
        return self._care_homes

    def _resident_counts(self, indicator_id: str) -> pd.DataFrame | None:
        """Practice-month events among residents with residents as the denominator, or None."""
        homes = self.snapshot.care_homes
        if not homes.available or indicator_id not in homes.events:
            return None
        residents = homes.residents.rename(columns={"residents": "denominator"})
        merged = residents.merge(homes.events[indicator_id], on=["practice_code", "month"], how="left")
        merged["numerator"] = merged["numerator"].fillna(0).astype("int64")
        return merged[["practice_code", "month", "numerator", "denominator"]]

    def _build_care_homes(self) -> CareHomesResponse:
        homes = self.snapshot.care_homes
        ehch_sites = [self.site_out(site.id) for site in vanguard_sites() if site.care_model == "EHCH"]
        rates: list[ResidentRate] = []
        growth: list[GrowthOut] = []
        summaries = []
        ehch = self.type_practices["EHCH"] & self.present
        groups = {"Enhanced health in care homes sites": ehch, REST_OF_ENGLAND: self.present - self.type_practices["EHCH"]}
        for site in ehch_sites:
            if self.site_practices[site.id]:
                groups[site.short_name] = self.site_practices[site.id]
        for definition in self.available_indicators():
            counts = self._resident_counts(definition.id)
            if counts is None:
                continue
            summaries.append(self.indicator_summary(definition))
            for name, group in groups.items():
                rates += _resident_rates(counts, group, name, definition.id)
            if ehch:
                published, _ = self._growth(
                    counts,
                    ehch,
                    groups[REST_OF_ENGLAND],
                    indicator=definition,
                    area="EHCH care home residents",
                    care_model="EHCH",
                    multiplier=1000,
                )
                if published is not None:
                    growth.append(published)
        return CareHomesResponse(
            framework=[
                EhchElementOut(number=element.number, name=element.name, sub_elements=list(element.sub_elements))
                for element in ehch_framework()
            ],
            sites=ehch_sites,
            residents_available=homes.available,
            reason=homes.reason,
            indicators=summaries,
            rates=rates,
            growth=growth,
        )

    # -- data quality ---------------------------------------------------------------------------

    def data_quality(self) -> DataQualityResponse:
        return self._data_quality

    def _build_data_quality(self) -> DataQualityResponse:
        status = self.snapshot.status
        detail = self.snapshot.quarantine_detail
        return DataQualityResponse(
            warehouse=self.snapshot.path.name,
            people=disclosed(status["people"]),
            tables=[TableCount(table=table, rows=disclosed(rows) if rows else 0) for table, rows in status["tables"].items()],
            batches=[
                BatchOut(
                    batch_id=str(batch["batch_id"]),
                    source=str(batch["source"]),
                    table_name=str(batch["table_name"]),
                    rows_read=_disclosed_or_zero(batch["rows_read"]),
                    rows_loaded=_disclosed_or_zero(batch["rows_loaded"]),
                    rows_quarantined=_disclosed_or_zero(batch["rows_quarantined"]),
                    rows_excluded_opt_out=_disclosed_or_zero(batch["rows_excluded_opt_out"]),
                    loaded_at=str(batch["loaded_at"]),
                    software_version=str(batch["software_version"]),
                )
                for batch in status["batches"]
            ],
            quarantine_by_reason=[
                QuarantineCount(table=None, field=None, reason=str(reason), rows=disclosed(count))
                for reason, count in status["quarantine_by_reason"].items()
            ],
            quarantine_by_field=[
                QuarantineCount(
                    table=None if pd.isna(row.table_name) else str(row.table_name),
                    field=None if pd.isna(row.field) else str(row.field),
                    reason=str(row.reason),
                    rows=disclosed(int(row.rows)),
                )
                for row in detail.itertuples(index=False)
            ],
        )


# -- module helpers ------------------------------------------------------------------------------


def _disclosed_or_zero(count: Any) -> int | None:
    return 0 if not count else disclosed(int(count))


def _deprivation_deciles() -> dict[str, int]:
    """Population-weighted IMD 2019 deciles of England's practices: decile 1 holds the most deprived
    tenth of the registered population (by the practice's score), decile 10 the least deprived."""
    scored = sorted(
        (practice for practice in practices() if practice.imd2019_score is not None and practice.list_size_2021 > 0),
        key=lambda practice: (-cast(float, practice.imd2019_score), practice.practice_code),
    )
    total = sum(practice.list_size_2021 for practice in scored)
    deciles, running = {}, 0
    for practice in scored:
        # A practice's decile is where the middle of its list falls.
        middle = running + practice.list_size_2021 / 2
        deciles[practice.practice_code] = min(10, int(middle / total * 10) + 1)
        running += practice.list_size_2021
    return deciles


def _monthly(counts: pd.DataFrame, group: Collection[str], multiplier: float) -> list[MonthlyPoint]:
    rows = (
        counts[counts["practice_code"].isin(set(group))]
        .groupby("month", as_index=False)[["numerator", "denominator"]]
        .sum()
        .sort_values("month")
    )
    rows = rows[rows["denominator"] > 0]
    if rows.empty:
        return []
    person_years = rows["denominator"].to_numpy(dtype=np.float64) / 12
    interval = crude_rate_ci_arrays(rows["numerator"].to_numpy(dtype=np.float64), person_years, multiplier=multiplier)
    points = []
    for index, row in enumerate(rows.itertuples(index=False)):
        numerator, population = disclosed(int(row.numerator)), disclosed(int(row.denominator))
        suppressed = numerator is None or population is None
        points.append(
            MonthlyPoint(
                month=row.month,
                numerator=numerator,
                registered_population=population,
                rate=None if suppressed else _finite(interval.value[index]),
                ci_low=None if suppressed else _finite(interval.lower[index]),
                ci_high=None if suppressed else _finite(interval.upper[index]),
                suppressed=suppressed,
            )
        )
    return points


def _spc_of(
    monthly: list[MonthlyPoint], definition: IndicatorDefinition
) -> tuple[SpcSummary | None, list[SpcPointOut], str | None]:
    """Making Data Count XmR chart of the monthly rates. The limits use every month (from true
    counts); a month whose count is suppressed keeps its place but its value and signal are
    withheld from what is published."""
    published = [point for point in monthly if point.rate is not None]
    if len(published) < 2 or len(published) < len(monthly) / 2:
        return None, [], "too few months with publishable counts for an SPC chart"
    frame = pd.DataFrame({"month": [point.month for point in published], "rate": [point.rate for point in published]})
    with warnings.catch_warnings():
        # Short series come back with a caveat, which the page shows.
        warnings.simplefilter("ignore", ShortSeriesWarning)
        result: SpcResult = spc(frame, value="rate", date="month", improvement=_improvement(definition))[0]
    summary = SpcSummary(
        variation_icon=result.variation_icon,
        assurance_icon=result.assurance_icon,
        centre=result.centre,
        upper_limit=result.upper_limit,
        lower_limit=result.lower_limit,
        n_points=result.n_points,
        caveats=list(result.caveats)
        + ([f"{len(monthly) - len(published)} month(s) with suppressed counts are left out."] if len(published) < len(monthly) else []),
    )
    points = [
        SpcPointOut(
            date=cast(dt.date, point.date),
            value=point.value,
            mean=point.mean,
            upper_limit=point.upper_limit,
            lower_limit=point.lower_limit,
            special_cause_rule=point.special_cause_rule,
            special_cause_type=point.special_cause_type,
            special_cause_direction=point.special_cause_direction,
        )
        for point in result.points
    ]
    return summary, points, None


def _growth_out(comparison: GrowthComparison) -> tuple[GrowthOut | None, str | None]:
    years = (comparison.baseline, comparison.comparison, comparison.rest_baseline, comparison.rest_comparison)
    published = [disclosed(year.events) for year in years]
    if any(count is None for count in published):
        return None, "an annual count is too small to publish"
    numbers = (comparison.growth, comparison.rest_growth, comparison.difference_percentage_points)
    if not all(math.isfinite(number) for number in numbers):
        return None, "a baseline rate is zero, so growth is undefined"
    return (
        GrowthOut(
            indicator=comparison.indicator,
            area=comparison.area,
            baseline=_area_year(comparison.baseline, published[0]),
            comparison=_area_year(comparison.comparison, published[1]),
            rest_baseline=_area_year(comparison.rest_baseline, published[2]),
            rest_comparison=_area_year(comparison.rest_comparison, published[3]),
            growth=comparison.growth,
            rest_growth=comparison.rest_growth,
            difference_percentage_points=comparison.difference_percentage_points,
            result=evaluation_out(comparison.result),
        ),
        None,
    )


def evaluation_out(result: EvaluationResult) -> EvaluationOut:
    return EvaluationOut(
        method=result.method,
        indicator=result.indicator,
        target=dict(result.target),
        periods=dict(result.periods),
        estimate={key: _finite(value) for key, value in result.estimate.model_dump().items()},
        diagnostics=_clean(result.diagnostics),
        caveats=list(result.caveats),
    )


def _area_year(year: Any, events: int | None) -> AreaYearOut:
    return AreaYearOut(
        area=year.area,
        financial_year=year.financial_year,
        events=events,
        person_years=round(year.person_years, 1),
        rate=year.rate,
        ci_low=year.ci_low,
        ci_high=year.ci_high,
    )


def _ratio_interval(baseline: AreaYearOut, comparison: AreaYearOut) -> tuple[float | None, float | None]:
    """95% interval of comparison rate / baseline rate - 1, treating the two annual counts as
    independent Poisson counts (log-ratio variance 1/a + 1/b), as the monitoring module does."""
    if not baseline.events or not comparison.events:
        return None, None
    ratio = comparison.rate / baseline.rate
    spread = 1.959963984540054 * math.sqrt(1 / baseline.events + 1 / comparison.events)
    return ratio * math.exp(-spread) - 1, ratio * math.exp(spread) - 1


def _not_measurable(base: dict[str, Any], result: ReportedResult, reason: str) -> ReportedVsMeasured:
    return ReportedVsMeasured(
        **base,
        measured_change=None,
        method="not measured",
        note=f"{result.note} Not measurable in this warehouse: {reason}.",
        status="not_measurable",
    )


def _area_rate(geography: str, row: Any, band: FunnelBand | None) -> AreaRate:
    numerator, population = disclosed(int(row.numerator)), disclosed(float(row.registered_population))
    suppressed = numerator is None or population is None
    return AreaRate(
        geography=geography,
        code=str(row.code),
        name=str(row.name),
        period=str(row.period),
        period_start=row.period_start,
        period_end=row.period_end,
        numerator=numerator,
        registered_population=population,
        rate=None if suppressed else _finite(row.rate),
        ci_low=None if suppressed else _finite(row.ci_low),
        ci_high=None if suppressed else _finite(row.ci_high),
        suppressed=suppressed,
        funnel=None if suppressed else band,
    )


def _funnel_bands(
    rates: np.ndarray, person_years: np.ndarray, target: float, multiplier: float
) -> list[FunnelBand | None]:
    narrow = funnel_limits_rate(person_years, target, multiplier=multiplier, confidence=0.95)
    wide = funnel_limits_rate(person_years, target, multiplier=multiplier, confidence=0.998)
    bands: list[FunnelBand | None] = []
    for rate, low95, high95, low998, high998 in zip(rates, narrow.lower, narrow.upper, wide.lower, wide.upper, strict=True):
        if not math.isfinite(rate):
            bands.append(None)
        elif rate > high998:
            bands.append("above_99_8")
        elif rate > high95:
            bands.append("above_95")
        elif rate < low998:
            bands.append("below_99_8")
        elif rate < low95:
            bands.append("below_95")
        else:
            bands.append("within")
    return bands


def _funnel_curves(
    person_years: np.ndarray, years_per_period: float, target: float, multiplier: float, points: int = 40
) -> FunnelLimitsOut:
    """Limits on a grid of registered populations; a population of n over a period of
    ``years_per_period`` years is n x years_per_period person-years."""
    low, high = float(person_years.min()), float(person_years.max())
    grid = np.geomspace(max(low * 0.8, 0.5), max(high * 1.1, low * 0.8 + 1.0), points)
    narrow = funnel_limits_rate(grid, target, multiplier=multiplier, confidence=0.95)
    wide = funnel_limits_rate(grid, target, multiplier=multiplier, confidence=0.998)
    return FunnelLimitsOut(
        target_rate=target,
        registered_population=[float(value / years_per_period) for value in grid],
        lower_95=[float(value) for value in narrow.lower],
        upper_95=[float(value) for value in narrow.upper],
        lower_99_8=[float(value) for value in wide.lower],
        upper_99_8=[float(value) for value in wide.upper],
    )


def _resident_rates(counts: pd.DataFrame, group: Collection[str], name: str, indicator_id: str) -> list[ResidentRate]:
    rows = counts[counts["practice_code"].isin(set(group))].copy()
    if rows.empty:
        return []
    rows["financial_year"] = rows["month"].map(financial_year)
    yearly = rows.groupby("financial_year").agg(
        numerator=("numerator", "sum"), denominator=("denominator", "sum"), months=("month", "nunique")
    )
    yearly = yearly[(yearly["months"] == 12) & (yearly["denominator"] > 0)]
    if yearly.empty:
        return []
    person_years = yearly["denominator"].to_numpy(dtype=np.float64) / 12
    interval = crude_rate_ci_arrays(yearly["numerator"].to_numpy(dtype=np.float64), person_years, multiplier=1000)
    out = []
    for index, (year, row) in enumerate(yearly.iterrows()):
        events, residents = disclosed(int(row["numerator"])), disclosed(float(row["denominator"]) / 12)
        suppressed = events is None or residents is None
        out.append(
            ResidentRate(
                group=name,
                indicator=indicator_id,
                financial_year=financial_year_label(int(cast(int, year))),
                residents=residents,
                events=events,
                rate=None if suppressed else _finite(interval.value[index]),
                ci_low=None if suppressed else _finite(interval.lower[index]),
                ci_high=None if suppressed else _finite(interval.upper[index]),
            )
        )
    return out


def baseline_year_label() -> str:
    return financial_year_label(programme_constants().baseline_financial_year)
