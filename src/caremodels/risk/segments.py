"""Segmentation: Bridges to Health segments and risk tiers, as SQL over the features.

Bridges to Health (Lynn et al., Milbank Quarterly 2007;85:185-208) puts each person in the one segment
of eight that best describes their needs, the most severe first. The warehouse has no maternity,
disability or end-of-life records, so the rules below approximate each segment from what it holds
(docs/risk-stratification.md lists what each rule uses and misses).

Risk tiers follow the usual population pyramid: the top 0.5% of predicted risk very high, the next
4.5% high, the next 15% moderate, the rest low.

Boundaries: SQL text only; the thresholds of the tiers are computed by the caller over the population
scored.
"""

from __future__ import annotations

__all__ = ["SEGMENTS", "TIERS", "segment_sql", "tier_sql"]

# (segment, condition), most severe first: a person takes the first that holds.
SEGMENTS: tuple[tuple[str, str], ...] = (
    ("short_period_of_decline_before_dying", "ltc_cancer = 1 AND emergency_admissions_1y >= 1"),
    (
        "long_term_frailty",
        "ltc_dementia = 1 OR care_home = 1 OR efi_score > 0.36 OR hfrs > 15",
    ),
    (
        "limited_reserve_and_exacerbations",
        "(ltc_heart_failure = 1 OR ltc_copd = 1 OR ltc_ckd = 1) AND emergency_admissions_1y >= 1",
    ),
    ("stable_but_serious_disability", "ltc_stroke = 1 OR ltc_serious_mental_illness = 1"),
    ("chronic_conditions_normal_function", "condition_count >= 1"),
    ("acutely_ill_curable", "emergency_admissions_1y >= 1"),
    ("maternal_and_infant_health", "age < 1"),
)
DEFAULT_SEGMENT = "healthy"
# (tier, share of the population of highest risk it ends at)
TIERS: tuple[tuple[str, float], ...] = (
    ("very_high", 0.005),
    ("high", 0.05),
    ("moderate", 0.20),
)
DEFAULT_TIER = "low"


def segment_sql() -> str:
    cases = " ".join(f"WHEN {condition} THEN '{name}'" for name, condition in SEGMENTS)
    return f"CASE {cases} ELSE '{DEFAULT_SEGMENT}' END"


def tier_sql(risk_column: str, thresholds: dict[str, float]) -> str:
    """CASE over a risk column, given each tier's lowest risk (from the population's quantiles)."""
    cases = " ".join(
        f"WHEN {risk_column} >= {thresholds[name]!r} THEN '{name}'" for name, _ in TIERS if name in thresholds
    )
    return f"CASE {cases} ELSE '{DEFAULT_TIER}' END" if cases else f"'{DEFAULT_TIER}'"
