"""Advice and guidance measures from the warehouse (pseudonymised): what the requests avoided, honestly.

- ``diversion``: of the requests whose GP said, when asking, that they would otherwise have referred,
  the share with no referral of that person to that specialty within ``window_days`` of the request
  (the window is part of the result; requests too recent for the window are left out and counted).
  Wilson interval from ``caremodels.stats.proportion``. This is the e-RS "diverted" figure done
  properly: it asks the referrals table, not the request's own outcome, and only counts requests
  where the question was asked. It is still a count: some of those patients would never have been
  referred (the GP's "yes" is a forecast), which is why the controlled estimate of the effect on first
  outpatient attendances (``caremodels.evaluation``) is shown beside it.
- ``requests_per_first_attendances``: requests per 100 first outpatient attendances (Byar/exact
  Poisson interval from ``caremodels.stats.crude_rate``).
- ``conversion``: of requests closed by the provider, the share converted to a referral (Wilson).
- ``response_days``: calendar days from request to the provider's first response (median, mean, n).
- ``specialties``: how many specialties were asked.

Boundaries: reads the warehouse with SQL; the statistics come from ``caremodels.stats``; nothing
patient-level is returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from caremodels.stats import Estimate, crude_rate, proportion
from caremodels.warehouse.store import Warehouse

__all__ = [
    "AdviceMeasures",
    "Diversion",
    "advice_measures",
    "conversion",
    "diversion",
    "requests_per_first_attendances",
]


@dataclass(frozen=True)
class Diversion:
    window_days: int
    as_of: dt.date
    intended: int  # requests with "would have referred" = yes, old enough for the window
    referred: int  # of those, referred to the specialty within the window
    too_recent: int  # intended requests left out: the window has not yet passed
    not_asked: int  # requests where the question was not recorded (never counted as diverted)
    estimate: Estimate  # diverted / intended, percent, Wilson interval

    @property
    def diverted(self) -> int:
        return self.intended - self.referred


def _where(practices: tuple[str, ...] | None, column: str, params: list[Any]) -> str:
    if not practices:
        return ""
    params.extend(practices)
    return f" AND {column} IN ({', '.join('?' for _ in practices)})"


def _as_of(warehouse: Warehouse, as_of: dt.date | None) -> dt.date:
    if as_of is not None:
        return as_of
    row = warehouse.query(
        "SELECT greatest(max(request_date), (SELECT max(referral_date) FROM referrals)) FROM advice_and_guidance"
    )
    if not row or row[0][0] is None:
        raise ValueError("the warehouse holds no advice and guidance requests")
    return row[0][0]


def diversion(
    warehouse: Warehouse,
    window_days: int,
    *,
    as_of: dt.date | None = None,
    practices: tuple[str, ...] | None = None,
    confidence: float = 0.95,
) -> Diversion:
    """Diverted share of intended referrals within ``window_days`` (see the module docstring)."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    end = _as_of(warehouse, as_of)
    params: list[Any] = [window_days, window_days, end]
    where = _where(practices, "a.gp_practice_code", params)
    row = warehouse.query(
        f"""
        WITH asked AS (
            SELECT a.*, EXISTS (
                SELECT 1 FROM referrals r
                WHERE r.person_id = a.person_id AND r.treatment_specialty = a.treatment_specialty
                  AND r.referral_date BETWEEN a.request_date AND a.request_date + CAST(? AS INTEGER)
            ) AS referred,
            a.request_date + CAST(? AS INTEGER) <= CAST(? AS DATE) AS complete
            FROM advice_and_guidance a WHERE TRUE {where}
        )
        SELECT
            count(*) FILTER (WHERE intended_referral = 'Y' AND complete),
            count(*) FILTER (WHERE intended_referral = 'Y' AND complete AND referred),
            count(*) FILTER (WHERE intended_referral = 'Y' AND NOT complete),
            count(*) FILTER (WHERE intended_referral IS NULL)
        FROM asked
        """,
        params,
    )[0]
    intended, referred, too_recent, not_asked = (int(value) for value in row)
    if intended == 0:
        raise ValueError(
            f"no request with 'would have referred' = yes is old enough for a {window_days}-day window "
            f"(as of {end.isoformat()})"
        )
    return Diversion(
        window_days=window_days,
        as_of=end,
        intended=intended,
        referred=referred,
        too_recent=too_recent,
        not_asked=not_asked,
        estimate=proportion(intended - referred, intended, confidence=confidence, multiplier=100),
    )


def requests_per_first_attendances(
    warehouse: Warehouse,
    start: dt.date,
    end: dt.date,
    *,
    practices: tuple[str, ...] | None = None,
) -> Estimate:
    """Requests per 100 first outpatient attendances (face to face or virtual) in [start, end]."""
    params: list[Any] = [start, end]
    requests = warehouse.query(
        "SELECT count(*) FROM advice_and_guidance WHERE request_date BETWEEN ? AND ?"
        + _where(practices, "gp_practice_code", params),
        params,
    )[0][0]
    params = [start, end]
    firsts = warehouse.query(
        "SELECT count(*) FROM op_attendances WHERE appointment_date BETWEEN ? AND ? "
        "AND first_attendance IN ('1', '3') AND attended IN ('5', '6')"
        + _where(practices, "gp_practice_code", params),
        params,
    )[0][0]
    if not firsts:
        raise ValueError("no first outpatient attendances in the period: the rate has no denominator")
    return crude_rate(int(requests), int(firsts), multiplier=100)


def conversion(warehouse: Warehouse, *, practices: tuple[str, ...] | None = None) -> Estimate:
    """Of requests the provider closed (advice given, converted, referral advised), the share converted."""
    params: list[Any] = []
    row = warehouse.query(
        "SELECT count(*) FILTER (WHERE response_outcome = 'converted'), count(*) FROM advice_and_guidance "
        "WHERE response_outcome IN ('advice_given', 'converted', 'referral_advised')"
        + _where(practices, "gp_practice_code", params),
        params,
    )[0]
    if not row[1]:
        raise ValueError("no request closed by a provider with a recorded e-RS outcome")
    return proportion(int(row[0]), int(row[1]), multiplier=100)


@dataclass(frozen=True)
class AdviceMeasures:
    requests: int
    specialties: int
    response_days_median: float | None
    response_days_mean: float | None
    responded: int
    conversion: Estimate | None
    diversion: tuple[Diversion, ...]


def advice_measures(
    warehouse: Warehouse,
    *,
    windows: tuple[int, ...] = (90, 180),
    as_of: dt.date | None = None,
    practices: tuple[str, ...] | None = None,
) -> AdviceMeasures:
    """The measures together (as the page and the CLI show them)."""
    params: list[Any] = []
    requests, specialties, median, mean, responded = warehouse.query(
        "SELECT count(*), count(DISTINCT treatment_specialty), "
        "median(response_date - request_date), avg(response_date - request_date), count(response_date) "
        "FROM advice_and_guidance WHERE TRUE" + _where(practices, "gp_practice_code", params),
        params,
    )[0]
    try:
        converted: Estimate | None = conversion(warehouse, practices=practices)
    except ValueError:
        converted = None
    return AdviceMeasures(
        requests=int(requests),
        specialties=int(specialties),
        response_days_median=None if median is None else float(median),
        response_days_mean=None if mean is None else float(mean),
        responded=int(responded),
        conversion=converted,
        diversion=tuple(diversion(warehouse, days, as_of=as_of, practices=practices) for days in windows),
    )
