"""The tiny economy against the realism targets of docs/synthetic-data.md.

The tiny economy has about 46,000 registered people, so each tolerance below allows for its noise (stated beside
each check); benchmarks/synth_realism.py measures a region of 2 million people against the same
targets, and docs/synthetic-data.md records those figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from caremodels.reference import site_memberships
from caremodels.synth import SynthResult, rates
from caremodels.synth.realism import emergency_growth, measure_realism


@pytest.fixture(scope="module")
def realism(tiny_economy: SynthResult) -> dict[str, Any]:
    return measure_realism(tiny_economy.out_dir)


@pytest.mark.parametrize(
    ("measure", "target", "tolerance"),
    [
        # Per 1,000 registered people in 2015/16; the tiny economy's 2015/16 has about 46,000
        # person-years, and its practices differ by about 17% (over-dispersion), so about +-25%.
        ("emergency_admissions_per_1000", 100, 0.25),
        ("elective_admissions_per_1000", 140, 0.25),
        ("ae_attendances_per_1000", 410, 0.25),
        ("first_outpatient_attended_per_1000", 425, 0.25),
        ("ambulance_incidents_per_1000", 150, 0.25),
        ("referrals_per_1000", 180, 0.25),
        ("deaths_per_1000", 9, 0.35),
        ("prescription_items_per_person", 19.5, 0.2),
        ("prescribing_cost_per_item", 8.0, 0.15),
    ],
)
def test_national_rates(realism: dict[str, Any], measure: str, target: float, tolerance: float) -> None:
    assert abs(realism[measure] / target - 1) <= tolerance, realism[measure]


def test_four_hour_performance_falls_from_95_to_85_percent(realism: dict[str, Any]) -> None:
    by_year = realism["ae_four_hour_by_year"]
    for year, performance in by_year.items():
        # About 8,000 attendances a year: 2 standard errors are under 1 point; 3 points allowed.
        assert abs(performance - rates.ae_four_hour_target(year)) < 0.03, (year, performance)
    assert by_year[2013] > 0.93 and by_year[2019] < 0.88


def test_ae_department_types(realism: dict[str, Any]) -> None:
    shares = realism["ae_type_shares"]
    # NHS England A&E data 2016-19: type 1 63-65%, type 2 2-3%, types 3 and 4 32-35%.
    assert 0.57 < shares["1"] < 0.71
    assert 0.01 < shares["2"] < 0.04
    assert 0.25 < shares["3"] + shares["4"] < 0.40


def test_winter_peak_in_emergency_admissions(realism: dict[str, Any]) -> None:
    # Planted: +7% in January, -7% in July (ratio 1.15); daily counts over seven years.
    assert 1.03 < realism["emergency_january_to_july"] < 1.30


def test_emergency_admissions_grow_two_to_three_percent_a_year(tiny_economy: SynthResult) -> None:
    in_sites = {code for membership in site_memberships().values() for code in membership.practice_codes}
    rest = {code for code in _practices(tiny_economy) if code not in in_sites}
    # The rest of England carries no effects; about 800 admissions a year there, so the fitted
    # growth has a standard error near 0.7 points: planted about 2.5% (1.7% a head, 0.8% list).
    assert 0.005 < emergency_growth(tiny_economy.out_dir, rest) < 0.05


def _practices(result: SynthResult) -> set[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(result.files["gp_registrations"], columns=["practice_code"])
    return set(pc.unique(table["practice_code"]).to_pylist())


def test_deprivation_gradient_and_over_dispersion(realism: dict[str, Any]) -> None:
    # Planted: about 0.014 on the log rate per IMD point (0.011 directly, the rest through long-term
    # conditions). Twenty practices that differ by 17% beyond deprivation give a standard error
    # near 0.004; the region measures it closely (docs/synthetic-data.md).
    assert realism["deprivation_log_slope_per_imd_point"] > 0.002
    # Practices differ by more than chance (variance over Poisson variance well above 1).
    assert realism["practice_dispersion_ratio"] > 1.5


def test_care_home_residents(realism: dict[str, Any]) -> None:
    # Improvement Analytics Unit 2019: 2.8% of people 65+ live in care homes; residents have 0.70 emergency admissions and
    # 0.98 A&E attendances a year. The tiny economy has several hundred residents, most in Wakefield's full-size practices.
    assert 0.015 < realism["care_home_residents_share_of_65_plus"] < 0.045
    assert realism["care_home_residents_aged_65_plus_share"] > 0.9
    assert 0.4 < realism["care_home_emergency_admissions_per_resident_year"] < 1.1
    assert 0.6 < realism["care_home_ae_attendances_per_resident_year"] < 1.5
    assert (
        1.15 < realism["care_home_residents_in_year_to_point"] < 1.8
    )  # Improvement Analytics Unit: 398,000 / 274,000


def test_long_term_conditions_match_qof_prevalence(realism: dict[str, Any]) -> None:
    for condition, target in rates.CONDITION_PREVALENCE.items():
        measured = realism["condition_prevalence"][condition]
        # About 46,000 people: +-35% for the common registers, +-60% for those under 1.5%.
        tolerance = 0.35 if target >= 0.015 else 0.6
        assert abs(measured / target - 1) < tolerance, (condition, measured)


def test_frailty_and_multimorbidity_drive_hospital_use(realism: dict[str, Any]) -> None:
    efi = realism["efi_category_shares"]
    # Clegg et al. 2016: among people 65+, about 50% fit, 35% mild, 12% moderate, 3% severe.
    assert 0.40 < efi["fit"] < 0.68
    assert 0.2 < efi["mild"] < 0.45
    assert efi["severe"] < 0.08
    by_conditions = realism["emergency_rate_65_plus_by_conditions"]
    assert by_conditions[0] < by_conditions[1] < by_conditions[2] < by_conditions[3]
    by_frailty = realism["emergency_rate_by_prior_efi"]
    assert by_frailty["fit"] < by_frailty["mild"] < by_frailty["moderate"] < by_frailty["severe"]


def test_lengths_of_stay(realism: dict[str, Any]) -> None:
    # HES 2015-16: about a third of emergency spells are same-day; mean emergency stay about 6 days.
    assert 0.25 < realism["emergency_same_day_share"] < 0.4
    assert 4 < realism["emergency_mean_stay_days"] < 8
