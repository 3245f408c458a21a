"""The advice and guidance measures on a hand-made warehouse: the diversion window (referrals inside it
count, later ones and other specialties do not, requests too recent are left out, unasked ones never
count as diverted), conversion, requests per 100 first outpatient attendances, response days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from caremodels.indicators.advice import advice_measures, diversion, requests_per_first_attendances
from caremodels.warehouse import Warehouse

D = dt.date


def _warehouse(path: Path) -> Path:
    requests = [
        # id, person, request date, response date, specialty, intended, outcome
        ("r1", "p1", D(2025, 1, 6), D(2025, 1, 7), "330", "Y", "converted"),
        ("r2", "p2", D(2025, 1, 6), D(2025, 1, 8), "330", "Y", "advice_given"),  # referred at day 120
        ("r3", "p3", D(2025, 1, 6), D(2025, 1, 6), "330", "Y", "advice_given"),  # referred to 300 only
        ("r4", "p4", D(2025, 1, 6), D(2025, 1, 9), "330", "Y", "referral_advised"),  # GP refers at day 10
        ("r5", "p5", D(2025, 1, 6), D(2025, 1, 7), "330", "N", "advice_given"),  # referred, not intended
        ("r6", "p6", D(2025, 1, 6), None, "320", None, "withdrawn"),  # question not asked
        ("r7", "p7", D(2025, 12, 1), D(2025, 12, 2), "320", "Y", "advice_given"),  # too recent for 90 days
    ]
    referrals = [
        ("f1", "p1", D(2025, 1, 7), "330", "r1"),
        ("f2", "p2", D(2025, 5, 6), "330", None),
        ("f3", "p3", D(2025, 1, 20), "300", None),
        ("f4", "p4", D(2025, 1, 16), "330", None),
        ("f5", "p5", D(2025, 1, 10), "330", None),
    ]
    with Warehouse(path) as warehouse, warehouse.transaction() as connection:
        for rid, person, asked, answered, specialty, intended, outcome in requests:
            referred = "referred" if outcome in ("converted", "referral_advised") else "referral_avoided"
            connection.execute(
                "INSERT INTO advice_and_guidance VALUES (?, ?, 'A81001', 'RTX', ?, ?, ?, ?, ?, 'Y', ?, 'b1')",
                [rid, person, asked, answered, specialty, referred, intended, outcome],
            )
        for fid, person, day, specialty, based in referrals:
            connection.execute(
                "INSERT INTO referrals VALUES (?, ?, 'A81001', 'RTX', ?, ?, 'routine', ?, 'b1')",
                [fid, person, day, specialty, based],
            )
        for position in range(20):
            first = "1" if position < 14 else "2"  # 14 first attendances, 6 follow-ups
            connection.execute(
                "INSERT INTO op_attendances VALUES (?, ?, 'A81001', 'RTX', ?, ?, '5', '330', 50, '2', 'b1')",
                [f"o{position}", f"p{position}", D(2025, 3, 1), first],
            )
    return path


def test_the_window_decides_what_counts_as_referred(tmp_path: Path) -> None:
    with Warehouse(_warehouse(tmp_path / "w.duckdb"), read_only=True) as warehouse:
        ninety = diversion(warehouse, 90, as_of=D(2025, 12, 31))
        longer = diversion(warehouse, 180, as_of=D(2026, 12, 31))
    # Intended, old enough for 90 days by the end of 2025: r1-r4 (r7 is too recent).
    assert (ninety.intended, ninety.referred, ninety.too_recent, ninety.not_asked) == (4, 2, 1, 1)
    assert ninety.estimate.value == pytest.approx(50.0)
    # Within 180 days r2's referral at day 120 counts; r7 (now old enough) is diverted.
    assert (longer.intended, longer.referred, longer.too_recent) == (5, 3, 0)


def test_the_other_measures(tmp_path: Path) -> None:
    with Warehouse(_warehouse(tmp_path / "w.duckdb"), read_only=True) as warehouse:
        rate = requests_per_first_attendances(warehouse, D(2025, 1, 1), D(2025, 12, 31))
        measures = advice_measures(warehouse, windows=(90,), as_of=D(2025, 12, 31))
        with pytest.raises(ValueError, match="old enough"):
            diversion(warehouse, 90, as_of=D(2025, 1, 31))
    assert rate.value == pytest.approx(7 / 14 * 100)
    assert (measures.requests, measures.specialties, measures.responded) == (7, 2, 6)
    assert measures.conversion is not None and (
        measures.conversion.numerator,
        measures.conversion.denominator,
    ) == (1, 6)
    assert measures.response_days_median == pytest.approx(1.0)
