"""Matched controls at person level, as in the published evaluations of the care-home vanguards
(Health Foundation Improvement Analytics Unit).

Who is compared (the default design, ``new_residents``): people who moved into a care home for the
first time between the start and the end of follow-up, into a home
aligned with a target practice (treated) or with a comparison practice. Each is followed from the
day they moved in (the index date) to the first of: leaving the home, death, the end of follow-up;
prior hospital use is measured in the year before they moved in, so it is not coloured by the
home's own good or bad years (a transient high year in a home would otherwise make its residents
look like frailer people than they are). ``all_residents`` adds the residents already there at the
start, entering at the start; the published evaluations used both kinds of resident.

Matching: a propensity score (penalised logistic regression) from age, sex, deprivation (index of
multiple deprivation of the aligned practice), prior hospital use in the year before the index date
(emergency admissions and emergency bed days), frailty (latest electronic frailty index), the number
of long-term conditions, and when the person entered follow-up; each treated resident is matched
with up to ``neighbours`` comparison residents of the same sex and care-home type (residential or
nursing) within a caliper of 0.2 standard deviations of the logit of the score, with replacement.
Balance is the standardised mean difference (SMD) of every covariate before and after matching; the
goal is below 0.1.

Outcome: a weighted Poisson regression of each person's events on treatment and the same covariates,
with log person-time as offset (doubly robust); its treatment coefficient is the rate ratio. Its
robust (sandwich, HC3) standard error allows for over-dispersion and for comparison residents used
more than once, but not for what a home's or practice's residents share (a good or bad home, a
practice's way of referring), which with few treated homes is most of the uncertainty. So the
interval is calibrated as for difference in differences (``caremodels.evaluation.inference``): the
analysis is repeated with each comparison CCG's residents as if they were the target, and the spread
of those placebo estimates, relative to their robust standard errors, widens (or narrows) the
target's. With fewer than three usable placebos the robust interval is given, with a caveat.

Outcome: any catalogue indicator whose events carry a person (``outcome_definition``). Its events
are counted per person and day by the indicator engine (``person_day_events``), from the indicator's
own YAML definition, and so are the prior emergency admissions and bed days matched on: this module
holds no indicator SQL. The person-level cohort (who lived in which home, from when to when) replaces
the definition's own cohort: a residents' indicator such as ``care_home_ae_attendances`` counts the
same events here as ``ae_attendances``. The practice-level covariate adjusted for in the outcome
model is the practice's own observed over expected events *of the outcome* before the start, so an
A&E outcome is adjusted for how readily a practice's patients go to A&E, not for their admissions.

Boundaries: reads the warehouse through the indicator engine (events) and DuckDB SQL for the cohort
only (care_home_residence, gp_registrations, conditions, frailty_assessments); returns an
``EvaluationResult``. Person-level rows never leave this module except as aggregates.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import stats as scipy_stats

from caremodels.errors import CaremodelsError
from caremodels.evaluation.inference import CalibratedInterval, few_placebos_caveat, placebo_calibrated
from caremodels.evaluation.result import (
    ControlledCount,
    Diagnostics,
    Estimate,
    EvaluationResult,
    published_model,
)
from caremodels.evaluation.targets import EvaluationTarget
from caremodels.indicators import IndicatorDefinition, find_indicator
from caremodels.indicators.disclosure import DisclosurePolicy, publish_count
from caremodels.indicators.engines import CountingEngine
from caremodels.indicators.geography import AreaSet
from caremodels.indicators.ibis_engine import duckdb_engine_for
from caremodels.indicators.periods import Period, month_index, month_start
from caremodels.indicators.tables import EVENT_TABLES
from caremodels.periods import month_end
from caremodels.reference import practices
from caremodels.warehouse.store import Warehouse

__all__ = [
    "AREA_COVARIATES",
    "BALANCE_GOAL",
    "COVARIATES",
    "BalanceRow",
    "CalibratedFit",
    "Design",
    "MatchedCohort",
    "MatchedDiagnostics",
    "balance_table",
    "build_cohort",
    "fit_and_calibrate",
    "match_on_propensity",
    "matched_controls",
    "outcome_definition",
    "practice_outcome_ratios",
    "weighted_poisson",
    "with_person_covariates",
]

FloatArray = NDArray[np.float64]
BALANCE_GOAL = 0.1
# Covariates in the propensity score, the balance table and the outcome model, with their labels.
COVARIATES: dict[str, str] = {
    "age": "Age (years)",
    "female": "Female",
    "deprivation": "Deprivation (IMD 2019 score of the practice)",
    "prior_emergency_admissions": "Emergency admissions in the year before",
    "prior_bed_days": "Emergency bed days in the year before",
    "frailty": "Electronic frailty index",
    "conditions": "Long-term conditions",
    "nursing": "Nursing home (not residential)",
    "index_years": "Years from the start to entering follow-up",
}
# Adjusted for in the outcome model but not matched on: a practice-level measure takes one value for
# all of a site's residents, so with a few treated practices matching on it would trade away the
# balance of everything else.
AREA_COVARIATES: dict[str, str] = {
    "log_practice_outcome_ratio": "Practice's events of the outcome before the start, observed / expected (log)",
}
_EXACT = ("female", "nursing")
# A comparison area needs this many residents to serve as a placebo.
MIN_PLACEBO_RESIDENTS = 20
Design = Literal["new_residents", "all_residents"]
_ENGLAND_MEAN_IMD = 23.0
# Ridge per unit of weight on the outcome model's covariates, used only when they separate the data.
SEPARATION_PENALTY = 1e-3
# Prior hospital use matched on for every outcome (the covariates prior_emergency_admissions and
# prior_bed_days); another outcome's own prior events are added as prior_outcome.
_PRIOR_USE_INDICATORS = ("emergency_admissions", "emergency_bed_days")


# Covariates whose mean times a group's size is a count, so their published means come from
# controlled counts: 0/1 flags (a share of people, whose complement is a count too) and counts of
# events or conditions per person.
BalanceMeasure = Literal["share", "count", "mean"]
_SHARES = frozenset({"female", "nursing"})
_COUNTS = frozenset({"prior_emergency_admissions", "prior_bed_days", "conditions", "prior_outcome"})


def _measure(covariate: str) -> BalanceMeasure:
    return "share" if covariate in _SHARES else "count" if covariate in _COUNTS else "mean"


class BalanceRow(BaseModel):
    """One covariate's means and SMDs. ``measure`` says what its mean is: ``share`` (of people with
    a 0/1 flag) and ``count`` (events per person) give a count when multiplied by the group's size,
    so ``published_for`` controls them; ``mean`` (age, a score) does not. Published values may be
    None (withheld)."""

    model_config = ConfigDict(frozen=True)

    covariate: str
    label: str
    measure: BalanceMeasure = "mean"
    treated_mean_before: float | None
    comparison_mean_before: float | None
    smd_before: float | None
    treated_mean_after: float | None
    comparison_mean_after: float | None
    smd_after: float | None

    def published_for(
        self, sizes: tuple[int | None, int | None, int | None], policy: DisclosurePolicy | None = None
    ) -> BalanceRow:
        """The row as published, given the true sizes of the groups its means are over (treated and
        comparison residents before matching, matched treated residents after): a share's or a
        count's mean becomes controlled count / controlled size (None when either, or a share's
        complement, is suppressed), and its SMDs are recomputed from the published means, to 2
        decimals (a share's from the shares alone, as the binary SMD is, since the true spread would
        give the true shares back)."""
        if self.measure == "mean":
            return self
        treated, comparison, matched = sizes

        def controlled(mean: float | None, size: int | None) -> float | None:
            if mean is None or size is None or not math.isfinite(mean):
                return None
            total, shown_size = publish_count(mean * size, policy), publish_count(size, policy)
            if total is None or not shown_size:
                return None
            if self.measure == "share" and publish_count(size - mean * size, policy) is None:
                return None
            return total / shown_size

        means = (
            controlled(self.treated_mean_before, treated),
            controlled(self.comparison_mean_before, comparison),
            controlled(self.treated_mean_after, matched),
            controlled(self.comparison_mean_after, matched),
        )
        spread: float | None = None
        if self.measure == "share" and means[0] is not None and means[1] is not None:
            spread = math.sqrt((means[0] * (1 - means[0]) + means[1] * (1 - means[1])) / 2)
        elif self.measure == "count" and self.smd_before:
            true_before = (self.treated_mean_before or 0.0) - (self.comparison_mean_before or 0.0)
            spread = abs(true_before / self.smd_before)

        def smd(one: float | None, other: float | None) -> float | None:
            if one is None or other is None or spread is None:
                return None
            return round((one - other) / spread, 2) if spread > 0 else 0.0

        return self.model_copy(
            update={
                "treated_mean_before": means[0],
                "comparison_mean_before": means[1],
                "treated_mean_after": means[2],
                "comparison_mean_after": means[3],
                "smd_before": smd(means[0], means[1]),
                "smd_after": smd(means[2], means[3]),
            }
        )


class MatchedInference(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str
    # Pseudo-sites (comparison CCGs with 20 or more residents each), not people: published as they
    # are, since a reader needs the number to judge the interval.
    placebos: int
    dispersion_over_robust: float
    robust_standard_error: float
    rank_p_value: float


class MatchedDiagnostics(Diagnostics):
    """Counts of residents are ``ControlledCount``s; ``published`` also controls the balance means
    that give counts (``BalanceRow.published_for``) and takes the largest |SMD| from the rows as
    published."""

    model: str
    treated_residents: ControlledCount
    comparison_residents: ControlledCount
    matched_treated: ControlledCount
    unmatched_treated: ControlledCount
    comparison_used: ControlledCount
    matched_areas: dict[str, int] = Field(default_factory=dict)
    """Comparison residents used in the matched sample, by comparison area (the CCG code of
    ``EvaluationTarget.controls``), most first."""
    neighbours: int
    caliper_logit_sd: float
    balance: list[BalanceRow]
    balance_goal: float
    area_balance: list[BalanceRow]
    max_abs_smd_before: float | None
    max_abs_smd_after: float | None
    treated_rate: float
    matched_comparison_rate: float
    rate_unit: str
    inference: MatchedInference

    def published(self, policy: DisclosurePolicy | None = None) -> Self:
        counted = published_model(self, policy)
        sizes = (self.treated_residents, self.comparison_residents, self.matched_treated)
        balance = [row.published_for(sizes, policy) for row in self.balance]

        def largest(values: list[float | None]) -> float | None:
            # A withheld SMD leaves the largest unknown: publish none rather than a wrong one.
            if not values or any(value is None for value in values):
                return None
            return max(abs(value) for value in values if value is not None)

        return counted.model_copy(
            update={
                "balance": balance,
                "max_abs_smd_before": largest([row.smd_before for row in balance]),
                "max_abs_smd_after": largest([row.smd_after for row in balance]),
            }
        )


def _events_per_person(definition: IndicatorDefinition) -> IndicatorDefinition:
    """The definition's events whoever and wherever the person was: the person-level cohort (who
    lived in which home, from when to when) takes the place of the definition's own cohort."""
    if definition.numerator.cohort == "all_patients":
        return definition
    numerator = definition.numerator.model_copy(update={"cohort": "all_patients"})
    return definition.model_copy(update={"numerator": numerator})


def _same_events(one: IndicatorDefinition, other: IndicatorDefinition) -> bool:
    def key(definition: IndicatorDefinition) -> tuple[Any, ...]:
        n = definition.numerator
        return (n.table, n.date, frozenset(n.where), n.linked, n.measure, n.sum_of)

    return key(_events_per_person(one)) == key(_events_per_person(other))


def outcome_definition(indicator: str) -> IndicatorDefinition:
    """The catalogue indicator whose events matched controls count per person; refused if its
    events carry no person (prescribing) or are not counted as events (a proportion)."""
    definition = find_indicator(indicator)
    if not EVENT_TABLES[definition.numerator.table].has_person:
        raise CaremodelsError(
            f"matched controls cannot count {indicator!r} per person: {definition.numerator.table} holds no people"
        )
    if definition.statistic != "rate":
        raise CaremodelsError(
            f"matched controls cannot count {indicator!r} per person: it is a proportion, not a rate of events"
        )
    return definition


def _unit(definition: IndicatorDefinition) -> str:
    if definition.numerator.measure == "bed_days":
        return "bed days"
    if definition.numerator.measure == "sum":
        return str(definition.numerator.sum_of)
    return "events"


def _events_by_window(
    engine: CountingEngine,
    definition: IndicatorDefinition,
    cohort: pd.DataFrame,
    prior_days: int,
    during: str,
    prior: str,
) -> pd.DataFrame:
    """Per person of ``cohort``: the definition's measure summed from the index date to the end of
    follow-up (``during``) and in the ``prior_days`` before the index date (``prior``)."""
    first = (cohort["index_date"].min() - pd.Timedelta(days=prior_days)).date()
    last = cohort["followup_end"].max().date()
    events = engine.person_day_events(
        _events_per_person(definition), first_day=first, last_day=last, people=set(cohort["person_id"])
    )
    joined = events.merge(cohort[["person_id", "index_date", "followup_end"]], on="person_id")
    in_followup = (joined["day"] >= joined["index_date"]) & (joined["day"] <= joined["followup_end"])
    before = (joined["day"] < joined["index_date"]) & (
        joined["day"] >= joined["index_date"] - pd.Timedelta(days=prior_days)
    )
    frame = pd.DataFrame(
        {
            "person_id": joined["person_id"],
            during: joined["numerator"].where(in_followup, 0.0),
            prior: joined["numerator"].where(before, 0.0),
        }
    )
    return frame.groupby("person_id", as_index=False)[[during, prior]].sum()


def build_cohort(
    warehouse: Warehouse,
    target: EvaluationTarget,
    *,
    indicator: str,
    end: dt.date | None = None,
    prior_days: int = 365,
    design: Design = "new_residents",
) -> pd.DataFrame:
    """One row per resident of a target or comparison care home in follow-up: ``treated`` (0/1),
    care home, ``person_years``, ``outcome`` (the indicator's events in follow-up, counted per
    person by the indicator engine) and the covariates."""
    definition = outcome_definition(indicator)
    connection = warehouse.connection
    if not connection.execute("SELECT count(*) FROM care_home_residence").fetchone()[0]:  # type: ignore[index]
        raise CaremodelsError("the warehouse holds no care home residences: matched controls need them")
    engine = duckdb_engine_for(warehouse)
    try:
        if end is None:
            months = engine.data_months(definition.numerator)
            if months is None:
                raise CaremodelsError(f"the warehouse holds no {definition.numerator.table}")
            end = month_end(month_start(months[1]))
        if end <= target.start:
            raise CaremodelsError(f"follow-up would end before the start {target.start:%Y-%m}")
        arms = pd.DataFrame(
            [(code, 1) for code in sorted(target.treated_practices)]
            + [(code, 0) for code in sorted(target.control_practices)],
            columns=["practice_code", "treated"],
        )
        connection.register("evaluation_arms", arms)
        try:
            cohort = _residents(connection, target.start, end, design)
        finally:
            connection.unregister("evaluation_arms")
        if cohort.empty:
            raise CaremodelsError("no care home residents of the target or comparison practices in follow-up")
        for column in ("index_date", "stay_end", "birth_month", "death"):
            cohort[column] = pd.to_datetime(cohort[column]).astype("datetime64[ns]")
        cohort["followup_end"] = cohort[["stay_end", "death"]].min(axis=1)
        cohort = cohort[cohort["followup_end"] >= cohort["index_date"]].copy()
        ratios = practice_outcome_ratios(engine, definition, target.start)
        cohort = with_person_covariates(engine, connection, definition, cohort, prior_days, ratios)
    finally:
        engine.close()
    cohort["nursing"] = (cohort["care_home_type"] == "nursing").astype(float)
    start = pd.Timestamp(target.start)
    cohort["index_years"] = (cohort["index_date"] - start).dt.days / 365.25
    cohort["treated"] = cohort["treated"].astype(int)
    return cohort.reset_index(drop=True)


def with_person_covariates(
    engine: CountingEngine,
    connection: Any,
    definition: IndicatorDefinition,
    cohort: pd.DataFrame,
    prior_days: int,
    ratios: dict[str, float],
) -> pd.DataFrame:
    """The cohort (``person_id``, ``practice_code``, ``index_date``, ``followup_end``, ``sex``,
    ``birth_month``) with what every person-level comparison matches and adjusts for: the outcome's
    events in follow-up and before (``outcome``, ``prior_outcome``), emergency admissions and bed days
    in the ``prior_days`` before the index date, long-term conditions and the latest eFI by then
    (missing: the median of those recorded), ``person_years``, ``age``, ``female``, ``deprivation`` and
    the practice's log observed over expected events of the outcome (``ratios``)."""
    events = _events_by_window(engine, definition, cohort, prior_days, "outcome", "prior_outcome")
    admissions = _events_by_window(
        engine, find_indicator("emergency_admissions"), cohort, prior_days, "_", "prior_emergency_admissions"
    )
    days = _events_by_window(
        engine, find_indicator("emergency_bed_days"), cohort, prior_days, "_", "prior_bed_days"
    )
    connection.register("evaluation_cohort", cohort[["person_id", "index_date", "followup_end"]])
    try:
        extra = _conditions_and_frailty(connection)
    finally:
        connection.unregister("evaluation_cohort")
    cohort = (
        cohort.merge(events, on="person_id", how="left")
        .merge(admissions[["person_id", "prior_emergency_admissions"]], on="person_id", how="left")
        .merge(days[["person_id", "prior_bed_days"]], on="person_id", how="left")
        .merge(extra, on="person_id", how="left")
    )
    for column in ("outcome", "prior_outcome", "prior_emergency_admissions", "prior_bed_days", "conditions"):
        cohort[column] = cohort[column].fillna(0).astype(float)
    cohort["frailty_recorded"] = cohort["frailty"].notna()
    cohort["frailty"] = cohort["frailty"].astype(float)
    if cohort["frailty_recorded"].any():
        cohort["frailty"] = cohort["frailty"].fillna(
            cohort.loc[cohort["frailty_recorded"], "frailty"].median()
        )
    else:
        cohort["frailty"] = 0.0
    cohort["person_years"] = ((cohort["followup_end"] - cohort["index_date"]).dt.days + 1) / 365.25
    cohort["age"] = (cohort["index_date"] - cohort["birth_month"]).dt.days / 365.25
    cohort["female"] = (cohort["sex"] == "2").astype(float)
    imd = {p.practice_code: p.imd2019_score for p in practices()}
    cohort["deprivation"] = [
        imd.get(code) if imd.get(code) is not None else _ENGLAND_MEAN_IMD for code in cohort["practice_code"]
    ]
    cohort["log_practice_outcome_ratio"] = np.log(
        cohort["practice_code"].map(ratios).fillna(1.0).astype(float).clip(lower=0.05)
    )
    return cohort


def practice_outcome_ratios(
    engine: CountingEngine, definition: IndicatorDefinition, start: dt.date, months: int = 24
) -> dict[str, float]:
    """Each practice's events of the outcome (whoever the person, wherever they lived) in the
    ``months`` before the start over those expected from every practice's rates by sex and
    five-year age band (indirect standardisation; by the practice's list alone when the events carry
    no age and sex): what its patients share (its homes, its ways of working, how readily it sends
    people to hospital for this outcome), which matching on people alone cannot see. Counted by the
    indicator engine from the indicator's own definition."""
    numerator = _events_per_person(definition).numerator
    last = month_index(start) - 1
    first = last - months + 1
    area = AreaSet("practice", "each_practice", {}, "each practice")
    period = Period("month", first, last)
    document = {
        **definition.model_dump(by_alias=True, exclude={"numerator", "denominator"}),
        "numerator": numerator.model_dump(by_alias=True),
        "denominator": {"kind": "registered_population"},
        "statistic": "rate",
        "standardisation": "esp2013",
    }
    try:
        standardised = IndicatorDefinition.model_validate(document)
    except ValidationError:
        standardised = IndicatorDefinition.model_validate({**document, "standardisation": "none"})
    counts = engine.counts(standardised, [area], [period])
    counts = counts[counts["denominator"] > 0]
    if counts.empty:
        return {}
    bands = [column for column in ("sex", "age_band") if column in counts.columns]
    if bands:
        national = counts.groupby(bands)[["numerator", "denominator"]].sum()
        rate = (national["numerator"] / national["denominator"]).rename("rate").reset_index()
        counts = counts.merge(rate, on=bands)
    else:
        counts = counts.assign(rate=counts["numerator"].sum() / counts["denominator"].sum())
    counts = counts.assign(expected=counts["denominator"] * counts["rate"])
    totals = counts.groupby("code")[["numerator", "expected"]].sum()
    totals = totals[totals["expected"] > 0]
    return dict(zip(totals.index, totals["numerator"] / totals["expected"], strict=True))


def _residents(connection: Any, start: dt.date, end: dt.date, design: Design) -> pd.DataFrame:
    """One stay per person in a home of either arm, with sex, month of birth and date of death from
    their registrations. new_residents: the person's first stay in any care home, begun during
    follow-up. all_residents: the person's first stay overlapping follow-up."""
    if design == "new_residents":
        stays = """
            SELECT * FROM (
                SELECT r.person_id, r.care_home_id, r.care_home_type, r.practice_code,
                       r.residence_start AS index_date,
                       least(coalesce(r.residence_end, CAST($end AS DATE)), CAST($end AS DATE)) AS stay_end
                FROM care_home_residence r
                QUALIFY row_number() OVER (PARTITION BY r.person_id ORDER BY r.residence_start, r.care_home_id) = 1
            ) s
            WHERE s.index_date BETWEEN CAST($start AS DATE) AND CAST($end AS DATE)
        """
    else:
        stays = """
            SELECT * FROM (
                SELECT r.person_id, r.care_home_id, r.care_home_type, r.practice_code,
                       greatest(r.residence_start, CAST($start AS DATE)) AS index_date,
                       least(coalesce(r.residence_end, CAST($end AS DATE)), CAST($end AS DATE)) AS stay_end
                FROM care_home_residence r
                WHERE r.residence_start <= CAST($end AS DATE)
                  AND (r.residence_end IS NULL OR r.residence_end >= CAST($start AS DATE))
                QUALIFY row_number() OVER (PARTITION BY r.person_id ORDER BY greatest(r.residence_start,
                    CAST($start AS DATE)), r.care_home_id) = 1
            ) s
        """
    frame: pd.DataFrame = connection.execute(
        f"""
        WITH first_stay AS (
            SELECT s.*, a.treated FROM ({stays}) s JOIN evaluation_arms a USING (practice_code)
        ),
        people AS (
            SELECT person_id, min(sex) AS sex, min(birth_month) AS birth_month,
                   min(CASE WHEN end_reason = 'death' THEN registration_end END) AS death
            FROM gp_registrations
            WHERE person_id IN (SELECT person_id FROM first_stay)
            GROUP BY person_id
        )
        SELECT f.*, p.sex, p.birth_month, p.death
        FROM first_stay f JOIN people p USING (person_id)
        ORDER BY f.person_id
        """,
        {"start": start, "end": end},
    ).df()
    return frame


def _conditions_and_frailty(connection: Any) -> pd.DataFrame:
    """Long-term conditions recorded by the index date, and the latest frailty index by then."""
    frame: pd.DataFrame = connection.execute(
        """
        WITH recorded AS (
            SELECT c.person_id, count(DISTINCT d.condition) AS conditions
            FROM evaluation_cohort c JOIN conditions d
              ON d.person_id = c.person_id AND d.diagnosis_date <= c.index_date
            GROUP BY c.person_id
        ),
        latest AS (
            SELECT c.person_id, arg_max(f.efi_score, f.assessment_date) AS frailty
            FROM evaluation_cohort c JOIN frailty_assessments f
              ON f.person_id = c.person_id AND f.assessment_date <= c.index_date
            GROUP BY c.person_id
        )
        SELECT c.person_id, r.conditions, l.frailty
        FROM evaluation_cohort c
        LEFT JOIN recorded r USING (person_id)
        LEFT JOIN latest l USING (person_id)
        """
    ).df()
    return frame


@dataclass(frozen=True)
class MatchedCohort:
    # Weight of each cohort row after matching: 1 for a matched treated person, the sum of 1/k over
    # the treated people a comparison person was matched to, 0 for everyone unmatched.
    weights: FloatArray
    propensity: FloatArray
    matched_treated: int
    unmatched_treated: int
    comparison_used: int
    caliper: float


def _logistic(features: FloatArray, outcome: FloatArray, penalty: float = 1e-3) -> FloatArray:
    """Ridge-penalised logistic regression by Newton's method; the penalty keeps the fit finite
    when a covariate separates the groups."""
    design = np.column_stack([np.ones(len(outcome)), features])
    coefficients = np.zeros(design.shape[1])
    ridge = np.full(design.shape[1], penalty * len(outcome))
    ridge[0] = 0.0
    for _ in range(100):
        probability = 1 / (1 + np.exp(-(design @ coefficients)))
        gradient = design.T @ (outcome - probability) - ridge * coefficients
        hessian = (design * (probability * (1 - probability))[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient)
        coefficients += step
        if np.abs(step).max() < 1e-10:
            break
    return np.asarray(design @ coefficients)


def _standardise(frame: pd.DataFrame, columns: Sequence[str]) -> FloatArray:
    values = frame[list(columns)].to_numpy(dtype=float)
    spread = values.std(axis=0)
    spread[spread == 0] = 1.0
    return np.asarray((values - values.mean(axis=0)) / spread)


def _varying(cohort: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [column for column in columns if cohort[column].nunique() > 1]


def match_on_propensity(
    cohort: pd.DataFrame,
    *,
    covariates: Sequence[str] = tuple(COVARIATES),
    neighbours: int = 3,
    caliper_sd: float = 0.2,
) -> MatchedCohort:
    """Nearest-neighbour matching with replacement on the logit propensity score, exactly on sex
    and care-home type."""
    if neighbours < 1:
        raise ValueError("neighbours must be at least 1")
    used = _varying(cohort, covariates)
    treated = cohort["treated"].to_numpy() == 1
    if treated.all() or not treated.any():
        raise CaremodelsError("matching needs both treated and comparison residents")
    logit = _logistic(_standardise(cohort, used), treated.astype(float)) if used else np.zeros(len(cohort))
    caliper = caliper_sd * float(logit.std()) if logit.std() > 0 else math.inf
    weights = np.zeros(len(cohort))
    matched = unmatched = 0
    # One stratum per combination of the exact-matching covariates (each 0 or 1).
    strata = np.zeros(len(cohort), dtype=np.int64)
    for column in _EXACT:
        strata = strata * 2 + cohort[column].to_numpy(dtype=np.int64)
    for stratum in np.unique(strata):
        in_stratum = strata == stratum
        controls = np.flatnonzero(in_stratum & ~treated)
        cases = np.flatnonzero(in_stratum & treated)
        if len(controls) == 0:
            unmatched += len(cases)
            continue
        order = controls[np.argsort(logit[controls], kind="stable")]
        sorted_scores = logit[order]
        for case in cases:
            chosen = _nearest(sorted_scores, float(logit[case]), neighbours, caliper)
            if not chosen:
                unmatched += 1
                continue
            matched += 1
            weights[case] = 1.0
            weights[order[chosen]] += 1.0 / len(chosen)
    return MatchedCohort(
        weights=weights,
        propensity=1 / (1 + np.exp(-logit)),
        matched_treated=matched,
        unmatched_treated=unmatched,
        comparison_used=int(((weights > 0) & ~treated).sum()),
        caliper=caliper,
    )


def _nearest(sorted_scores: FloatArray, score: float, count: int, caliper: float) -> list[int]:
    """Positions of the ``count`` scores nearest ``score`` within ``caliper`` (ties: lower first)."""
    right = int(np.searchsorted(sorted_scores, score))
    left = right - 1
    chosen: list[int] = []
    while len(chosen) < count:
        left_distance = score - sorted_scores[left] if left >= 0 else math.inf
        right_distance = sorted_scores[right] - score if right < len(sorted_scores) else math.inf
        if min(left_distance, right_distance) > caliper:
            break
        if left_distance <= right_distance:
            chosen.append(left)
            left -= 1
        else:
            chosen.append(right)
            right += 1
    return chosen


def balance_table(
    cohort: pd.DataFrame, weights: FloatArray, covariates: Sequence[str] = tuple(COVARIATES)
) -> list[BalanceRow]:
    """Means and standardised mean differences before and after matching. The SMD's denominator is
    the pooled standard deviation before matching, so that before and after are on one scale."""
    treated = cohort["treated"].to_numpy() == 1
    rows = []
    for column in covariates:
        values = cohort[column].to_numpy(dtype=float)
        spread = math.sqrt((values[treated].var() + values[~treated].var()) / 2)
        treated_before = float(values[treated].mean())
        control_before = float(values[~treated].mean())
        treated_weights, control_weights = weights * treated, weights * ~treated
        if treated_weights.sum() > 0 and control_weights.sum() > 0:
            treated_after = float(np.average(values, weights=treated_weights))
            control_after = float(np.average(values, weights=control_weights))
        else:
            treated_after = control_after = math.nan
        rows.append(
            BalanceRow(
                covariate=column,
                label={**COVARIATES, **AREA_COVARIATES}.get(column, column),
                measure=_measure(column),
                treated_mean_before=treated_before,
                comparison_mean_before=control_before,
                smd_before=(treated_before - control_before) / spread if spread > 0 else 0.0,
                treated_mean_after=treated_after,
                comparison_mean_after=control_after,
                smd_after=(treated_after - control_after) / spread if spread > 0 else 0.0,
            )
        )
    return rows


def weighted_poisson(
    outcome: FloatArray,
    design: FloatArray,
    log_offset: FloatArray,
    weights: FloatArray,
    clusters: NDArray[Any] | None = None,
    *,
    penalty: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Weighted Poisson regression (quasi-likelihood, so non-integer outcomes such as bed days are
    fine); returns the coefficients and their robust (sandwich) covariance. Without clusters each
    row is its own cluster and the variance is HC3 (each row's score divided by one minus its
    leverage), which holds its level better than the plain sandwich in samples of a few hundred
    people with skewed counts; with clusters, the clustered sandwich with a G / (G - 1) correction.

    ``penalty`` > 0 adds a ridge of ``penalty`` times the total weight to every coefficient after
    the intercept and the treatment (columns 2 onwards): for covariates that separate the data
    (some combination predicts no events at all, so the unpenalised estimate runs off to infinity)."""
    ridge = np.zeros(design.shape[1])
    ridge[2:] = penalty * float(weights.sum())
    coefficients = np.zeros(design.shape[1])
    positive = outcome[weights > 0]
    coefficients[0] = math.log(max(positive.sum(), 0.5) / np.exp(log_offset[weights > 0]).sum())
    for _ in range(100):
        mean = np.exp(design @ coefficients + log_offset)
        score = design.T @ (weights * (outcome - mean)) - ridge * coefficients
        information = (design * (weights * mean)[:, None]).T @ design + np.diag(ridge)
        step = np.linalg.solve(information, score)
        step = step / max(1.0, float(np.abs(step).max()) / 2.0)
        coefficients = coefficients + step
        if np.abs(step).max() < 1e-10:
            break
    else:
        raise ArithmeticError("the outcome model did not converge")
    mean = np.exp(design @ coefficients + log_offset)
    information = (design * (weights * mean)[:, None]).T @ design + np.diag(ridge)
    bread = np.linalg.inv(information)
    contributions = design * (weights * (outcome - mean))[:, None]
    if clusters is None:
        leverage = weights * mean * np.einsum("ij,jk,ik->i", design, bread, design)
        contributions = contributions / (1 - np.minimum(leverage, 0.99))[:, None]
        correction = 1.0
    else:
        contributions = pd.DataFrame(contributions).groupby(np.asarray(clusters)).sum().to_numpy()
        groups = len(contributions)
        correction = groups / max(groups - 1, 1)
    meat = contributions.T @ contributions
    return coefficients, bread @ meat @ bread * correction


@dataclass(frozen=True)
class _MatchedFit:
    log_ratio: float
    standard_error: float
    matching: MatchedCohort
    kept: NDArray[np.bool_]
    penalised: bool = False


def _fit_matched(cohort: pd.DataFrame, covariates: Sequence[str], neighbours: int) -> _MatchedFit:
    """Match, then the weighted Poisson outcome model on the matched residents, adjusted for the
    matching covariates and the area covariates."""
    matching = match_on_propensity(cohort, covariates=covariates, neighbours=neighbours)
    if matching.matched_treated == 0:
        raise CaremodelsError("no treated resident found a comparison resident within the caliper")
    kept = matching.weights > 0
    frame = cohort[kept]
    adjust = _varying(frame, [*covariates, *AREA_COVARIATES])
    regressors = _independent_columns(
        np.column_stack(
            [np.ones(len(frame)), frame["treated"].to_numpy(dtype=float), _standardise(frame, adjust)]
        )
    )
    arguments = (
        frame["outcome"].to_numpy(dtype=float),
        regressors,
        np.log(frame["person_years"].to_numpy(dtype=float)),
        matching.weights[kept],
    )
    penalised = False
    try:
        coefficients, covariance = weighted_poisson(*arguments)
    except (ArithmeticError, np.linalg.LinAlgError):
        # Covariates that separate the data (no events at all for some combination) send the
        # unpenalised estimate to infinity: a small ridge on the covariates (not the treatment)
        # keeps it finite.
        coefficients, covariance = weighted_poisson(*arguments, penalty=SEPARATION_PENALTY)
        penalised = True
    return _MatchedFit(float(coefficients[1]), math.sqrt(float(covariance[1, 1])), matching, kept, penalised)


def _independent_columns(matrix: FloatArray, *, tolerance: float = 1e-8) -> FloatArray:
    """The intercept, the treatment and each further column that is not a linear combination of
    those before it. A practice-level covariate is collinear with treatment when the matched
    residents come from one treated and one comparison practice; it is then left out."""
    kept = [0, 1]
    for column in range(2, matrix.shape[1]):
        candidate = matrix[:, [*kept, column]]
        if (
            np.linalg.matrix_rank(candidate, tol=tolerance * max(1.0, float(np.abs(candidate).max())))
            == len(kept) + 1
        ):
            kept.append(column)
    return np.asarray(matrix[:, kept])


def _placebo_statistics(
    cohort: pd.DataFrame, target: EvaluationTarget, covariates: Sequence[str], neighbours: int
) -> list[float]:
    """The matched analysis repeated with each comparison CCG's residents as if they were the target,
    against the other comparison residents: each estimate over its own robust standard error."""
    comparison = cohort[cohort["treated"] == 0].reset_index(drop=True)
    group_of = {code: group for group, codes in target.controls.items() for code in codes}
    groups = comparison["practice_code"].map(group_of)
    statistics = []
    for group in sorted(groups.dropna().unique()):
        members = (groups == group).to_numpy()
        if members.sum() < MIN_PLACEBO_RESIDENTS or (~members).sum() < MIN_PLACEBO_RESIDENTS:
            continue
        pseudo = comparison.assign(treated=members.astype(int))
        try:
            fit = _fit_matched(pseudo, covariates, neighbours)
        except (CaremodelsError, ArithmeticError, np.linalg.LinAlgError):
            continue
        if fit.standard_error > 0 and math.isfinite(fit.log_ratio):
            statistics.append(fit.log_ratio / fit.standard_error)
    return statistics


@dataclass(frozen=True)
class CalibratedFit:
    """The matched fit with its covariates and its interval: placebo-calibrated when enough comparison
    areas serve as placebos, else the robust (HC3) normal interval."""

    fit: _MatchedFit
    covariates: list[str]
    interval: CalibratedInterval
    calibrated: bool
    ci_low: float
    ci_high: float
    p_value: float


def fit_and_calibrate(
    cohort: pd.DataFrame,
    target: EvaluationTarget,
    covariates: list[str],
    indicator: str,
    neighbours: int,
    confidence: float,
) -> CalibratedFit:
    """Match and fit on ``covariates`` (with the outcome's own prior events added when the outcome is
    not one of the prior-use indicators), then calibrate the interval on placebo pseudo-sites."""
    covariates = list(covariates)
    definition = outcome_definition(indicator)
    if not any(_same_events(definition, find_indicator(other)) for other in _PRIOR_USE_INDICATORS):
        covariates.append("prior_outcome")
    try:
        fit = _fit_matched(cohort, covariates, neighbours)
    except (ArithmeticError, np.linalg.LinAlgError) as error:
        raise CaremodelsError(f"the matched analysis could not be fitted: {error}") from error
    placebos = _placebo_statistics(cohort, target, covariates, neighbours)
    interval = placebo_calibrated(fit.log_ratio, fit.standard_error, placebos, confidence=confidence)
    calibrated = math.isfinite(interval.ci_low)
    if calibrated:
        low, high, p_value = interval.ci_low, interval.ci_high, interval.p_value
    else:
        z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
        low = math.exp(fit.log_ratio - z * fit.standard_error)
        high = math.exp(fit.log_ratio + z * fit.standard_error)
        p_value = float(2 * scipy_stats.norm.sf(abs(fit.log_ratio) / fit.standard_error))
    return CalibratedFit(fit, covariates, interval, calibrated, low, high, p_value)


def _matched_areas(cohort: pd.DataFrame, weights: FloatArray, target: EvaluationTarget) -> dict[str, int]:
    """How many matched comparison residents came from each comparison area, most first."""
    group_of = {code: group for group, codes in target.controls.items() for code in codes}
    used = cohort[(weights > 0) & (cohort["treated"].to_numpy() == 0)]
    counts = used["practice_code"].map(group_of).dropna().value_counts()
    return {
        str(area): int(count) for area, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    }


def matched_controls(
    warehouse: Warehouse,
    target: EvaluationTarget,
    *,
    indicator: str,
    end: dt.date | None = None,
    neighbours: int = 3,
    design: Design = "new_residents",
    confidence: float = 0.95,
) -> EvaluationResult:
    """Rate ratio of the indicator's events among the target's care home residents against matched
    residents of comparison care homes."""
    cohort = build_cohort(warehouse, target, indicator=indicator, end=end, design=design)
    treated_count = int(cohort["treated"].sum())
    if treated_count == 0:
        raise CaremodelsError(f"no care home residents of {target.area} in follow-up")
    definition = outcome_definition(indicator)
    calibrated_fit = fit_and_calibrate(cohort, target, list(COVARIATES), indicator, neighbours, confidence)
    fit, covariates, interval = calibrated_fit.fit, calibrated_fit.covariates, calibrated_fit.interval
    calibrated = calibrated_fit.calibrated
    low, high, p_value = calibrated_fit.ci_low, calibrated_fit.ci_high, calibrated_fit.p_value
    matching, kept = fit.matching, fit.kept
    balance = balance_table(cohort, matching.weights, covariates)
    area_balance = balance_table(cohort, matching.weights, list(AREA_COVARIATES))
    frame = cohort[kept]
    log_ratio, standard_error = fit.log_ratio, fit.standard_error
    ratio = math.exp(log_ratio)
    treated_rows = frame[frame["treated"] == 1]
    control_rows = frame[frame["treated"] == 0]
    control_weights = matching.weights[kept][frame["treated"].to_numpy() == 0]
    worst_after = max(abs(row.smd_after or 0.0) for row in balance)
    caveats = [
        "Matching balances only what is recorded: unrecorded differences between homes or residents "
        "(for example dementia severity or the home's own practice) can still bias the estimate.",
        "Residents are followed while they live in the home, from the day they moved in"
        + (" (new residents only)." if design == "new_residents" else " or from the start if earlier."),
    ]
    if worst_after >= BALANCE_GOAL:
        caveats.append(
            f"Balance goal missed: the largest standardised mean difference after matching is {worst_after:.2f}."
        )
    if not calibrated:
        caveats.append(
            f"Only {interval.placebos} comparison areas had enough residents to act as placebos: the interval "
            "is the robust one, which ignores differences shared by a home's or practice's residents and is "
            "too narrow when few homes are compared."
        )
    few = few_placebos_caveat(interval.placebos)
    if few:
        caveats.append(few)
    if fit.penalised:
        caveats.append(
            "The covariates separated the matched residents (some combination predicted no events at all), "
            f"so the outcome model's covariates carry a small ridge penalty ({SEPARATION_PENALTY:g} per unit "
            "of weight); the treatment coefficient is not penalised."
        )
    if matching.unmatched_treated:
        # Caveats are published as they are: the count in them is controlled here.
        unmatched = publish_count(matching.unmatched_treated)
        caveats.append(
            f"{unmatched if unmatched is not None else 'Fewer than 8'} treated residents had no comparison resident within the caliper "
            "and are left out: the estimate applies to those matched."
        )
    return EvaluationResult(
        method="matched",
        indicator=indicator,
        target={
            **target.describe(),
            "cohort": "new care home residents" if design == "new_residents" else "care home residents",
        },
        periods={
            "followup": f"{target.start:%Y-%m} to {cohort['followup_end'].max():%Y-%m}",
            "prior_use": "the 365 days before each resident's index date",
            "design": design,
        },
        estimate=Estimate(
            rate_ratio=ratio, ci_low=low, ci_high=high, percent_change=(ratio - 1) * 100, p_value=p_value
        ),
        diagnostics=MatchedDiagnostics(
            model="weighted Poisson regression on matched residents, covariate-adjusted, log person-time "
            "offset, robust (HC3) variance",
            treated_residents=treated_count,
            comparison_residents=int((cohort["treated"] == 0).sum()),
            matched_treated=matching.matched_treated,
            unmatched_treated=matching.unmatched_treated,
            comparison_used=matching.comparison_used,
            matched_areas=_matched_areas(cohort, matching.weights, target),
            neighbours=neighbours,
            caliper_logit_sd=0.2,
            balance=balance,
            balance_goal=BALANCE_GOAL,
            area_balance=area_balance,
            max_abs_smd_before=max(abs(row.smd_before or 0.0) for row in balance),
            max_abs_smd_after=worst_after,
            treated_rate=_rate(treated_rows["outcome"], treated_rows["person_years"]),
            matched_comparison_rate=_rate(
                control_rows["outcome"] * control_weights, control_rows["person_years"] * control_weights
            ),
            rate_unit=f"{_unit(definition)} per person-year",
            inference=MatchedInference(
                method="placebo pseudo-sites (comparison CCGs' residents), studentised, Student t"
                if calibrated
                else "robust (HC3) standard error, normal",
                placebos=interval.placebos,
                dispersion_over_robust=interval.dispersion,
                robust_standard_error=standard_error,
                rank_p_value=interval.rank_p_value,
            ),
        ),
        caveats=caveats,
        comparison_pool=target.pool,
    )


def _rate(events: pd.Series, person_years: pd.Series) -> float:
    total = float(person_years.sum())
    return float(events.sum()) / total if total > 0 else math.nan
