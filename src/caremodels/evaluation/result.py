"""The one result shape every evaluation method returns (and ``--json`` prints).

``diagnostics`` is a typed model, one per method (``caremodels.evaluation.methods`` lists which):
read its fields as attributes. For code and templates written against the earlier dictionaries it
also reads like a mapping (``diagnostics["inference"]``, ``.get``, ``.items()``), giving the plain
JSON-shaped values, so a dashboard page or a script keeps working while it moves to attributes.
``comparison_pool`` says which practices were compared and which sites were left out, and why.
"""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from caremodels.evaluation.targets import ComparisonPool

__all__ = ["Diagnostics", "Estimate", "EvaluationResult", "PlaceboInference", "diagnostics_of"]


class Diagnostics(BaseModel):
    """The base of every method's diagnostics model (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def _plain(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def __getitem__(self, name: str) -> Any:
        return self._plain()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._plain().get(name, default)

    def keys(self) -> KeysView[str]:
        return self._plain().keys()

    def items(self) -> ItemsView[str, Any]:
        return self._plain().items()

    def __contains__(self, name: object) -> bool:
        return name in self._plain()

    def __len__(self) -> int:
        return len(type(self).model_fields)


# Pydantic and Jinja accept a registered Mapping where a dict is expected (for example a response
# model field typed dict[str, Any]); BaseModel's own iteration (name, value pairs) is unchanged.
Mapping.register(Diagnostics)


class PlaceboInference(BaseModel):
    """How the interval was calibrated: placebo pseudo-sites and their spread."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    placebos: int
    # Mean squared placebo statistic: the estimates' variance relative to the model's (Poisson).
    dispersion_over_poisson: float
    poisson_standard_error: float
    rank_p_value: float


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
    diagnostics: SerializeAsAny[Diagnostics]
    caveats: list[str]
    comparison_pool: ComparisonPool | None = None


TypedDiagnostics = TypeVar("TypedDiagnostics", bound=Diagnostics)


def diagnostics_of(result: EvaluationResult, model: type[TypedDiagnostics]) -> TypedDiagnostics:
    """``result.diagnostics`` as the method's typed model (``BaselineDiagnostics`` and so on), so a
    caller reads attributes the type checker knows; a result of another method is refused."""
    from caremodels.errors import CaremodelsError

    diagnostics = result.diagnostics
    if not isinstance(diagnostics, model):
        raise CaremodelsError(
            f"{result.method} result for {result.indicator}: its diagnostics are "
            f"{type(diagnostics).__name__}, not {model.__name__}"
        )
    return diagnostics
