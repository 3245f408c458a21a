"""The risk models: each is a logistic model, an intercept plus coefficients on named terms, where
every term is SQL over the features (``TERMS``), so that fitting, validation and scoring a whole
country evaluate exactly the same expression.

- ``parr30``: PARR-30's published coefficients (``definitions.parr30``) as one term, recalibrated
  locally: logit(risk) = a + b x the published linear predictor, a and b fitted on the training year.
- ``cpm``: a Combined-Predictive-Model-style logistic regression refitted on the local data (hospital
  use, conditions, frailty, age, sex, deprivation, care-home residence).
- ``hfrs``, ``efi``, ``multimorbidity``: one score each (the Hospital Frailty Risk Score from hospital
  diagnoses, the eFI as recorded in primary care, the count of long-term conditions), recalibrated
  the same way so that their risks can be compared; their ranking, and so their AUROC, is the score's.
- imported scores (ACG or any licensed score, brought as data): ``imported_<name>``, recalibrated too.

Boundaries: fits with statsmodels; reads only feature frames; a model file names terms, never SQL, so
loading one cannot run arbitrary SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import statsmodels.api as sm

from caremodels import __version__
from caremodels.errors import CaremodelsError
from caremodels.risk.definitions import parr30
from caremodels.risk.features import CONDITIONS

__all__ = [
    "CPM_TERMS",
    "MODEL_DESCRIPTIONS",
    "TERMS",
    "FittedModel",
    "FittedModels",
    "fit_models",
    "predict",
    "probability_sql",
]


def _parr30_sql() -> str:
    definition = parr30()
    parts = [
        f"{definition.constant!r}",
        f"{definition.terms['age_squared']!r} * age * age",
        f"{definition.terms['emergency_admissions_1y']!r} * emergency_admissions_1y",
        f"{definition.terms['emergency_admission_30d']!r} * emergency_admission_30d",
        f"{definition.terms['index_admission_emergency']!r} * index_admission_emergency",
    ]
    bands = definition.deprivation_bands
    cases = " ".join(
        f"WHEN imd_score >= {low!r} THEN {coefficient!r}" for low, coefficient in reversed(bands)
    )
    parts.append(f"(CASE {cases} ELSE 0.0 END)")
    parts += [f"{condition.coefficient!r} * parr_{name}" for name, condition in definition.conditions.items()]
    return "(" + " + ".join(parts) + ")"


# Terms of the refitted model: age bands (18-44 the reference), counts capped so that a few extreme
# users do not dominate the fit, per-10 scalings to keep coefficients readable.
CPM_TERMS: dict[str, str] = {
    "age_0_17": "CASE WHEN age < 18 THEN 1 ELSE 0 END",
    "age_45_64": "CASE WHEN age >= 45 AND age < 65 THEN 1 ELSE 0 END",
    "age_65_74": "CASE WHEN age >= 65 AND age < 75 THEN 1 ELSE 0 END",
    "age_75_84": "CASE WHEN age >= 75 AND age < 85 THEN 1 ELSE 0 END",
    "age_85_plus": "CASE WHEN age >= 85 THEN 1 ELSE 0 END",
    "female": "female",
    "imd_per_10": "imd_score / 10.0",
    "care_home": "care_home",
    "emergency_admissions_1y": "least(emergency_admissions_1y, 5)",
    "emergency_admission_30d": "emergency_admission_30d",
    "emergency_bed_days_1y_per_10": "least(emergency_bed_days_1y, 60) / 10.0",
    "elective_admissions_1y": "least(elective_admissions_1y, 5)",
    "ae_attendances_1y": "least(ae_attendances_1y, 10)",
    "outpatient_attendances_1y_per_10": "least(outpatient_attendances_1y, 30) / 10.0",
    "ambulance_incidents_1y": "least(ambulance_incidents_1y, 10)",
    "hfrs_per_10": "least(hfrs, 30) / 10.0",
    "efi_score": "efi_score",
    **{f"ltc_{name}": f"ltc_{name}" for name in CONDITIONS},
}
TERMS: dict[str, str] = {
    **CPM_TERMS,
    "parr30_linear_predictor": _parr30_sql(),
    "hfrs": "hfrs",
    "efi": "efi_score",
    "condition_count": "condition_count",
}
MODEL_DESCRIPTIONS = {
    "parr30": "PARR-30, published coefficients (Billings et al. 2012), recalibrated locally",
    "cpm": "Combined-Predictive-Model-style logistic regression, refitted locally",
    "hfrs": "Hospital Frailty Risk Score (Gilbert et al. 2018), primary diagnoses only, recalibrated",
    "efi": "Electronic frailty index as recorded (65 and over), recalibrated",
    "multimorbidity": "Count of long-term conditions recorded in primary care, recalibrated",
}
_SINGLE_SCORES = {
    "parr30": "parr30_linear_predictor",
    "hfrs": "hfrs",
    "efi": "efi",
    "multimorbidity": "condition_count",
}


@dataclass(frozen=True)
class FittedModel:
    name: str
    description: str
    intercept: float
    coefficients: dict[str, float]  # term name -> coefficient

    def linear_sql(self, terms: dict[str, str] | None = None) -> str:
        known = TERMS if terms is None else terms
        parts = [f"{self.intercept!r}"]
        for term, coefficient in self.coefficients.items():
            if term not in known:
                raise CaremodelsError(f"model {self.name}: unknown term {term}")
            parts.append(f"{coefficient!r} * ({known[term]})")
        return " + ".join(parts)


@dataclass
class FittedModels:
    """Models fitted on one training year (features to ``index_date``, outcome the year after)."""

    index_date: dt.date
    people: int
    outcome_rate: float
    models: list[FittedModel] = field(default_factory=list)

    def get(self, name: str) -> FittedModel:
        for model in self.models:
            if model.name == name:
                return model
        raise CaremodelsError(f"no model named {name} (have: {', '.join(m.name for m in self.models)})")

    def to_json(self) -> dict[str, Any]:
        return {
            "software_version": __version__,
            "training_index_date": self.index_date.isoformat(),
            "training_people": self.people,
            "training_outcome_rate": self.outcome_rate,
            "outcome": "one or more emergency admissions in the year after the index date",
            "models": [
                {
                    "name": m.name,
                    "description": m.description,
                    "intercept": m.intercept,
                    "coefficients": m.coefficients,
                }
                for m in self.models
            ],
        }

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> FittedModels:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            models = [
                FittedModel(
                    str(m["name"]),
                    str(m["description"]),
                    float(m["intercept"]),
                    {str(k): float(v) for k, v in m["coefficients"].items()},
                )
                for m in document["models"]
            ]
            fitted = cls(
                dt.date.fromisoformat(document["training_index_date"]),
                int(document["training_people"]),
                float(document["training_outcome_rate"]),
                models,
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CaremodelsError(f"cannot read the model file {path}: {error}") from error
        for model in fitted.models:
            model.linear_sql()  # unknown terms fail here, not halfway through scoring
        return fitted


def _design(frame: pd.DataFrame, terms: dict[str, str]) -> pd.DataFrame:
    """Evaluate named SQL terms over a feature frame in DuckDB: the same SQL scoring runs."""
    connection = duckdb.connect()
    try:
        connection.register("features", frame)
        select = ", ".join(f'({sql})::DOUBLE AS "{name}"' for name, sql in terms.items())
        return connection.execute(f"SELECT {select} FROM features").df()
    finally:
        connection.close()


def _logistic(outcome: np.ndarray, design: pd.DataFrame) -> tuple[float, dict[str, float]]:
    # Constant columns (a condition nobody has in a small practice) carry no information: drop them
    # rather than fail on a singular design.
    kept = [c for c in design.columns if design[c].nunique() > 1]
    matrix = sm.add_constant(design[kept].to_numpy(dtype=np.float64), has_constant="add")
    try:
        result = sm.GLM(outcome, matrix, family=sm.families.Binomial()).fit()
    except (np.linalg.LinAlgError, ValueError) as error:
        raise CaremodelsError(f"the logistic fit failed: {error}") from error
    params = np.asarray(result.params)
    return float(params[0]), {name: float(value) for name, value in zip(kept, params[1:], strict=True)}


def fit_models(frame: pd.DataFrame, index_date: dt.date, *, imported: tuple[str, ...] = ()) -> FittedModels:
    """Fit every model on a training frame (features and ``emergency_admissions_next_year``)."""
    outcome = (frame["emergency_admissions_next_year"].to_numpy() > 0).astype(np.float64)
    if outcome.min() == outcome.max():
        raise CaremodelsError("the training year has no variation in the outcome: nothing to fit")
    fitted = FittedModels(index_date, len(frame), float(outcome.mean()))
    intercept, coefficients = _logistic(outcome, _design(frame, CPM_TERMS))
    fitted.models.append(FittedModel("cpm", MODEL_DESCRIPTIONS["cpm"], intercept, coefficients))
    singles = dict(_SINGLE_SCORES)
    for name in imported:
        singles[name] = name
    for name, term in singles.items():
        terms = {term: TERMS.get(term, f'"{term}"')}
        intercept, coefficients = _logistic(outcome, _design(frame, terms))
        description = MODEL_DESCRIPTIONS.get(name, f"Imported score {name}, recalibrated")
        fitted.models.append(FittedModel(name, description, intercept, coefficients))
    return fitted


def probability_sql(model: FittedModel, terms: dict[str, str] | None = None) -> str:
    return f"1.0 / (1.0 + exp(-({model.linear_sql(terms)})))"


def predict(frame: pd.DataFrame, models: FittedModels) -> pd.DataFrame:
    """[person, model] predicted risk for a feature frame, through the same SQL as scoring."""
    terms = dict(TERMS)
    for model in models.models:
        for term in model.coefficients:
            if term not in terms and term in frame.columns:
                terms[term] = f'"{term}"'  # an imported score's column
    connection = duckdb.connect()
    try:
        connection.register("features", frame)
        select = ", ".join(f'{probability_sql(m, terms)} AS "{m.name}"' for m in models.models)
        return connection.execute(f"SELECT {select} FROM features").df()
    finally:
        connection.close()
