"""Extensive care evaluated against risk-matched controls entering at the same time, beside the
cohort's own before-and-after: on a synthetic economy whose service enrols people for a high recent
year, with and without a planted effect."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from caremodels.errors import CaremodelsError
from caremodels.evaluation import resolve_target
from caremodels.evaluation.enrolment import EnrolmentEvaluation, evaluate_enrolment
from caremodels.ingest.load import load_file
from caremodels.ingest.pseudonymise import Pseudonymiser
from caremodels.synth import generate
from caremodels.synth.config import Effect, EffectsFile, EffectTarget, ServiceEnrolment, SynthConfig
from caremodels.warehouse import Warehouse

PLANTED = -0.19
ENROLMENT = ServiceEnrolment(site="Fylde Coast", start=dt.date(2015, 10, 1), end=dt.date(2018, 3, 1))
TABLES = ("gp_registrations", "apc_spells", "service_enrolments", "conditions", "frailty_assessments")


def _economy(tmp: Path, effects: tuple[Effect, ...], pseudonymiser: Pseudonymiser) -> Path:
    config = SynthConfig(scale="tiny", seed=7, effects=EffectsFile(effects=effects, enrolments=(ENROLMENT,)))
    economy = generate(config, tmp / "synth")
    path = tmp / "warehouse.duckdb"
    with Warehouse(path) as warehouse:
        for table in TABLES:
            load_file(warehouse, economy.files[table], pseudonymiser=pseudonymiser, today=dt.date(2026, 1, 1))
    return path


def _evaluate(path: Path) -> EnrolmentEvaluation:
    with Warehouse(path, read_only=True) as warehouse:
        present = {row[0] for row in warehouse.query("SELECT DISTINCT practice_code FROM gp_registrations")}
        return evaluate_enrolment(warehouse, resolve_target(present, site="Fylde Coast"))


@pytest.fixture(scope="module")
def without_effect(tmp_path_factory: pytest.TempPathFactory, pseudonymiser: Pseudonymiser) -> Path:
    return _economy(tmp_path_factory.mktemp("no_effect"), (), pseudonymiser)


@pytest.fixture(scope="module")
def with_effect(tmp_path_factory: pytest.TempPathFactory, pseudonymiser: Pseudonymiser) -> Path:
    effect = Effect(
        target=EffectTarget(site="Fylde Coast", cohort="extensive_care_enrolled"),
        measure="emergency_admissions",
        relative_change=PLANTED,
        start=ENROLMENT.start,
    )
    return _economy(tmp_path_factory.mktemp("effect"), (effect,), pseudonymiser)


@pytest.mark.slow
def test_before_and_after_falls_with_no_effect_while_the_matched_interval_covers_none(
    without_effect: Path,
) -> None:
    result = _evaluate(without_effect)
    assert result.enrolled >= 30
    # Chosen for a high year: their own before-and-after falls without any care (regression to the mean).
    assert result.before_after.ci_high < 1.0
    assert result.before_rate > 2 * result.after_rate
    # Comparison people chosen by the same rule at the same time regress as much.
    assert result.matched.ci_low <= 1.0 <= result.matched.ci_high
    assert result.matched.rate_ratio > result.before_after.rate_ratio
    assert "2 or more emergency admissions" in result.entry_criterion


@pytest.mark.slow
def test_the_matched_interval_covers_a_planted_effect(with_effect: Path, without_effect: Path) -> None:
    result = _evaluate(with_effect)
    assert result.matched.ci_low <= 1 + PLANTED <= result.matched.ci_high
    # Both worlds enrol the same people (enrolment is decided before any effect acts).
    assert result.enrolled == _evaluate(without_effect).enrolled
    # The effect thins the enrolled people's admissions after enrolment, and nothing before.
    baseline = _evaluate(without_effect)
    assert result.before_rate == pytest.approx(baseline.before_rate)
    assert result.after_rate < baseline.after_rate


def test_enrolment_is_by_recent_high_use(without_effect: Path) -> None:
    with Warehouse(without_effect, read_only=True) as warehouse:
        rows = warehouse.query(
            """
            SELECT e.person_id, count(s.spell_id) FROM service_enrolments e
            LEFT JOIN apc_spells s ON s.person_id = e.person_id AND s.admission_method LIKE '2%'
              AND s.admission_date >= e.enrolment_date - INTERVAL 12 MONTH AND s.admission_date < e.enrolment_date
            GROUP BY e.person_id
            """
        )
    assert rows
    assert min(count for _, count in rows) >= ENROLMENT.min_emergency_admissions


def test_an_effect_on_the_enrolled_cohort_needs_an_enrolment() -> None:
    effect = Effect(
        target=EffectTarget(site="Fylde Coast", cohort="extensive_care_enrolled"),
        measure="emergency_admissions",
        relative_change=PLANTED,
        start=ENROLMENT.start,
    )
    with pytest.raises(ValueError, match="needs an enrolment"):
        EffectsFile(effects=(effect,))


def test_no_enrolments_is_a_clear_error(tiny_warehouse: Path) -> None:
    with Warehouse(tiny_warehouse, read_only=True) as warehouse:
        present = {row[0] for row in warehouse.query("SELECT DISTINCT practice_code FROM gp_registrations")}
        with pytest.raises(CaremodelsError, match="no extensive_care enrolments"):
            evaluate_enrolment(warehouse, resolve_target(present, site="Fylde Coast"))


def test_the_enrolment_file_holds_nhs_numbers_only_at_source(without_effect: Path) -> None:
    with Warehouse(without_effect, read_only=True) as warehouse:
        columns = {row[0] for row in warehouse.query("DESCRIBE service_enrolments")}
    assert "nhs_number" not in columns and "person_id" in columns
