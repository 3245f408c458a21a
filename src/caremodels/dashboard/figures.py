"""Every figure the dashboard shows, as the response models of its JSON API.

``DashboardFigures`` is built once from a ``WarehouseSnapshot``. Programme, care-home and
data-quality figures are computed when it is built; site pages and the controlled evaluations by
``prepare_sites`` (run in a background thread by the app; evaluations are saved beside the snapshot);
explorer aggregations on first use. Everything computed is kept. Pages and API endpoints call the
same methods, so a page never shows a number the API does not give.

Values come from ``caremodels.indicators.finish_arrays`` (through ``areas``), the one path every output
uses. Disclosure control happens here, once, on the way out: indicator rows pass through
``caremodels.indicators.output.publish`` (the same labels, rounding and suppression as the CLI's
files), other counts through ``caremodels.indicators.disclosure.round_count``; a value resting on a
suppressed count is withheld. Statistics are never computed from published figures: SPC means and
limits, funnel positions and intervals come from the true values, and only the points are withheld.
Growth comparisons whose annual counts include a suppressed one are not published.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import threading
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

import numpy as np
import pandas as pd

from caremodels.dashboard.areas import (
    AGGREGATED_PERIODS,
    COMPARISON_COLUMNS,
    GEOGRAPHY_NAMES,
    MONTHS_IN_PERIOD,
    AreaIndex,
    CountMatrix,
    Geography,
    PeriodKind,
    values_by_area,
    values_of_groups,
)
from caremodels.dashboard.caching import BoundedMemo
from caremodels.dashboard.evaluations import (
    CARE_HOME_INDICATOR,
    CONTROLLED_INDICATORS,
    care_home_comparison,
    controlled_methods,
    run_controlled,
)
from caremodels.dashboard.measures import MeasureRule
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
    FundingConditionRow,
    FunnelLimitsOut,
    GroupValues,
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
    SeriesPoint,
    SeriesResponse,
    SiteIndicatorResponse,
    SiteIndicatorSummary,
    SiteOut,
    SiteResponse,
    SkippedEvaluation,
    SpcPointOut,
    SpcSummary,
    SpineResponse,
    SpineRowOut,
    TableCount,
    TrustGroupResponse,
    TrustIndicatorRow,
    TrustMember,
    TrustMonth,
)
from caremodels.dashboard.snapshot import OLDEST_BAND_FROM, WarehouseSnapshot
from caremodels.dashboard.trusts import SOURCE as TRUSTS_SOURCE
from caremodels.dashboard.trusts import TrustGroups
from caremodels.errors import CaremodelsError
from caremodels.evaluation.monitoring import GrowthComparison, growth_against_rest
from caremodels.evaluation.result import EvaluationResult
from caremodels.evaluation.spc import ShortSeriesWarning, SpcResult, spc
from caremodels.indicators import IndicatorDefinition, catalogue, find_indicator
from caremodels.indicators.disclosure import round_count
from caremodels.indicators.geography import ENGLAND_CODE
from caremodels.indicators.output import PublishedHierarchy, round_figure
from caremodels.indicators.published import FOUR_HOUR_STANDARD
from caremodels.periods import financial_year_label
from caremodels.programme import coverage, site_summaries
from caremodels.reference import (
    VANGUARD_CARE_MODELS,
    care_model_types,
    check_unlisted,
    ehch_framework,
    practices,
    site_memberships,
    vanguard_sites,
)
from caremodels.stats import crude_rate_ci_arrays, funnel_limits_proportion, funnel_limits_rate

__all__ = [
    "CARE_HOME_GROUPS",
    "HEADLINE_INDICATOR",
    "DashboardFigures",
    "NotFound",
    "data_quality_response",
    "disclosed",
    "evaluation_out",
]

HEADLINE_INDICATOR = "emergency_admissions"
MEMO_ENTRIES = 256
"""Explorer aggregations kept in memory (least recently used dropped first)."""
REST_OF_ENGLAND = "Rest of England"
CARE_HOME_GROUPS = ("EHCH sites", REST_OF_ENGLAND)
# Growth is computed on two pseudo-practices holding the monthly sums of the area and of the rest:
# the same sums as practice by practice, without carrying every practice through.
_AREA, _REST = "area", "rest"
_T = TypeVar("_T")
_LOG = logging.getLogger(__name__)
FunnelBand = Literal["above_99_8", "above_95", "within", "below_95", "below_99_8"]


class NotFound(CaremodelsError):
    """A site, indicator or period the dashboard does not know (HTTP 404)."""


def disclosed(count: float | None) -> int | None:
    """A count as published (None when suppressed)."""
    if count is None or not math.isfinite(count):
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
    if definition.direction_of_improvement == "lower":
        return "decrease"
    if definition.direction_of_improvement == "higher":
        return "increase"
    return "neither"


class DashboardFigures:
    """The figures of one warehouse snapshot."""

    def __init__(
        self,
        snapshot: WarehouseSnapshot,
        *,
        evaluations_file: Path | None = None,
        membership_file: Path | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.membership_file = membership_file
        self.memberships = site_memberships(membership_file)
        self.sites = {site.id: site for site in vanguard_sites()}
        self.types = {model.code: model for model in care_model_types()}
        self.summaries = {summary.id: summary for summary in site_summaries(membership_file)}
        self.present = set(snapshot.present_practices)
        self.areas = AreaIndex.build(self.present, self.memberships)
        # Practices of a user's membership missing from the January 2021 list count when the
        # warehouse holds them (a warning each); one it does not hold stops start-up, naming the row.
        self.membership_warnings = check_unlisted(self.memberships, self.present)
        if any(membership.windows for membership in self.memberships.values()):
            # Said rather than hidden: the indicator pages sum practices with a membership matrix.
            self.membership_warnings.append(
                "the membership gives dates: the site pages' controlled evaluations count a practice "
                "only within them; the indicator tables and charts count its every month"
            )
        self.rules = {definition.id: MeasureRule.of(definition) for definition in catalogue()}
        self.matrices = _matrices(snapshot)
        self.site_practices = {
            site_id: set(membership.practice_codes) & self.present
            for site_id, membership in self.memberships.items()
        }
        self.type_practices: dict[str, set[str]] = {
            model: {
                code
                for site in vanguard_sites()
                if site.care_model == model
                for code in self.memberships[site.id].practice_codes
            }
            for model in VANGUARD_CARE_MODELS
        }
        self.sites_of_practice: dict[str, list[str]] = {}
        for site in vanguard_sites():
            for code in self.memberships[site.id].practice_codes:
                self.sites_of_practice.setdefault(code, []).append(site.short_name)
        self.deciles = _deprivation_deciles()
        # Comparison practices are grouped by CCG to calibrate growth intervals (placebo areas).
        self.ccg_of = {practice.practice_code: practice.ccg_code for practice in practices()}
        self.methods = controlled_methods()
        self._memo: BoundedMemo[tuple[Any, ...], Any] = BoundedMemo(MEMO_ENTRIES)
        self._lock = threading.Lock()
        self._hierarchies: dict[str, PublishedHierarchy] = {}
        self._hierarchy_lock = threading.Lock()
        self._controlled: dict[str, tuple[list[EvaluationOut], list[SkippedEvaluation], list[str]]] = {}
        self._evaluations_file = evaluations_file
        self._evaluations_done = threading.Event()
        # Computed now, so that the first visitor does not wait for them.
        self._overview = self._build_overview()
        self._care_homes = self._build_care_homes()
        self._data_quality = self._build_data_quality()
        self.trusts = TrustGroups(snapshot.path, self.sites)
        self._spines: dict[str, SpineResponse] = {}
        self._load_evaluations()

    # -- controlled evaluations, computed after start-up -----------------------------------------

    def sites_with_data(self) -> list[str]:
        return [site_id for site_id in self.sites if self.site_practices[site_id]]

    def _load_evaluations(self) -> None:
        """Controlled evaluations saved by an earlier start on the same snapshot, if any."""
        if not self.methods:
            return
        if self._evaluations_file is not None and self._evaluations_file.is_file():
            try:
                document = json.loads(self._evaluations_file.read_text(encoding="utf-8"))
                for site_id, entry in document.items():
                    self._controlled[site_id] = (
                        [EvaluationOut.model_validate(item) for item in entry["results"]],
                        [SkippedEvaluation.model_validate(item) for item in entry["skipped"]],
                        [str(line) for line in entry["explanation"]],
                    )
            except (OSError, ValueError, KeyError) as error:
                _LOG.warning("saved evaluations in %s not used: %s", self._evaluations_file, error)
                self._controlled.clear()

    def prepare_sites(self) -> None:
        """Build every site page, then run the controlled evaluations of every site with data that
        were not saved before, and save them beside the snapshot. Meant for a background thread:
        pages are served meanwhile, and a site page says its controlled evaluations are still being
        computed."""
        try:
            self.trusts.prepare()
            for site_id in self.sites_with_data():
                self.site(site_id)
                self.spine(site_id)
            missing = [site_id for site_id in self.sites_with_data() if site_id not in self._controlled]
            if not missing or not self.methods:
                return
            inputs = {
                item.definition.id: (item.definition, item.counts)
                for item in self.snapshot.indicators.values()
            }
            for site_id in missing:
                results, not_run = run_controlled(
                    site_id, self.present, inputs, self.methods, membership_file=self.membership_file
                )
                explanation: list[str] = []
                if self.sites[site_id].care_model == "EHCH":
                    comparison, reason = care_home_comparison(
                        self.snapshot.path, site_id, membership_file=self.membership_file
                    )
                    if comparison is None:
                        not_run.append(("matched controls", CARE_HOME_INDICATOR, reason))
                    else:
                        results += [comparison.before_after.result, comparison.matched]
                        explanation = list(comparison.explanation)
                self._controlled[site_id] = (
                    [_as_care_home_indicator(evaluation_out(result)) for result in results],
                    [SkippedEvaluation(method=m, indicator=i, reason=r) for m, i, r in not_run],
                    explanation,
                )
            self._save_evaluations()
        finally:
            self._evaluations_done.set()

    def _save_evaluations(self) -> None:
        if self._evaluations_file is None:
            return
        document = {
            site_id: {
                "results": [item.model_dump(mode="json") for item in results],
                "skipped": [item.model_dump(mode="json") for item in skipped],
                "explanation": explanation,
            }
            for site_id, (results, skipped, explanation) in self._controlled.items()
        }
        try:
            self._evaluations_file.write_text(json.dumps(document), encoding="utf-8")
        except OSError as error:
            _LOG.warning("evaluations not saved to %s: %s", self._evaluations_file, error)

    @property
    def evaluations_ready(self) -> bool:
        """Whether ``prepare_sites`` has finished: every site page built, every evaluation run."""
        return self._evaluations_done.is_set()

    def wait_for_evaluations(self, timeout: float) -> bool:
        return self._evaluations_done.wait(timeout)

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
        rule = self.rules[definition.id]
        return IndicatorSummary(
            id=definition.id,
            title=definition.title,
            description=definition.description,
            topic=getattr(definition, "topic", None),
            statistic=rule.statistic,
            unit=definition.unit,
            value_label=rule.value_label,
            denominator_label=rule.denominator_label,
            multiplier=definition.multiplier,
            direction_of_improvement=definition.direction_of_improvement,
            standardised=rule.standardised,
            available=definition.id in self.snapshot.indicators,
            reason_unavailable=self.snapshot.unavailable.get(definition.id),
        )

    def indicators(self) -> list[IndicatorSummary]:
        return [self.indicator_summary(definition) for definition in catalogue()]

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

    def _counts(self, indicator_id: str) -> pd.DataFrame:
        return self.snapshot.indicators[indicator_id].counts

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
        definition: IndicatorDefinition,
        area_practices: Collection[str],
        rest_practices: Collection[str],
        *,
        area: str,
        care_model: str | None,
        baseline_year: int | None = None,
        comparison_year: int | None = None,
    ) -> tuple[GrowthOut | None, str | None]:
        """A published growth comparison, or None and the reason it is not published."""
        rule = self.rules[definition.id]
        if not rule.growth_comparable:
            return None, "growth against the rest of England is given for rates of events over time"
        counts = self._counts(definition.id)
        if not set(area_practices) & set(counts["practice_code"]):
            return None, f"no practices of {area} have data for this indicator"
        # The rest as one pseudo-practice per CCG: each CCG is also a placebo area, so that the interval
        # allows for how much areas' growth varies by more than chance (caremodels.evaluation.monitoring).
        rest_by_ccg: dict[str, set[str]] = {}
        for code in set(rest_practices):
            rest_by_ccg.setdefault(f"{_REST} {self.ccg_of.get(code, code)}", set()).add(code)
        groups = {_AREA: set(area_practices), **rest_by_ccg}
        grouped = rule.growth_counts(self.matrices[definition.id].group_frame(groups))
        try:
            comparison = growth_against_rest(
                grouped,
                {_AREA},
                indicator=definition.id,
                area=area,
                rest_practices=set(rest_by_ccg),
                baseline_year=baseline_year,
                comparison_year=comparison_year,
                care_model=care_model,
                placebo_areas={name: {name} for name in rest_by_ccg},
                definition=definition,
                # A standardised indicator grows as its DSR, from the same banded sums as its pages.
                bands=self.matrices[definition.id].group_band_frame(groups),
            )
        except (ValueError, ZeroDivisionError) as error:
            return None, str(error)
        return _growth_out(comparison)

    def _rest_of(self, care_model: str) -> set[str]:
        return self.present - self.type_practices[care_model]

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
            if getattr(item.definition.numerator, "cohort", "all_patients") != "all_patients":
                continue  # residents' indicators are on the care homes page
            for code in VANGUARD_CARE_MODELS:
                area = self.type_practices[code] & self.present
                if not area:
                    continue
                growth, _ = self._growth(
                    item.definition, area, self._rest_of(code), area=code, care_model=code
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
                # The verdict and its sentence come from the evaluation layer (funding_condition).
                conditions.append(
                    FundingConditionRow(
                        care_model=growth.area,
                        required_points_below_rest=float(condition["required_points_below_rest"]),
                        difference_percentage_points=growth.difference_percentage_points,
                        met=bool(condition["met"]),
                        verdict=condition["verdict"],
                        rate_ratio=_finite(condition["rate_ratio"]),
                        ci_low=_finite(condition["ci_low"]),
                        ci_high=_finite(condition["ci_high"]),
                        statement=str(condition["statement"]),
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
        return {
            str(code): int(people) for code, people in frame.groupby("practice_code")["people"].sum().items()
        }

    def _monthly_by_type(self) -> list[AreaSeries]:
        if HEADLINE_INDICATOR not in self.snapshot.indicators:
            return []
        groups: dict[str, set[str]] = {}
        for code in VANGUARD_CARE_MODELS:
            practices_of_type = self.type_practices[code] & self.present
            if practices_of_type:
                groups[f"{self.types[code].name} ({code})"] = practices_of_type
        if groups:
            groups[f"{REST_OF_ENGLAND} (outside every vanguard)"] = self.present - set().union(
                *groups.values()
            )
        values = values_of_groups(
            self.matrices[HEADLINE_INDICATOR], groups, "month", self._definition(HEADLINE_INDICATOR)
        )

        def monthly(name: str) -> list[MonthlyPoint]:
            return _monthly_points(
                self._published(values[values["code"] == name].reset_index(drop=True), groups)
            )

        return [
            AreaSeries(
                code=name,
                name=name,
                points=[
                    SeriesPoint(
                        period=point.month.isoformat()[:7],
                        period_start=point.month,
                        value=point.value,
                        ci_low=point.ci_low,
                        ci_high=point.ci_high,
                        suppressed=point.suppressed,
                    )
                    for point in monthly(name)
                ],
            )
            for name, members in groups.items()
            if members
        ]

    # -- site pages -----------------------------------------------------------------------------

    def site(self, site_id: str) -> SiteResponse:
        if site_id not in self.sites:
            raise NotFound(f"no vanguard site {site_id!r}")
        basics = self._cached(("site", site_id), lambda: self._build_site(site_id))
        if not self.site_practices[site_id] or not self.methods:
            return basics
        controlled = self._controlled.get(site_id)
        if controlled is None:
            return basics.model_copy(update={"evaluations_status": "computing"})
        results, skipped, explanation = controlled
        return basics.model_copy(
            update={
                "evaluations": basics.evaluations + results,
                "evaluations_not_run": skipped,
                "evaluations_status": "ready",
                "own_figure_explanation": explanation,
            }
        )

    def _build_site(self, site_id: str) -> SiteResponse:
        site = self.sites[site_id]
        practices_of_site = self.site_practices[site_id]
        summaries = []
        evaluations: list[EvaluationOut] = []
        for definition in catalogue():
            if definition.id not in self.snapshot.indicators:
                summaries.append(
                    SiteIndicatorSummary(
                        indicator=self.indicator_summary(definition),
                        latest_period=None,
                        latest_value=None,
                        spc=None,
                        growth=None,
                        reason=self.snapshot.unavailable.get(definition.id),
                    )
                )
                continue
            if not practices_of_site:
                summaries.append(
                    SiteIndicatorSummary(
                        indicator=self.indicator_summary(definition),
                        latest_period=None,
                        latest_value=None,
                        spc=None,
                        growth=None,
                        reason=f"no practices of {site.short_name} are in this warehouse",
                    )
                )
                continue
            detail = self.site_indicator(site_id, definition.id)
            latest = next((point for point in reversed(detail.monthly) if point.value is not None), None)
            if detail.growth is not None and definition.id in CONTROLLED_INDICATORS:
                # Shown beside the controlled methods for the same indicators; the programme's
                # comparison for every other indicator is in the indicator's own row.
                evaluations.append(detail.growth.result)
            summaries.append(
                SiteIndicatorSummary(
                    indicator=detail.indicator,
                    latest_period=latest.month.isoformat()[:7] if latest else None,
                    latest_value=latest.value if latest else None,
                    spc=detail.spc,
                    growth=detail.growth,
                    reason=None if detail.growth else detail.growth_reason,
                )
            )
        return SiteResponse(
            site=self.site_out(site_id),
            population=self.population(site_id) if practices_of_site else None,
            indicators=summaries,
            evaluations=evaluations,
            evaluations_not_run=[],
            evaluations_status="ready" if practices_of_site and self.methods else "not_available",
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
        return self._cached(
            ("site_indicator", site_id, indicator_id), lambda: self._site_indicator(site_id, indicator_id)
        )

    def _site_indicator(self, site_id: str, indicator_id: str) -> SiteIndicatorResponse:
        site = self.site_out(site_id)
        definition = self._definition(indicator_id)
        group = self.site_practices[site_id]
        site_months = self._values(indicator_id, "site", "month")
        true_months = site_months[site_months["code"] == site_id].reset_index(drop=True)
        monthly = _monthly_points(self._published(true_months))
        spc_summary, spc_points, spc_reason = _spc_of(self.spc_result(site_id, indicator_id), monthly)
        care_model = self.sites[site_id].care_model
        growth, growth_reason = self._growth(
            definition, group, self._rest_of(care_model), area=site.short_name, care_model=care_model
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

    def spc_result(self, site_id: str, indicator_id: str) -> SpcResult | None:
        """The site's XmR chart of the indicator from true monthly values: for drawing only, with
        the months ``withheld_months`` names left out (the published points are ``spc_points``)."""

        def build() -> SpcResult | None:
            site_months = self._values(indicator_id, "site", "month")
            true_months = site_months[site_months["code"] == site_id].reset_index(drop=True)
            return _spc_result(true_months, self._definition(indicator_id))

        self.site_out(site_id)
        return self._cached(("spc_result", site_id, indicator_id), build)

    def withheld_months(self, site_id: str, indicator_id: str) -> frozenset[Any]:
        """Months of the site's SPC chart whose counts are suppressed (no value is drawn)."""
        detail = self.site_indicator(site_id, indicator_id)
        return frozenset(point.date for point in detail.spc_points if point.suppressed)

    # -- spine chart: a site across the catalogue -------------------------------------------------

    def spine(self, site_id: str) -> SpineResponse:
        site = self.site_out(site_id)
        found = self._spines.get(site_id)
        if found is None:
            found = self._spines.setdefault(site_id, self._spine(site, site_id))
        return found

    def spine_ready(self, site_id: str) -> bool:
        """Whether the spine is computed, or may be computed now without holding up a page while
        the background preparation runs (it publishes every site's table of every indicator)."""
        return site_id in self._spines or self.evaluations_ready

    def _spine(self, site: SiteOut, site_id: str) -> SpineResponse:
        rows: list[SpineRowOut] = []
        not_shown: dict[str, str] = {}
        for definition in catalogue():
            if definition.id not in self.snapshot.indicators:
                not_shown[definition.title] = self.snapshot.unavailable.get(
                    definition.id, "no data in this warehouse"
                )
                continue
            if not self.site_practices[site_id]:
                not_shown[definition.title] = f"no practices of {site.short_name} are in this warehouse"
                continue
            years = self._values(definition.id, "site", "financial_year")
            mine = years[years["code"] == site_id]
            if mine.empty:
                not_shown[definition.title] = "no complete financial year for this site"
                continue
            period = str(mine["period"].iloc[-1])
            # The explorer's published tables (cached, shared by every site's spine and the explorer).
            published = self.explore(definition.id, "site", "financial_year", period).areas
            own = next(area for area in published if area.code == site_id)
            others = np.array([area.value for area in published if area.value is not None], dtype=float)
            england = self.explore(definition.id, "all", "financial_year", period).areas
            if not england or england[0].value is None or len(others) == 0:
                not_shown[definition.title] = f"no published value for all practices in {period}"
                continue
            rows.append(
                SpineRowOut(
                    indicator_id=definition.id,
                    title=definition.title,
                    value_label=self.indicator_summary(definition).value_label,
                    period=period,
                    site=own,
                    england=england[0].value,
                    sites_compared=len(others),
                    lowest=float(others.min()),
                    lower_quartile=float(np.quantile(others, 0.25)),
                    upper_quartile=float(np.quantile(others, 0.75)),
                    highest=float(others.max()),
                )
            )
        return SpineResponse(site=site, rows=rows, not_shown=not_shown)

    # -- sites defined by their trusts (acute care collaborations) ------------------------------

    def trust_group_spc(self, site_id: str) -> SpcResult | None:
        """XmR chart of the group's pooled monthly 4-hour performance (0 to 1), target 95%."""

        def build() -> SpcResult | None:
            pooled, _ = self.trusts.pooled(site_id)
            if pooled is None or len(pooled) < 2:
                return None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ShortSeriesWarning)
                found: SpcResult = spc(
                    pooled,
                    value="performance",
                    date="period",
                    improvement="increase",
                    target=FOUR_HOUR_STANDARD,
                )[0]
            return found

        if site_id not in self.trusts.sites:
            raise NotFound(f"{site_id!r} is not a site defined by its trusts")
        return self._cached(("trust_spc", site_id), build)

    def trust_group(self, site_id: str) -> TrustGroupResponse:
        if site_id not in self.sites:
            raise NotFound(f"no vanguard site {site_id!r}")
        if site_id not in self.trusts.sites:
            raise NotFound(f"{self.sites[site_id].short_name} is not defined by its trusts")
        ready = self.trusts.ready
        return self._cached(("trust_group", site_id, ready), lambda: self._trust_group(site_id, ready))

    def _trust_group(self, site_id: str, ready: bool) -> TrustGroupResponse:
        pooled, reason = self.trusts.pooled(site_id)
        members, latest_year = self.trusts.members(site_id)
        result = self.trust_group_spc(site_id)
        summary, _, spc_reason = _spc_of(result, [])
        rows: list[TrustIndicatorRow] = []
        indicators = self.trusts.indicators
        if ready and indicators is not None:
            mine = indicators[indicators["code"].isin(self.sites[site_id].providers)]
            for row in _rows(mine):
                rows.append(
                    TrustIndicatorRow(
                        indicator_id=str(row.indicator_id),
                        title=str(row.title),
                        code=str(row.code),
                        name=str(row.name),
                        period=str(row.period),
                        numerator=_count_or_none(row.numerator),
                        value=_value_or_none(row.value),
                        ci_low=_value_or_none(row.ci_low),
                        ci_high=_value_or_none(row.ci_high),
                        unit=str(row.unit),
                        suppressed=bool(row.suppressed),
                    )
                )
        months = list(pooled["period"]) if pooled is not None else []
        return TrustGroupResponse(
            site=self.site_out(site_id),
            members=[TrustMember.model_validate(member) for member in members],
            source=TRUSTS_SOURCE,
            latest_year=latest_year,
            four_hour=[
                TrustMonth(
                    period=row.period,
                    attendances=int(row.attendances),
                    breaches=int(row.breaches),
                    performance=float(row.performance),
                    providers=int(row.providers),
                )
                for row in (_rows(pooled) if pooled is not None else [])
            ],
            four_hour_reason=reason or (spc_reason if pooled is not None and summary is None else None),
            spc=summary,
            indicators=rows,
            indicators_status="ready"
            if ready and indicators is not None
            else ("computing" if not ready else "not_available"),
            indicators_reason=self.trusts.indicators_reason if ready else None,
            cannot_measure=self.trusts.cannot_measure(site_id, months),
        )

    def _reported(self, result: ReportedResult) -> ReportedVsMeasured:
        base: dict[str, Any] = {
            "site_id": result.site,
            "measure": result.measure,
            "cohort": result.reported_cohort,
            "reported": result.reported,
            "reported_value": result.reported_value,
            "kind": result.kind,
            "reported_period": result.reported_period,
            "source": reported_results_source(),
            "indicator": result.indicator,
            "measured_periods": {
                "baseline": financial_year_label(result.baseline_year),
                "comparison": financial_year_label(result.comparison_year),
            }
            if result.kind == "change"
            else {"year": financial_year_label(result.comparison_year)},
        }
        try:
            definition = self._definition(result.indicator, require_data=False)
        except NotFound:
            return _not_measurable(base, result, f"the indicator catalogue has no {result.indicator}")
        if definition.id not in self.snapshot.indicators:
            missing = self.snapshot.unavailable.get(definition.id, "no data")
            return _not_measurable(base, result, f"{definition.title}: {missing}")
        group = self.site_practices[result.site]
        if not group:
            return _not_measurable(base, result, "no practices of the site are in this warehouse")
        if result.kind == "share":
            return self._reported_share(result, base, definition, group)
        site = self.sites[result.site]
        growth, reason = self._growth(
            definition,
            group,
            self._rest_of(site.care_model),
            area=site.short_name,
            care_model=site.care_model,
            baseline_year=result.baseline_year,
            comparison_year=result.comparison_year,
        )
        if growth is None:
            return self._reported_without_interval(result, base, definition, group, reason)
        # The interval of the site's own change, from the monitoring layer (each rate's log variance).
        low, high = growth.growth_ci_low, growth.growth_ci_high
        return ReportedVsMeasured(
            **base,
            measured_value=growth.growth,
            measured_ci_low=low,
            measured_ci_high=high,
            rest_value=growth.rest_growth,
            method=f"{definition.title} ({self.rules[definition.id].value_label}): change in the annual value "
            "between the two years, with its 95% interval; the rest of England beside it",
            note=result.note,
            status="measured",
        )

    def _year_values(self, definition: IndicatorDefinition, members: Collection[str]) -> dict[str, AreaRate]:
        """A group's values by financial year, published."""
        rows = values_of_groups(
            self.matrices[definition.id], {"group": set(members)}, "financial_year", definition
        )
        published = self._published(rows, {"group": set(members)})
        return {area.period: area for area in _area_rates("group", published)}

    def _reported_without_interval(
        self,
        result: ReportedResult,
        base: dict[str, Any],
        definition: IndicatorDefinition,
        group: set[str],
        reason: str | None,
    ) -> ReportedVsMeasured:
        """A change in a value that is not a rate of events (bed days): no interval."""
        if self.rules[definition.id].growth_comparable:
            return _not_measurable(base, result, f"{definition.title}: {reason}")
        site = self.sites[result.site]
        years = self._year_values(definition, group)
        rest = self._year_values(definition, self._rest_of(site.care_model))
        first, last = financial_year_label(result.baseline_year), financial_year_label(result.comparison_year)
        change = _change(years.get(first), years.get(last))
        if change is None:
            return _not_measurable(
                base, result, f"{definition.title} has no publishable value in {first} or {last}"
            )
        return ReportedVsMeasured(
            **base,
            measured_value=change,
            rest_value=_change(rest.get(first), rest.get(last)),
            method=f"{definition.title} ({self.rules[definition.id].value_label}): change in the annual value "
            "between the two years (no interval: not a count of events)",
            note=result.note,
            status="measured",
        )

    def _reported_share(
        self, result: ReportedResult, base: dict[str, Any], definition: IndicatorDefinition, group: set[str]
    ) -> ReportedVsMeasured:
        label = financial_year_label(result.comparison_year)
        value = self._year_values(definition, group).get(label)
        if value is None or value.value is None:
            return _not_measurable(base, result, f"{definition.title} has no publishable value in {label}")
        scale = float(definition.multiplier)
        rest = self._year_values(definition, self._rest_of(self.sites[result.site].care_model)).get(label)
        return ReportedVsMeasured(
            **base,
            measured_value=value.value / scale,
            measured_ci_low=value.ci_low / scale if value.ci_low is not None else None,
            measured_ci_high=value.ci_high / scale if value.ci_high is not None else None,
            rest_value=rest.value / scale if rest is not None and rest.value is not None else None,
            method=f"{definition.title} in {label}, Wilson 95% interval; the rest of England beside it",
            note=result.note,
            status="measured",
        )

    # -- indicator explorer ---------------------------------------------------------------------

    def _values(self, indicator_id: str, geography: Geography, period_kind: PeriodKind) -> pd.DataFrame:
        self._definition(indicator_id)
        return self._cached(
            ("values", indicator_id, geography, period_kind),
            lambda: values_by_area(
                self.matrices[indicator_id],
                self.areas,
                geography,
                period_kind,
                self._definition(indicator_id),
            ),
        )

    def periods(self, indicator_id: str, period_kind: PeriodKind) -> list[str]:
        values = self._values(indicator_id, "all", period_kind)
        return list(dict.fromkeys(values["period"]))

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
        rule = self.rules[indicator_id]
        periods = self.periods(indicator_id, period_kind)
        if period is None:
            period = periods[-1] if periods else None
        elif period not in periods:
            raise NotFound(f"{indicator_id} has no complete {period_kind.replace('_', ' ')} {period!r}")
        values = self._values(indicator_id, geography, period_kind)
        rows = values[values["period"] == period]
        overall = self._values(indicator_id, "all", period_kind)
        overall = overall[overall["period"] == period]
        funnel: FunnelLimitsOut | None = None
        bands: list[FunnelBand | None] = [None] * len(rows)
        target = float(overall["value"].iloc[0]) if len(overall) else math.nan
        if geography != "all" and rule.funnel and len(rows) and math.isfinite(target) and target > 0:
            bands, funnel = _funnel(rows, target, rule, MONTHS_IN_PERIOD[period_kind])
        areas = _area_rates(geography, self._published(rows), bands)
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
        values = self._values(indicator_id, geography, period_kind)
        wanted = list(dict.fromkeys(codes))
        unknown = [code for code in wanted if not self.areas.has(geography, code)]
        if unknown:
            raise NotFound(f"no {GEOGRAPHY_NAMES[geography].lower()} {unknown[0]!r} in this warehouse")
        series = []
        for code in wanted:
            rows = values[values["code"] == code].reset_index(drop=True)
            points = []
            for area in _area_rates(geography, self._published(rows)):
                points.append(
                    SeriesPoint(
                        period=area.period,
                        period_start=area.period_start,
                        value=area.value,
                        ci_low=area.ci_low,
                        ci_high=area.ci_high,
                        suppressed=area.suppressed,
                    )
                )
            series.append(AreaSeries(code=code, name=self.areas.name(geography, code), points=points))
        return SeriesResponse(
            indicator=self.indicator_summary(definition),
            geography=geography,
            period_kind=period_kind,
            series=series,
        )

    def practice_ranking(self, indicator_id: str, period: str | None) -> PracticeRankingResponse:
        return self._cached(
            ("ranking", indicator_id, period), lambda: self._practice_ranking(indicator_id, period)
        )

    def _practice_ranking(self, indicator_id: str, period: str | None) -> PracticeRankingResponse:
        explored = self.explore(indicator_id, "practice", "financial_year", period)
        published = [area for area in explored.areas if area.value is not None]
        published.sort(key=lambda area: (area.value, area.code))
        total = len(published)
        ranked = [
            PracticeRank(
                rank=rank,
                decile=(rank - 1) * 10 // total + 1,
                practice_code=area.code,
                name=area.name,
                sites=self.sites_of_practice.get(area.code, []),
                value=cast(float, area.value),
                ci_low=area.ci_low,
                ci_high=area.ci_high,
                numerator=area.numerator,
                denominator=area.denominator,
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
        values = self._values(indicator_id, "practice", "month")
        if practice is not None:
            values = values[values["code"] == practice]
        values = values.sort_values(["code", "period_start"], kind="stable").reset_index(drop=True)
        return [
            PracticeMonthRow(
                practice_code=area.code,
                name=area.name,
                month=area.period_start,
                numerator=area.numerator,
                events=area.events,
                denominator=area.denominator,
                value=area.value,
                ci_low=area.ci_low,
                ci_high=area.ci_high,
                unit=area.unit,
                suppressed=area.suppressed,
            )
            for area in _area_rates("practice", self._published(values))
        ]

    # -- disclosure control across requests -------------------------------------------------------

    def _hierarchy(self, indicator_id: str) -> PublishedHierarchy:
        """The indicator's every geography and period kind, published once: each answer takes its
        rows from it, so that two answers (a CCG's total, its practices) cannot be subtracted."""

        def build() -> PublishedHierarchy:
            complete = pd.concat(
                [
                    self._values(indicator_id, geography, period_kind)
                    for geography in get_args(Geography)
                    for period_kind in AGGREGATED_PERIODS
                ],
                ignore_index=True,
            )
            return PublishedHierarchy(
                _as_levels(complete), also_publish=["events"], present_practices=self.present
            )

        with self._hierarchy_lock:
            if indicator_id not in self._hierarchies:
                self._hierarchies[indicator_id] = build()
            return self._hierarchies[indicator_id]

    def _published(
        self, rows: pd.DataFrame, groups: Mapping[str, Collection[str]] | None = None
    ) -> pd.DataFrame:
        """True ``values_by_area`` (or ``values_of_groups``, with their ``groups``) rows of one
        indicator as published, with the dashboard's labels."""
        if rows.empty:
            return rows.assign(suppressed=pd.Series(dtype=bool))
        hierarchy = self._hierarchy(str(rows["indicator_id"].iloc[0]))
        published = hierarchy.rows(_as_levels(rows), groups=groups)
        # Comparisons with the benchmarks were made on the true rows; a suppressed row's is withheld later.
        compared = {column: rows[column].to_numpy() for column in COMPARISON_COLUMNS if column in rows}
        return published.assign(
            level=rows["level"].to_numpy(),
            code=rows["code"].to_numpy(),
            period=rows["period"].to_numpy(),
            **compared,
        )

    # -- care homes -----------------------------------------------------------------------------

    def care_homes(self) -> CareHomesResponse:
        return self._care_homes

    def _care_home_indicators(self) -> list[IndicatorDefinition]:
        return [
            definition
            for definition in catalogue()
            if getattr(definition.numerator, "cohort", "all_patients") == "care_home_residents"
            or self.rules[definition.id].denominator_kind == "care_home_resident_years"
        ]

    def _build_care_homes(self) -> CareHomesResponse:
        ehch_sites = [self.site_out(site.id) for site in vanguard_sites() if site.care_model == "EHCH"]
        ehch = self.type_practices["EHCH"] & self.present
        groups: dict[str, set[str]] = {CARE_HOME_GROUPS[0]: ehch, CARE_HOME_GROUPS[1]: self._rest_of("EHCH")}
        for site in ehch_sites:
            # A site that is the only EHCH site with data would repeat the EHCH line exactly.
            if self.site_practices[site.id] and self.site_practices[site.id] != ehch:
                groups[site.short_name] = self.site_practices[site.id]
        values: list[GroupValues] = []
        growth: list[GrowthOut] = []
        definitions = self._care_home_indicators()
        for definition in definitions:
            if definition.id not in self.snapshot.indicators:
                continue
            for name, members in groups.items():
                if not members:
                    continue
                years = [
                    value.model_copy(update={"code": name, "name": name})
                    for value in self._year_values(definition, members).values()
                ]
                values.append(GroupValues(indicator=definition.id, group=name, years=years))
            if ehch:
                published, _ = self._growth(
                    definition, ehch, groups[REST_OF_ENGLAND], area="EHCH sites", care_model="EHCH"
                )
                if published is not None:
                    growth.append(published)
        return CareHomesResponse(
            framework=[
                EhchElementOut(
                    number=element.number, name=element.name, sub_elements=list(element.sub_elements)
                )
                for element in ehch_framework()
            ],
            sites=ehch_sites,
            indicators=[self.indicator_summary(definition) for definition in definitions],
            values=values,
            growth=growth,
        )

    # -- data quality ---------------------------------------------------------------------------

    def data_quality(self) -> DataQualityResponse:
        return self._data_quality

    def _build_data_quality(self) -> DataQualityResponse:
        return data_quality_response(self.snapshot)


def data_quality_response(snapshot: WarehouseSnapshot) -> DataQualityResponse:
    """The data-quality page's figures from the warehouse's ``status()`` (what `caremodels
    warehouse status` prints) and its quarantined rows, counts controlled."""
    status = snapshot.status
    detail = snapshot.quarantine_detail
    return DataQualityResponse(
        warehouse=snapshot.path.name,
        people=_disclosed_or_zero(status["people"]),
        tables=[
            TableCount(table=table, rows=_disclosed_or_zero(rows)) for table, rows in status["tables"].items()
        ],
        # Warehouse.status, the function behind `caremodels warehouse status`, counts them.
        overlap_by_table=[
            TableCount(table=table, rows=_disclosed_or_zero(rows))
            for table, rows in status.get("overlap_by_table", {}).items()
        ],
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
            for row in _rows(detail)
        ],
    )


# -- module helpers ------------------------------------------------------------------------------


def _as_levels(rows: pd.DataFrame) -> pd.DataFrame:
    """Dashboard rows named as the indicator levels and period kinds that
    ``caremodels.indicators.output.additive_relations`` knows: all practices as England, the
    period's label as its kind."""
    everyone = rows["level"] == "all"
    kinds = {length: kind for kind, length in MONTHS_IN_PERIOD.items()}
    return rows.assign(
        level=rows["level"].mask(everyone, "england"),
        code=rows["code"].mask(everyone, ENGLAND_CODE),
        period=rows["months"].map(kinds),
    )


def _rows(frame: pd.DataFrame) -> list[Any]:
    """The rows of a frame as named tuples (typed loosely: columns are known by name only)."""
    return list(frame.itertuples(index=False))


def _disclosed_or_zero(count: Any) -> int | None:
    return 0 if not count else disclosed(int(count))


def _deprivation_deciles() -> dict[str, int]:
    """Population-weighted IMD 2019 deciles of England's practices: decile 1 holds the most deprived
    tenth of the registered population (by the practice's score), decile 10 the least deprived."""
    scored = sorted(
        (
            practice
            for practice in practices()
            if practice.imd2019_score is not None and practice.list_size_2021 > 0
        ),
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


def _matrices(snapshot: WarehouseSnapshot) -> dict[str, CountMatrix]:
    """Each indicator's sums as matrices; standardised indicators with the same populations by band
    share one array (the registered population is the largest part of the snapshot)."""
    matrices: dict[str, CountMatrix] = {}
    populations: list[np.ndarray] = []
    for indicator_id, item in snapshot.indicators.items():
        matrix = CountMatrix.from_counts(item.counts, item.bands, item.months)
        if matrix.band_denominator is not None:
            same = next(
                (
                    seen
                    for seen in populations
                    if seen.shape == matrix.band_denominator.shape
                    and np.array_equal(seen, matrix.band_denominator)
                ),
                None,
            )
            if same is None:
                populations.append(matrix.band_denominator)
            else:
                matrix = dataclasses.replace(matrix, band_denominator=same)
        matrices[indicator_id] = matrix
    return matrices


def _count_or_none(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _value_or_none(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else _finite(value)


def _area_rates(
    geography: str, published: pd.DataFrame, bands: Sequence[FunnelBand | None] | None = None
) -> list[AreaRate]:
    """Published rows (``DashboardFigures._published``) as the API's areas, with the comparisons
    their true rows carried (``COMPARISON_COLUMNS``)."""
    compared = {
        column: list(published[column]) if column in published else ["not compared"] * len(published)
        for column in COMPARISON_COLUMNS
    }
    areas = []
    for index, row in enumerate(_rows(published)):
        suppressed = bool(row.suppressed)
        areas.append(
            AreaRate(
                geography=geography,
                code=str(row.code),
                name=str(row.name),
                period=str(row.period),
                period_start=row.period_start,
                period_end=row.period_end,
                numerator=_count_or_none(row.numerator),
                events=_count_or_none(row.events),
                denominator=_count_or_none(row.denominator),
                value=_value_or_none(row.value),
                ci_low=_value_or_none(row.ci_low),
                ci_high=_value_or_none(row.ci_high),
                unit=str(row.unit),
                suppressed=suppressed,
                funnel=None if suppressed or bands is None else bands[index],
                # A suppressed row's comparison is withheld with its value.
                **{
                    column: None if suppressed else str(compared[column][index])
                    for column in COMPARISON_COLUMNS
                },
            )
        )
    return areas


def _monthly_points(published: pd.DataFrame) -> list[MonthlyPoint]:
    """Published monthly points from ``values_by_area`` rows of one area by month, in time order."""
    return [
        MonthlyPoint(
            month=area.period_start,
            numerator=area.numerator,
            events=area.events,
            denominator=area.denominator,
            value=area.value,
            ci_low=area.ci_low,
            ci_high=area.ci_high,
            unit=area.unit,
            suppressed=area.suppressed,
        )
        for area in _area_rates("month", published)
    ]


def _spc_result(rows: pd.DataFrame, definition: IndicatorDefinition) -> SpcResult | None:
    """Making Data Count XmR chart of the true monthly values (``rows``), with the indicator's
    standard as its target (so an assurance icon); None with fewer than 2 months."""
    true = rows[np.isfinite(rows["value"].to_numpy(dtype=np.float64))]
    if len(true) < 2:
        return None
    frame = pd.DataFrame({"month": list(true["period_start"]), "value": true["value"].to_numpy(dtype=float)})
    with warnings.catch_warnings():
        # Short series come back with a caveat, which the page shows.
        warnings.simplefilter("ignore", ShortSeriesWarning)
        found: SpcResult = spc(
            frame, value="value", date="month", improvement=_improvement(definition), target=definition.target
        )[0]
    return found


def _spc_of(
    result: SpcResult | None, monthly: list[MonthlyPoint]
) -> tuple[SpcSummary | None, list[SpcPointOut], str | None]:
    """The published form of ``result``: the mean and limits rest on every month, suppressed or
    not, so that leaving out small (low) months cannot bias them. A suppressed month's value and
    special-cause flags are withheld from the published points, because they would give its count
    back."""
    if result is None:
        return None, [], "too few months with a value for an SPC chart"
    suppressed_on = {point.month: point.suppressed for point in monthly}
    withheld = sum(1 for point in result.points if suppressed_on.get(point.date, False))
    summary = SpcSummary(
        variation_icon=result.variation_icon,
        assurance_icon=result.assurance_icon,
        centre=result.centre,
        upper_limit=result.upper_limit,
        lower_limit=result.lower_limit,
        target=result.target,
        n_points=result.n_points,
        caveats=list(result.caveats)
        + (
            [
                f"{withheld} month(s) with small counts are withheld from the chart; the mean and "
                "limits include them."
            ]
            if withheld
            else []
        ),
    )
    points = []
    for point in result.points:
        hidden = suppressed_on.get(point.date, False)
        points.append(
            SpcPointOut(
                date=point.date,
                value=None if hidden else point.value,
                mean=point.mean,
                upper_limit=point.upper_limit,
                lower_limit=point.lower_limit,
                special_cause_rule=None if hidden else point.special_cause_rule,
                special_cause_type=None if hidden else point.special_cause_type,
                special_cause_direction=None if hidden else point.special_cause_direction,
                suppressed=hidden,
            )
        )
    return summary, points, None


def _growth_out(comparison: GrowthComparison) -> tuple[GrowthOut | None, str | None]:
    years = (comparison.baseline, comparison.comparison, comparison.rest_baseline, comparison.rest_comparison)
    published = [disclosed(year.events) for year in years]
    if any(count is None for count in published):
        return None, "an annual count is too small to publish"
    numbers = (comparison.growth, comparison.rest_growth, comparison.difference_percentage_points)
    if not all(math.isfinite(number) for number in numbers):
        return None, "a baseline value is zero, so growth is undefined"
    standardised = find_indicator(comparison.indicator).standardisation == "esp2013"
    return (
        GrowthOut(
            indicator=comparison.indicator,
            area=comparison.area,
            baseline=_area_year(comparison.baseline, published[0], standardised=standardised),
            comparison=_area_year(comparison.comparison, published[1], standardised=standardised),
            rest_baseline=_area_year(comparison.rest_baseline, published[2], standardised=standardised),
            rest_comparison=_area_year(comparison.rest_comparison, published[3], standardised=standardised),
            growth=comparison.growth,
            growth_ci_low=_finite(comparison.growth_ci_low),
            growth_ci_high=_finite(comparison.growth_ci_high),
            rest_growth=comparison.rest_growth,
            difference_percentage_points=comparison.difference_percentage_points,
            result=evaluation_out(comparison.result),
        ),
        None,
    )


def _as_care_home_indicator(evaluation: EvaluationOut) -> EvaluationOut:
    """Person-level care-home results count residents' emergency admissions: label them so, not as
    the whole population's indicator."""
    if evaluation.method in ("matched", "before_after"):
        return evaluation.model_copy(update={"indicator": CARE_HOME_INDICATOR})
    return evaluation


def evaluation_out(result: EvaluationResult) -> EvaluationOut:
    """An evaluation as the dashboard publishes it: its diagnostics' counts controlled
    (``EvaluationResult.published``, the one path every output takes)."""
    result = result.published()
    return EvaluationOut(
        method=result.method,
        indicator=result.indicator,
        target={str(key): str(value) for key, value in result.target.items()},
        periods={str(key): str(value) for key, value in result.periods.items()},
        estimate={key: _finite(value) for key, value in result.estimate.model_dump().items()},
        diagnostics=_clean(result.diagnostics.model_dump()),
        caveats=list(result.caveats),
    )


def _area_year(year: Any, events: int | None, *, standardised: bool) -> AreaYearOut:
    """An area's year as published. A crude rate and its interval are recomputed from the published
    count and person-years (Byar / exact Poisson, as ``finish`` computes them), so that rate x
    person-years gives the rounded count back, never the true one. A directly standardised rate
    (the indicator engine's DSR) is not a count over person-years, so it is published as the engine
    gives it."""
    person_years = round(year.person_years, 1)
    rate = ci_low = ci_high = None
    if standardised:
        if events is not None:
            rate, ci_low, ci_high = year.rate, year.ci_low, year.ci_high
    elif events is not None and year.events and person_years > 0:
        multiplier = year.rate * year.person_years / year.events  # the rate's basis (per 1,000...)
        interval = crude_rate_ci_arrays([float(events)], [person_years], multiplier=multiplier)
        rate, ci_low, ci_high = (
            float(round_figure(np.asarray(values))[0])
            for values in (interval.value, interval.lower, interval.upper)
        )
    return AreaYearOut(
        area=year.area,
        financial_year=year.financial_year,
        events=events,
        person_years=person_years,
        rate=rate if rate is not None else 0.0,
        ci_low=ci_low if ci_low is not None else 0.0,
        ci_high=ci_high if ci_high is not None else 0.0,
        unit=year.unit,
    )


def _change(first: AreaRate | None, last: AreaRate | None) -> float | None:
    if first is None or last is None or not first.value or last.value is None:
        return None
    return last.value / first.value - 1


def _not_measurable(base: dict[str, Any], result: ReportedResult, reason: str) -> ReportedVsMeasured:
    return ReportedVsMeasured(
        **base,
        measured_value=None,
        method="not measured",
        note=f"{result.note} Not measurable in this warehouse: {reason}.",
        status="not_measurable",
    )


def _funnel(
    rows: pd.DataFrame, target: float, rule: MeasureRule, months: int
) -> tuple[list[FunnelBand | None], FunnelLimitsOut]:
    """Each area's position against 95% and 99.8% limits around ``target``, and the limit curves
    on a grid of published denominators (mean list size, mean residents or events)."""
    exposure = rows["exposure"].to_numpy(dtype=np.float64)
    published = rows["denominator"].to_numpy(dtype=np.float64)
    # Exposure per unit of reported denominator: months / 12 person-years per mean patient; a
    # resident-year or an event is its own exposure.
    scale = months / 12 if rule.denominator_kind == "registered_population" else 1.0
    low, high = max(float(published.min()) * 0.8, 1.0), max(float(published.max()) * 1.1, 2.0)
    grid = np.geomspace(low, high, 40)

    def limits(denominators: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
        if rule.funnel == "proportion":
            found = funnel_limits_proportion(
                denominators, target / rule.multiplier, confidence=confidence, multiplier=rule.multiplier
            )
        else:
            found = funnel_limits_rate(
                denominators, target, multiplier=rule.multiplier, confidence=confidence
            )
        return found.lower, found.upper

    valid = exposure > 0
    narrow = limits(np.where(valid, exposure, 1.0), 0.95)
    wide = limits(np.where(valid, exposure, 1.0), 0.998)
    bands: list[FunnelBand | None] = []
    for index, value in enumerate(rows["value"].to_numpy(dtype=np.float64)):
        if not valid[index] or not math.isfinite(value):
            bands.append(None)
        elif value > wide[1][index]:
            bands.append("above_99_8")
        elif value > narrow[1][index]:
            bands.append("above_95")
        elif value < wide[0][index]:
            bands.append("below_99_8")
        elif value < narrow[0][index]:
            bands.append("below_95")
        else:
            bands.append("within")
    curve_narrow = limits(grid * scale, 0.95)
    curve_wide = limits(grid * scale, 0.998)
    return bands, FunnelLimitsOut(
        target=target,
        denominator=[float(value) for value in grid],
        lower_95=[float(value) for value in curve_narrow[0]],
        upper_95=[float(value) for value in curve_narrow[1]],
        lower_99_8=[float(value) for value in curve_wide[0]],
        upper_99_8=[float(value) for value in curve_wide[1]],
    )
