"""Response models of the dashboard's JSON API: the OpenAPI document at ``/openapi.json`` is built
from these, and every page is rendered from the same objects the API returns.

Every count in these models has been through disclosure control: ``None`` means suppressed (a true
count from 1 to 7), other counts are rounded to the nearest 5. Rates and intervals are computed
from the true counts and withheld (``None``) whenever a count they rest on is suppressed.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from caremodels.evaluation.spc import AssuranceIcon, VariationIcon
from caremodels.indicators.comparison import Comparison
from caremodels.indicators.output import round_figure

__all__ = [
    "AgeSexBand",
    "AreaRate",
    "AreaSeries",
    "AreaYearOut",
    "BatchOut",
    "CareHomesResponse",
    "CareModelRow",
    "CoverageYearOut",
    "DataQualityResponse",
    "DeprivationDecile",
    "EhchElementOut",
    "EvaluationOut",
    "ExplorerResponse",
    "FundingConditionRow",
    "FunnelLimitsOut",
    "GroupValues",
    "GrowthOut",
    "HealthResponse",
    "IndicatorSummary",
    "MonthlyPoint",
    "OverviewResponse",
    "PopulationProfile",
    "PracticeMonthRow",
    "PracticeRank",
    "PracticeRankingResponse",
    "QuarantineCount",
    "ReportedVsMeasured",
    "SeriesPoint",
    "SeriesResponse",
    "SiteIndicatorResponse",
    "SiteIndicatorSummary",
    "SiteOut",
    "SiteResponse",
    "SkippedEvaluation",
    "SpcPointOut",
    "SpcSummary",
    "TableCount",
]


def _rounded(value: float | None) -> float | None:
    return None if value is None else float(round_figure([value])[0])


Figure = Annotated[float, PlainSerializer(_rounded, return_type=float)]
"""A statistic derived from indicator values (an SPC limit, a funnel limit, a rate in a growth
comparison), rounded as published values are (``caremodels.indicators.output.round_figure``) when
serialised, so that no answer carries 15 significant figures."""
OptionalFigure = Annotated[float | None, PlainSerializer(_rounded, return_type=float | None)]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class HealthResponse(_Out):
    status: Literal["ok"]
    version: str
    evaluations: Literal["ready", "computing"] = Field(
        description="Whether the controlled evaluations of every site have been computed."
    )


class IndicatorSummary(_Out):
    id: str
    title: str
    description: str
    topic: str | None
    statistic: str = Field(description="rate or proportion.")
    unit: str
    value_label: str = Field(
        description="The unit of the values with their period basis, e.g. 'per 1,000 registered patients "
        "per year' (rates over person-time are annual, as in Fingertips and the CLI's default)."
    )
    denominator_label: str
    multiplier: int
    direction_of_improvement: str
    standardised: bool = Field(
        description="Directly age-sex standardised to ESP2013: values are DSRs with Dobson intervals."
    )
    available: bool
    reason_unavailable: str | None = Field(
        default=None, description="Why the indicator cannot be computed from this warehouse."
    )


class AreaYearOut(_Out):
    """One year of a growth comparison (``caremodels.evaluation.monitoring``): the indicator's annual
    rate as the indicator engine gives it (a directly standardised rate for a standardised one)."""

    area: str
    financial_year: str
    events: int | None = Field(description="Disclosure-controlled count of events.")
    person_years: float
    rate: Figure
    ci_low: Figure
    ci_high: Figure
    unit: str = ""


class EvaluationOut(_Out):
    """An ``EvaluationResult`` (the shape every evaluation method returns)."""

    method: str
    indicator: str
    target: dict[str, str]
    periods: dict[str, str]
    estimate: dict[str, float | None]
    diagnostics: dict[str, Any]
    caveats: list[str]


class GrowthOut(_Out):
    """Growth of an area's rate from the baseline year against the rest of England."""

    indicator: str
    area: str
    baseline: AreaYearOut
    comparison: AreaYearOut
    rest_baseline: AreaYearOut
    rest_comparison: AreaYearOut
    growth: Figure
    growth_ci_low: OptionalFigure = None
    growth_ci_high: OptionalFigure = None
    rest_growth: Figure
    difference_percentage_points: Figure
    result: EvaluationOut


class CareModelRow(_Out):
    code: str
    name: str
    selected: dt.date
    sites: int
    sites_in_warehouse: int
    registered_population_2021: int | None = Field(
        description="Registered list of the sites' practices, January 2021 (None for hospital-based ACC sites)."
    )
    registered_in_warehouse: int | None = Field(
        description="People registered at the sites' practices in the warehouse at the profile date "
        "(disclosure-controlled)."
    )


class CoverageYearOut(_Out):
    financial_year: str
    england_population: int
    covered_population: int
    share: float
    goal_share: float | None


class FundingConditionRow(_Out):
    care_model: str
    required_points_below_rest: float
    difference_percentage_points: float
    met: bool = Field(description="Whether the verdict is 'met'.")
    verdict: Literal["met", "not met", "cannot tell"] = Field(
        description="Met only when the interval of the ratio of growth ratios lies below 1; not met "
        "when it lies above the threshold; otherwise cannot tell."
    )
    rate_ratio: OptionalFigure
    ci_low: OptionalFigure
    ci_high: OptionalFigure
    statement: str = Field(description="The verdict with the difference and the interval behind it.")


class SeriesPoint(_Out):
    period: str
    period_start: dt.date
    value: OptionalFigure
    ci_low: OptionalFigure
    ci_high: OptionalFigure
    suppressed: bool = False


class AreaSeries(_Out):
    code: str
    name: str
    points: list[SeriesPoint]


class OverviewResponse(_Out):
    warehouse: str
    indicator: str = Field(description="The headline indicator of the programme.")
    indicators: list[IndicatorSummary]
    care_models: list[CareModelRow]
    coverage: list[CoverageYearOut]
    comparisons: list[GrowthOut] = Field(description="Headline growth of each care model type.")
    growth_by_indicator: list[GrowthOut] = Field(
        description="Growth of each care model type against the rest of England, every available indicator."
    )
    funding_conditions: list[FundingConditionRow]
    monthly: list[AreaSeries] = Field(description="Monthly headline rate per care model type and the rest.")


class SiteOut(_Out):
    id: str
    name: str
    short_name: str
    care_model: str
    care_model_name: str
    selected: dt.date
    lead_organisation: str
    description: str
    population_basis: str
    practices: int = Field(description="Practices of the site in the reference membership.")
    practices_in_warehouse: int
    registered_population_2021: int
    membership_source: str


class AgeSexBand(_Out):
    age_band: str
    male: int | None
    female: int | None


class DeprivationDecile(_Out):
    decile: int = Field(
        ge=1, le=10, description="1 = most deprived tenth of England's registered population."
    )
    people: int | None
    share: float | None
    england_share: float


class PopulationProfile(_Out):
    profile_date: dt.date
    registered: int | None
    not_specified_sex: int | None
    age_sex: list[AgeSexBand]
    deprivation: list[DeprivationDecile]
    deprivation_unknown: int | None = Field(description="People at practices with no IMD 2019 score.")


class SpcSummary(_Out):
    variation_icon: VariationIcon
    assurance_icon: AssuranceIcon | None
    centre: Figure
    upper_limit: Figure
    lower_limit: Figure
    target: OptionalFigure = None
    """The indicator's operational standard on its own scale (the assurance icon tests it), if any."""
    n_points: int
    caveats: list[str]


class SiteIndicatorSummary(_Out):
    indicator: IndicatorSummary
    latest_period: str | None
    latest_value: OptionalFigure
    spc: SpcSummary | None
    growth: GrowthOut | None
    reason: str | None = Field(default=None, description="Why a figure is missing.")


class SkippedEvaluation(_Out):
    method: str
    indicator: str
    reason: str


class ReportedVsMeasured(_Out):
    site_id: str
    measure: str
    cohort: str
    reported: str = Field(description="The site's own figure, as published.")
    reported_value: float = Field(description="Reported relative change (-0.19 = 19% fewer) or share (0.66).")
    kind: Literal["change", "share"]
    reported_period: str
    source: str
    indicator: str | None
    measured_periods: dict[str, str]
    measured_value: OptionalFigure
    measured_ci_low: OptionalFigure = None
    measured_ci_high: OptionalFigure = None
    rest_value: OptionalFigure = None
    method: str
    note: str
    status: Literal["measured", "not_measurable"]


class SiteResponse(_Out):
    site: SiteOut
    population: PopulationProfile | None
    indicators: list[SiteIndicatorSummary]
    evaluations: list[EvaluationOut]
    evaluations_not_run: list[SkippedEvaluation]
    evaluations_status: Literal["ready", "computing", "not_available"] = Field(
        description="Controlled evaluations run after start-up; 'computing' until they are done."
    )
    own_figure_explanation: list[str] = Field(
        default_factory=list,
        description="For an enhanced health in care homes site: why its residents' own before-and-after "
        "figure and the matched-control estimate (both among the evaluations) differ.",
    )
    reported: list[ReportedVsMeasured]


class MonthlyPoint(_Out):
    month: dt.date
    numerator: int | None = Field(description="Events, bed days or the summed field (disclosure-controlled).")
    events: int | None
    denominator: int | None = Field(description="Mean list size, resident-years or denominator events.")
    value: float | None = Field(
        description="None when suppressed, or when there is no value (no denominator)."
    )
    ci_low: float | None
    ci_high: float | None
    unit: str = Field(description="The value's unit and period basis.")
    suppressed: bool


class SpcPointOut(_Out):
    date: dt.date
    value: OptionalFigure = Field(description="None when the month's counts are suppressed.")
    mean: Figure
    upper_limit: Figure
    lower_limit: Figure
    special_cause_rule: str | None
    special_cause_type: str | None
    special_cause_direction: str | None
    suppressed: bool = Field(
        default=False,
        description="The month's counts are suppressed: its value and flags are withheld, but it is "
        "in the mean and limits (computed from the true counts).",
    )


class SiteIndicatorResponse(_Out):
    site: SiteOut
    indicator: IndicatorSummary
    monthly: list[MonthlyPoint]
    spc: SpcSummary | None
    spc_points: list[SpcPointOut]
    spc_reason: str | None
    growth: GrowthOut | None
    growth_reason: str | None


class AreaRate(_Out):
    geography: str
    code: str
    name: str
    period: str
    period_start: dt.date
    period_end: dt.date
    numerator: int | None = Field(description="Events, bed days or the summed field (disclosure-controlled).")
    events: int | None
    denominator: int | None = Field(description="Mean list size, resident-years or denominator events.")
    value: float | None = Field(
        description="None when suppressed, or when there is no value (no denominator)."
    )
    ci_low: float | None
    ci_high: float | None
    unit: str = Field(description="The value's unit and period basis.")
    suppressed: bool
    funnel: Literal["above_99_8", "above_95", "within", "below_95", "below_99_8"] | None = Field(
        default=None, description="Position against the funnel limits around the overall value."
    )
    england_95: Comparison | None = Field(
        default=None,
        description="Compared with all practices in the warehouse (England, when it holds England) at 95%: "
        "better, similar or worse (higher or lower when neither direction is better); None when suppressed.",
    )
    england_99_8: Comparison | None = Field(default=None, description="The same at 99.8%.")
    rest_95: Comparison | None = Field(
        default=None,
        description="Compared with the rest of the practices in the warehouse (without the area) at 95%.",
    )
    rest_99_8: Comparison | None = Field(default=None, description="The same at 99.8%.")


class FunnelLimitsOut(_Out):
    """Control limits around the overall value at a grid of denominators (mean list size, mean
    residents or denominator events over the period: the funnel plot's horizontal axis)."""

    target: Figure
    denominator: list[Figure]
    lower_95: list[Figure]
    upper_95: list[Figure]
    lower_99_8: list[Figure]
    upper_99_8: list[Figure]


class ExplorerResponse(_Out):
    indicator: IndicatorSummary
    geography: str
    period_kind: str
    period: str | None
    periods: list[str]
    areas: list[AreaRate]
    funnel: FunnelLimitsOut | None


class SeriesResponse(_Out):
    indicator: IndicatorSummary
    geography: str
    period_kind: str
    series: list[AreaSeries]


class PracticeRank(_Out):
    rank: int
    decile: int = Field(ge=1, le=10, description="1 = the tenth of practices with the lowest values.")
    practice_code: str
    name: str
    sites: list[str]
    value: float
    ci_low: float | None
    ci_high: float | None
    numerator: int | None
    denominator: int | None


class PracticeRankingResponse(_Out):
    indicator: IndicatorSummary
    period: str | None
    ranked: list[PracticeRank]
    not_ranked: int = Field(description="Practices left out because a count is suppressed.")


class PracticeMonthRow(_Out):
    practice_code: str
    name: str
    month: dt.date
    numerator: int | None
    events: int | None
    denominator: int | None = Field(
        description="List size, resident-years or events (disclosure-controlled)."
    )
    value: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str
    suppressed: bool


class EhchElementOut(_Out):
    number: int
    name: str
    sub_elements: list[str]


class GroupValues(_Out):
    indicator: str
    group: str
    years: list[AreaRate] = Field(description="Values by financial year.")


class CareHomesResponse(_Out):
    framework: list[EhchElementOut]
    sites: list[SiteOut]
    indicators: list[IndicatorSummary] = Field(
        description="Indicators of care home residents in the catalogue."
    )
    values: list[GroupValues] = Field(
        description="Residents' values for EHCH sites, each EHCH site and the rest."
    )
    growth: list[GrowthOut]


class TableCount(_Out):
    table: str
    rows: int | None


class BatchOut(_Out):
    batch_id: str
    source: str
    table_name: str
    rows_read: int | None
    rows_loaded: int | None
    rows_quarantined: int | None
    rows_excluded_opt_out: int | None
    loaded_at: str
    software_version: str


class QuarantineCount(_Out):
    table: str | None
    field: str | None
    reason: str
    rows: int | None


class DataQualityResponse(_Out):
    warehouse: str
    people: int | None
    tables: list[TableCount]
    overlap_by_table: list[TableCount] = Field(
        default_factory=list,
        description="Rows per table whose natural key is also held by a row of another batch (counted "
        "twice in every indicator), as `caremodels warehouse status` reports them; rounded to 5.",
    )
    batches: list[BatchOut]
    quarantine_by_reason: list[QuarantineCount]
    quarantine_by_field: list[QuarantineCount]


class TrustMember(_Out):
    code: str = Field(description="ODS code of the NHS trust.")
    name: str
    published_months: int = Field(description="Months of the trust in the published A&E statistics.")
    attendances_latest_year: int | None = Field(
        description="A&E attendances of the latest financial year in the published statistics."
    )
    performance_latest_year: OptionalFigure = Field(
        description="4-hour performance (0 to 1) of the latest financial year in the published statistics."
    )


class TrustMonth(_Out):
    period: dt.date
    attendances: int
    breaches: int
    performance: Figure
    providers: int = Field(description="Member trusts in the published statistics that month.")


class TrustIndicatorRow(_Out):
    indicator_id: str
    title: str
    code: str
    name: str
    period: str
    numerator: int | None
    value: OptionalFigure
    ci_low: OptionalFigure
    ci_high: OptionalFigure
    unit: str
    suppressed: bool


class TrustGroupResponse(_Out):
    """An acute care collaboration (or any site defined by its trusts) as a group of NHS trusts."""

    site: SiteOut
    members: list[TrustMember]
    source: str
    latest_year: str | None
    four_hour: list[TrustMonth]
    four_hour_reason: str | None
    spc: SpcSummary | None
    indicators: list[TrustIndicatorRow]
    indicators_status: Literal["ready", "computing", "not_available"]
    indicators_reason: str | None
    cannot_measure: list[str]


class SpineRowOut(_Out):
    """One indicator of a site's spine chart: its latest financial year beside England and the
    range of the other vanguard sites with data."""

    indicator_id: str
    title: str
    value_label: str
    period: str
    site: AreaRate
    england: OptionalFigure = Field(
        description="All practices in the warehouse (England, when it holds England)."
    )
    sites_compared: int = Field(description="Vanguard sites with a published value that year (the range).")
    lowest: OptionalFigure
    lower_quartile: OptionalFigure
    upper_quartile: OptionalFigure
    highest: OptionalFigure


class SpineResponse(_Out):
    site: SiteOut
    rows: list[SpineRowOut]
    not_shown: dict[str, str] = Field(description="Indicators left out of the chart, with the reason.")
