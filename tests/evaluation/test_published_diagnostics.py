"""Evaluation diagnostics as published: person counts and the balance means that give counts go
through disclosure control, by the type of each field (issue 11)."""

from __future__ import annotations

import json

from caremodels.dashboard.figures import evaluation_out
from caremodels.evaluation.matched import BalanceRow, MatchedDiagnostics, MatchedInference
from caremodels.evaluation.result import CONTROLLED, Estimate, EvaluationResult, published_model

TREATED, COMPARISON, MATCHED = 81, 243, 68


def _row(covariate: str, measure: str, treated: float, comparison: float) -> BalanceRow:
    spread = 0.5
    return BalanceRow(
        covariate=covariate,
        label=covariate,
        measure=measure,  # type: ignore[arg-type]
        treated_mean_before=treated,
        comparison_mean_before=comparison,
        smd_before=(treated - comparison) / spread,
        treated_mean_after=treated,
        comparison_mean_after=comparison,
        smd_after=(treated - comparison) / spread,
    )


def _result() -> EvaluationResult:
    balance = [
        _row("female", "share", 44 / TREATED, 130 / COMPARISON),  # 44 women of 81
        _row("nursing", "share", 78 / TREATED, 120 / COMPARISON),  # 3 of 81 not in nursing homes
        _row("prior_emergency_admissions", "count", 5 / TREATED, 150 / COMPARISON),  # 5 admissions
        _row("age", "mean", 84.31, 83.2),
    ]
    diagnostics = MatchedDiagnostics(
        model="weighted Poisson",
        treated_residents=TREATED,
        comparison_residents=COMPARISON,
        matched_treated=MATCHED,
        unmatched_treated=TREATED - MATCHED,
        comparison_used=162,
        neighbours=3,
        caliper_logit_sd=0.2,
        balance=balance,
        balance_goal=0.1,
        area_balance=[],
        max_abs_smd_before=0.4,
        max_abs_smd_after=0.2,
        treated_rate=1.2,
        matched_comparison_rate=1.4,
        rate_unit="events per person-year",
        inference=MatchedInference(
            method="placebo",
            placebos=6,
            dispersion_over_robust=1.1,
            robust_standard_error=0.2,
            rank_p_value=0.4,
        ),
    )
    return EvaluationResult(
        method="matched",
        indicator="emergency_admissions",
        target={"area": "site"},
        periods={"followup": "2016-04 to 2017-03"},
        estimate=Estimate(rate_ratio=0.9, ci_low=0.7, ci_high=1.1, percent_change=-10.0),
        diagnostics=diagnostics,
        caveats=[],
    )


def test_person_counts_are_marked_by_type() -> None:
    fields = MatchedDiagnostics.model_fields
    marked = {name for name, info in fields.items() if CONTROLLED in info.metadata}
    assert marked == {
        "treated_residents",
        "comparison_residents",
        "matched_treated",
        "unmatched_treated",
        "comparison_used",
    }
    assert "neighbours" not in marked  # a setting, not a count of people


def test_the_dashboard_publishes_matched_counts_rounded_and_small_ones_suppressed() -> None:
    out = evaluation_out(_result())
    d = out.diagnostics
    assert d["comparison_residents"] == 245  # 243 persons, rounded to 5
    assert d["treated_residents"] == 80 and d["matched_treated"] == 70 and d["comparison_used"] == 160
    assert d["unmatched_treated"] == 15  # 13
    assert d["inference"]["placebos"] == 6  # areas, not people
    # The estimate rests on the true counts and is left as computed.
    assert out.estimate["rate_ratio"] == 0.9


def test_balance_means_that_give_counts_come_from_controlled_counts() -> None:
    d = evaluation_out(_result()).diagnostics
    rows = {row["covariate"]: row for row in d["balance"]}
    female = rows["female"]
    # 44 of 81 published as 45 of 80: the mean times the published size is the rounded count.
    assert female["treated_mean_before"] == 45 / 80
    assert round(female["treated_mean_before"] * d["treated_residents"]) == 45 != 44
    assert female["comparison_mean_before"] == 130 / 245
    # 3 of 81 not in a nursing home: the complement is small, so the share is withheld.
    assert rows["nursing"]["treated_mean_before"] is None and rows["nursing"]["smd_before"] is None
    # 5 admissions among 81 residents: the mean per person is withheld.
    assert rows["prior_emergency_admissions"]["treated_mean_before"] is None
    # Age is not a count: published as computed.
    assert rows["age"]["treated_mean_before"] == 84.31
    # The binary SMD from the published shares, never from the true ones.
    share_t, share_c = 45 / 80, 130 / 245
    spread = ((share_t * (1 - share_t) + share_c * (1 - share_c)) / 2) ** 0.5
    assert female["smd_before"] == round((share_t - share_c) / spread, 2)
    assert d["max_abs_smd_before"] is None  # a withheld SMD: the largest is not known


def test_every_output_publishes_through_the_same_layer() -> None:
    result = _result()
    published = result.published()
    dumped = json.loads(json.dumps(published.model_dump(mode="json")))
    assert dumped["diagnostics"] == evaluation_out(result).diagnostics
    assert published_model(result).diagnostics == published.diagnostics
    # The result itself keeps its true counts for statistics inside the tool.
    assert result.diagnostics["comparison_residents"] == 243
