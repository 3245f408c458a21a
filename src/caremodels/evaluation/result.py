"""The one result shape every evaluation method returns (and ``--json`` prints).

``diagnostics`` is a typed model, one per method (``caremodels.evaluation.methods`` lists which):
read its fields as attributes. For code and templates written against the earlier dictionaries it
also reads like a mapping (``diagnostics["inference"]``, ``.get``, ``.items()``), giving the plain
JSON-shaped values, so a dashboard page or a script keeps working while it moves to attributes.
``comparison_pool`` says which practices were compared and which sites were left out, and why.

Disclosure control: a field typed ``ControlledCount`` is a count of people or events (matched
residents, placebo areas); ``EvaluationResult.published`` (and ``Diagnostics.published``) puts every
such field, however deep, through ``caremodels.indicators.disclosure.publish_count``, and a method's
model may control more (the matched controls' balance means, which times a group's size give a
count). Every output (the dashboard, ``evaluate --json``, the demo, reports) publishes through it;
estimates inside the tool use the true counts.

Boundaries: data shapes and their publication; no computation of estimates.
"""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, Mapping
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from caremodels.evaluation.targets import ComparisonPool
from caremodels.indicators.disclosure import DisclosurePolicy, publish_count

__all__ = [
    "CONTROLLED",
    "ControlledCount",
    "Diagnostics",
    "Estimate",
    "EvaluationResult",
    "PlaceboInference",
    "diagnostics_of",
    "published_model",
]


class _Controlled:
    """Field metadata: the value is a count published through disclosure control."""

    def __repr__(self) -> str:
        return "CONTROLLED"


CONTROLLED = _Controlled()
ControlledCount = Annotated[int | None, CONTROLLED]
"""A count of people or events: published rounded to 5, or None when 1 to 7 (``publish_count``)."""
_Model = TypeVar("_Model", bound=BaseModel)


def published_model(model: _Model, policy: DisclosurePolicy | None = None) -> _Model:
    """A copy of ``model`` with every ``ControlledCount`` field controlled, in nested models and
    lists of them too (a nested model's own ``published`` is used where it has one)."""
    update: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        if CONTROLLED in info.metadata:
            update[name] = publish_count(value, policy)
        elif isinstance(value, BaseModel):
            update[name] = _published(value, policy)
        elif isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
            update[name] = [
                _published(item, policy) if isinstance(item, BaseModel) else item for item in value
            ]
    return model.model_copy(update=update)


def _published(model: BaseModel, policy: DisclosurePolicy | None) -> BaseModel:
    own = getattr(model, "published", None)
    return own(policy) if callable(own) else published_model(model, policy)


class Diagnostics(BaseModel):
    """The base of every method's diagnostics model (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def published(self, policy: DisclosurePolicy | None = None) -> Self:
        """These diagnostics as published: every ``ControlledCount`` through disclosure control."""
        return published_model(self, policy)

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
    placebos: int  # areas of practices, not people: published as they are
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

    def published(self, policy: DisclosurePolicy | None = None) -> EvaluationResult:
        """The result as every output publishes it: its diagnostics' counts controlled
        (``Diagnostics.published``); the estimate, computed from true counts, is unchanged."""
        return self.model_copy(update={"diagnostics": self.diagnostics.published(policy)})


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
