"""Evaluations of a targeted service (extensive care) that see through the selection of its patients.

A service such as Fylde Coast's extensive care enrols people because their recent use was high; that
use would fall without any effect (regression to the mean), so the cohort's own before-and-after
overstates the effect. Two figures are given side by side:

- **the cohort's own before-and-after**: the enrolled people's events in the ``followup_days`` after
  enrolment against the year before, a Poisson rate ratio with the person as cluster (the figure a
  site reports);
- **risk-matched controls entering at the same time**: the matched method of
  ``caremodels.evaluation.matched`` with the enrolment date as the index. Comparison people are
  those registered with comparison practices who met the same entry criterion in the same months:
  ``min_age`` or over, ``min_conditions`` or more long-term conditions and at least *k* emergency
  admissions in the ``lookback_months`` before the first of a month, *k* being the fewest any enrolled
  person had (so the comparison people were chosen the way the service chose, and regress as much).
  Each enters on the first month they met it. Matching (propensity score on age, sex, deprivation,
  prior emergency admissions and bed days, frailty, conditions and the time of entry), the doubly
  robust weighted Poisson outcome model and the placebo-calibrated interval are those of the care
  home evaluation.

Follow-up is intention to treat: from the index date for ``followup_days`` or to death, leaving the
practice or the end of the data, whichever is first.

Boundaries: reads the warehouse (service_enrolments, gp_registrations, conditions,
frailty_assessments) with DuckDB SQL for the cohort and through the indicator engine for events;
returns an ``EnrolmentEvaluation``. Person-level rows never leave this module except as aggregates.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats as scipy_stats

from caremodels.errors import CaremodelsError
from caremodels.evaluation.inference import few_placebos_caveat
from caremodels.evaluation.matched import (
    BALANCE_GOAL,
    BalanceRow,
    balance_table,
    fit_and_calibrate,
    outcome_definition,
    practice_outcome_ratios,
    weighted_poisson,
    with_person_covariates,
)
from caremodels.evaluation.result import Estimate
from caremodels.evaluation.targets import ComparisonPool, EvaluationTarget
from caremodels.indicators import find_indicator
from caremodels.indicators.ibis_engine import duckdb_engine_for
from caremodels.indicators.periods import month_start
from caremodels.periods import month_end
from caremodels.warehouse.store import Warehouse

__all__ = [
    "ENROLMENT_COVARIATES",
    "EnrolmentEvaluation",
    "build_enrolment_cohort",
    "evaluate_enrolment",
]

ENROLMENT_COVARIATES: dict[str, str] = {
    "age": "Age (years)",
    "female": "Female",
    "deprivation": "Deprivation (IMD 2019 score of the practice)",
    "prior_emergency_admissions": "Emergency admissions in the year before",
    "prior_bed_days": "Emergency bed days in the year before",
    "frailty": "Electronic frailty index",
    "conditions": "Long-term conditions",
    "index_years": "Years from the first enrolment to entering follow-up",
}
_DAYS_PER_YEAR = 365.25


class EnrolmentEvaluation(BaseModel):
    """The cohort's own before-and-after beside the risk-matched estimate, with what they rest on."""

    model_config = ConfigDict(frozen=True)

    service: str
    indicator: str
    target: dict[str, str]
    followup_days: int
    entry_criterion: str
    enrolled: int
    comparison_pool_people: int
    matched_enrolled: int
    comparison_used: int
    before_after: Estimate
    before_rate: float
    after_rate: float
    matched: Estimate
    enrolled_rate: float
    matched_comparison_rate: float
    rate_unit: str
    inference: str
    placebos: int
    balance: list[BalanceRow]
    max_abs_smd_after: float
    caveats: list[str]
    comparison_pool: ComparisonPool | None = None


def _entry_months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, current = [], first
    while current <= last:
        months.append(current)
        current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def build_enrolment_cohort(
    warehouse: Warehouse,
    target: EvaluationTarget,
    *,
    service: str = "extensive_care",
    indicator: str = "emergency_admissions",
    followup_days: int = 365,
    min_age: int = 60,
    min_conditions: int = 2,
    lookback_months: int = 12,
    end: dt.date | None = None,
) -> tuple[pd.DataFrame, int]:
    """One row per enrolled person of the target's practices (``treated`` 1) and per comparison person
    who met the entry criterion in the same months (``treated`` 0), with ``index_date``,
    ``person_years``, ``outcome``, ``prior_outcome``, ``prior_person_years`` and the covariates; and
    the entry criterion's *k* (see the module docstring)."""
    if followup_days < 30:
        raise CaremodelsError("follow-up must be at least 30 days")
    definition = outcome_definition(indicator)
    connection = warehouse.connection
    enrolled = connection.execute(
        """
        SELECT person_id, min(enrolment_date) AS index_date
        FROM service_enrolments WHERE service = $service AND practice_code IN (SELECT unnest($codes))
        GROUP BY person_id
        """,
        {"service": service, "codes": sorted(target.treated_practices)},
    ).df()
    if enrolled.empty:
        raise CaremodelsError(
            f"the warehouse holds no {service} enrolments at the practices of {target.area}"
        )
    enrolled["index_date"] = pd.to_datetime(enrolled["index_date"]).astype("datetime64[ns]")
    engine = duckdb_engine_for(warehouse)
    try:
        if end is None:
            months = engine.data_months(definition.numerator)
            if months is None:
                raise CaremodelsError(f"the warehouse holds no {definition.numerator.table}")
            end = month_end(month_start(months[1]))
        first_month = enrolled["index_date"].min().date().replace(day=1)
        last_month = enrolled["index_date"].max().date().replace(day=1)
        lookback_start = (pd.Timestamp(first_month) - pd.DateOffset(months=lookback_months)).date()
        admissions_def = find_indicator("emergency_admissions")
        admissions = engine.person_day_events(admissions_def, first_day=lookback_start, last_day=last_month)
        entry = _entry_criterion(connection, admissions, enrolled, lookback_months)
        controls = _qualifying_controls(
            connection,
            target,
            admissions,
            _entry_months(first_month, last_month),
            entry,
            lookback_months,
            min_age,
            min_conditions,
        )
        treated = enrolled.assign(treated=1)
        cohort = pd.concat([treated, controls.assign(treated=0)], ignore_index=True)
        cohort = _with_registration(connection, cohort, end, followup_days)
        ratios = practice_outcome_ratios(engine, definition, first_month)
        cohort = with_person_covariates(engine, connection, definition, cohort, 365, ratios)
    finally:
        engine.close()
    prior_from = cohort[["registration_start", "prior_start"]].max(axis=1)
    cohort["prior_person_years"] = (cohort["index_date"] - prior_from).dt.days / _DAYS_PER_YEAR
    cohort["nursing"] = 0.0  # one stratum: exact matching is on sex only
    cohort["index_years"] = (cohort["index_date"] - pd.Timestamp(first_month)).dt.days / _DAYS_PER_YEAR
    return cohort.reset_index(drop=True), entry


def _entry_criterion(connection: Any, admissions: pd.DataFrame, enrolled: pd.DataFrame, lookback: int) -> int:
    """The fewest emergency admissions any enrolled person had in the ``lookback`` months before the
    first of their month of enrolment (at least one)."""
    connection.register("entry_events", admissions[["person_id", "day", "numerator"]])
    connection.register("entry_enrolled", enrolled)
    try:
        row = connection.execute(
            f"""
            SELECT min(coalesce(n, 0)) FROM (
                SELECT e.person_id, (SELECT sum(v.numerator) FROM entry_events v
                    WHERE v.person_id = e.person_id
                      AND v.day >= date_trunc('month', e.index_date) - INTERVAL {int(lookback)} MONTH
                      AND v.day < date_trunc('month', e.index_date)) AS n
                FROM entry_enrolled e)
            """
        ).fetchone()
    finally:
        connection.unregister("entry_events")
        connection.unregister("entry_enrolled")
    return max(1, int(row[0] or 0))


def _qualifying_controls(
    connection: Any,
    target: EvaluationTarget,
    admissions: pd.DataFrame,
    months: list[dt.date],
    entry: int,
    lookback: int,
    min_age: int,
    min_conditions: int,
) -> pd.DataFrame:
    """Comparison people and the first month in which they met the entry criterion."""
    connection.register("entry_events", admissions[["person_id", "day", "numerator"]])
    connection.register("entry_months", pd.DataFrame({"month_start": pd.to_datetime(months)}))
    try:
        frame: pd.DataFrame = connection.execute(
            f"""
            WITH busy AS (
                SELECT e.person_id, CAST(m.month_start AS DATE) AS month_start
                FROM entry_events e JOIN entry_months m
                  ON e.day >= CAST(m.month_start AS DATE) - INTERVAL {int(lookback)} MONTH
                 AND e.day < CAST(m.month_start AS DATE)
                GROUP BY ALL HAVING sum(e.numerator) >= $entry
            ),
            registered AS (
                SELECT b.person_id, b.month_start
                FROM busy b JOIN gp_registrations r USING (person_id)
                WHERE r.practice_code IN (SELECT unnest($codes))
                  AND r.registration_start <= b.month_start
                  AND (r.registration_end IS NULL OR r.registration_end >= b.month_start)
                  AND date_diff('day', r.birth_month, b.month_start) / 365.25 >= $min_age
            ),
            conditioned AS (
                SELECT g.person_id, g.month_start FROM registered g JOIN conditions c
                  ON c.person_id = g.person_id AND c.diagnosis_date <= g.month_start
                GROUP BY ALL HAVING count(DISTINCT c.condition) >= $min_conditions
            )
            SELECT person_id, min(month_start) AS index_date FROM conditioned GROUP BY person_id
            ORDER BY person_id
            """,
            {
                "entry": entry,
                "codes": sorted(target.control_practices),
                "min_age": min_age,
                "min_conditions": min_conditions,
            },
        ).df()
    finally:
        connection.unregister("entry_events")
        connection.unregister("entry_months")
    if frame.empty:
        raise CaremodelsError("no comparison people met the entry criterion in the months of enrolment")
    frame["index_date"] = pd.to_datetime(frame["index_date"]).astype("datetime64[ns]")
    return frame


def _with_registration(
    connection: Any, cohort: pd.DataFrame, end: dt.date, followup_days: int
) -> pd.DataFrame:
    """Practice, sex, month of birth and registration of each person at the index date; follow-up
    ends after ``followup_days``, at death or leaving the practice, or at ``end``."""
    connection.register("entry_cohort", cohort[["person_id", "index_date"]])
    try:
        people: pd.DataFrame = connection.execute(
            """
            SELECT c.person_id, arg_max(r.practice_code, r.registration_start) AS practice_code,
                   min(r.sex) AS sex, min(r.birth_month) AS birth_month,
                   min(r.registration_start) AS registration_start,
                   least(CAST(c.index_date AS DATE) + $days - 1, CAST($end AS DATE),
                         max(coalesce(r.registration_end, DATE '9999-12-31'))) AS followup_end
            FROM entry_cohort c JOIN gp_registrations r
              ON r.person_id = c.person_id AND r.registration_start <= CAST(c.index_date AS DATE)
            GROUP BY c.person_id, c.index_date
            """,
            {"days": followup_days, "end": end},
        ).df()
    finally:
        connection.unregister("entry_cohort")
    cohort = cohort.merge(people, on="person_id", how="inner")
    for column in ("birth_month", "registration_start", "followup_end"):
        cohort[column] = pd.to_datetime(cohort[column]).astype("datetime64[ns]")
    cohort["prior_start"] = cohort["index_date"] - pd.Timedelta(days=365)
    return cohort[cohort["followup_end"] >= cohort["index_date"]].copy()


def _before_after(cohort: pd.DataFrame, confidence: float) -> tuple[Estimate, float, float]:
    """The enrolled people's rate after enrolment over their rate in the year before: a Poisson rate
    ratio whose sandwich variance takes each person as a cluster (their two periods are paired)."""
    treated = cohort[(cohort["treated"] == 1) & (cohort["prior_person_years"] > 0)]
    if treated.empty:
        raise CaremodelsError("no enrolled person was registered in the year before enrolment")
    size = len(treated)
    outcome = np.concatenate([treated["prior_outcome"].to_numpy(float), treated["outcome"].to_numpy(float)])
    after = np.concatenate([np.zeros(size), np.ones(size)])
    exposure = np.concatenate(
        [treated["prior_person_years"].to_numpy(float), treated["person_years"].to_numpy(float)]
    )
    clusters = np.concatenate([np.arange(size), np.arange(size)])
    coefficients, covariance = weighted_poisson(
        outcome, np.column_stack([np.ones(2 * size), after]), np.log(exposure), np.ones(2 * size), clusters
    )
    log_ratio, error = float(coefficients[1]), math.sqrt(float(covariance[1, 1]))
    z = float(scipy_stats.norm.ppf(0.5 + confidence / 2))
    ratio = math.exp(log_ratio)
    estimate = Estimate(
        rate_ratio=ratio,
        ci_low=math.exp(log_ratio - z * error),
        ci_high=math.exp(log_ratio + z * error),
        percent_change=(ratio - 1) * 100,
        p_value=float(2 * scipy_stats.norm.sf(abs(log_ratio) / error)) if error > 0 else None,
    )
    before_rate = float(treated["prior_outcome"].sum() / treated["prior_person_years"].sum())
    after_rate = float(treated["outcome"].sum() / treated["person_years"].sum())
    return estimate, before_rate, after_rate


def evaluate_enrolment(
    warehouse: Warehouse,
    target: EvaluationTarget,
    *,
    service: str = "extensive_care",
    indicator: str = "emergency_admissions",
    followup_days: int = 365,
    min_age: int = 60,
    min_conditions: int = 2,
    lookback_months: int = 12,
    neighbours: int = 3,
    end: dt.date | None = None,
    confidence: float = 0.95,
) -> EnrolmentEvaluation:
    """The service's cohort before and after enrolment, beside risk-matched controls entering at the
    same time (see the module docstring)."""
    cohort, entry = build_enrolment_cohort(
        warehouse,
        target,
        service=service,
        indicator=indicator,
        followup_days=followup_days,
        min_age=min_age,
        min_conditions=min_conditions,
        lookback_months=lookback_months,
        end=end,
    )
    before_after, before_rate, after_rate = _before_after(cohort, confidence)
    definition = outcome_definition(indicator)
    calibrated_fit = fit_and_calibrate(
        cohort, target, list(ENROLMENT_COVARIATES), indicator, neighbours, confidence
    )
    fit, covariates, interval = calibrated_fit.fit, calibrated_fit.covariates, calibrated_fit.interval
    calibrated = calibrated_fit.calibrated
    low, high, p_value = calibrated_fit.ci_low, calibrated_fit.ci_high, calibrated_fit.p_value
    ratio = math.exp(fit.log_ratio)
    weights = fit.matching.weights
    balance = [
        row.model_copy(update={"label": ENROLMENT_COVARIATES.get(row.covariate, row.label)})
        for row in balance_table(cohort, weights, covariates)
    ]
    worst = max(abs(row.smd_after) for row in balance if row.smd_after is not None)
    kept = cohort[fit.kept]
    kept_weights = weights[fit.kept]
    enrolled_rows = kept[kept["treated"] == 1]
    control_rows = kept[kept["treated"] == 0]
    control_weights = kept_weights[kept["treated"].to_numpy() == 0]
    caveats = [
        "The before-and-after compares the enrolled people with themselves in the year that got them "
        "enrolled: a high year is followed by a lower one without any care (regression to the mean), so "
        "it overstates the effect. The matched comparison people were chosen by the same rule at the same "
        "time and regress as much.",
        "Matching balances only what is recorded: who a team chose to enrol among those eligible, and why, "
        "can still differ.",
    ]
    if worst >= BALANCE_GOAL:
        caveats.append(
            f"Balance goal missed: the largest standardised mean difference after matching is {worst:.2f}."
        )
    if not calibrated:
        caveats.append(
            f"Only {interval.placebos} comparison areas had enough people to act as placebos: the interval is "
            "the robust one, too narrow when few practices are compared."
        )
    few = few_placebos_caveat(interval.placebos)
    if few:
        caveats.append(few)
    if fit.matching.unmatched_treated:
        caveats.append(
            f"{fit.matching.unmatched_treated} enrolled people had no comparison person within the caliper and "
            "are left out: the matched estimate applies to those matched."
        )
    unit = "bed days" if definition.numerator.measure == "bed_days" else "events"
    return EnrolmentEvaluation(
        service=service,
        indicator=indicator,
        target={**target.describe(), "cohort": f"people enrolled in {service.replace('_', ' ')}"},
        followup_days=followup_days,
        entry_criterion=f"aged {min_age} or over, {min_conditions} or more long-term conditions and {entry} or "
        f"more emergency admissions in the {lookback_months} months before the first of the month",
        enrolled=int((cohort["treated"] == 1).sum()),
        comparison_pool_people=int((cohort["treated"] == 0).sum()),
        matched_enrolled=fit.matching.matched_treated,
        comparison_used=fit.matching.comparison_used,
        before_after=before_after,
        before_rate=before_rate,
        after_rate=after_rate,
        matched=Estimate(
            rate_ratio=ratio, ci_low=low, ci_high=high, percent_change=(ratio - 1) * 100, p_value=p_value
        ),
        enrolled_rate=_rate(enrolled_rows["outcome"], enrolled_rows["person_years"]),
        matched_comparison_rate=_rate(
            control_rows["outcome"] * control_weights, control_rows["person_years"] * control_weights
        ),
        rate_unit=f"{unit} per person-year",
        inference="placebo pseudo-sites (comparison CCGs' people), studentised, Student t"
        if calibrated
        else "robust (HC3) standard error, normal",
        placebos=interval.placebos,
        balance=balance,
        max_abs_smd_after=worst,
        caveats=caveats,
        comparison_pool=target.pool,
    )


def _rate(events: pd.Series, person_years: pd.Series) -> float:
    total = float(person_years.sum())
    return float(events.sum()) / total if total > 0 else math.nan
