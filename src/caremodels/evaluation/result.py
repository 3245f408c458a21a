"""The one result shape every evaluation method returns (and ``--json`` prints)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Estimate", "EvaluationResult"]


class Estimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    rate_ratio: float
    ci_low: float
    ci_high: float
    percent_change: float
    p_value: float | None = None


class EvaluationResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str
    indicator: str
    target: dict[str, str]
    periods: dict[str, str]
    estimate: Estimate
    diagnostics: dict[str, Any]
    caveats: list[str]
