"""Risk stratification on the warehouse: features, published and refitted models, segmentation,
validation as a paper would report it, and scoring a whole registered population.

Boundaries (secondary use): reads only the warehouse, where people are pseudonyms (``person_id``);
never imports the direct-care packages and never sees an NHS number. Scores written out carry
``person_id`` only; re-identification for care happens, if at all, inside the care record.
"""

from caremodels.risk.definitions import hfrs_weights, parr30
from caremodels.risk.features import FEATURES, age_sql, feature_frame, feature_sql
from caremodels.risk.models import FittedModel, FittedModels, fit_models, predict
from caremodels.risk.report import render_report, write_report
from caremodels.risk.segments import SEGMENTS, TIERS
from caremodels.risk.service import (
    ORACLE,
    ScoreSummary,
    fit,
    read_imported_scores,
    score,
    training_date,
    validate,
)

__all__ = [
    "FEATURES",
    "ORACLE",
    "SEGMENTS",
    "TIERS",
    "FittedModel",
    "FittedModels",
    "ScoreSummary",
    "age_sql",
    "feature_frame",
    "feature_sql",
    "fit",
    "fit_models",
    "hfrs_weights",
    "parr30",
    "predict",
    "read_imported_scores",
    "render_report",
    "score",
    "training_date",
    "validate",
    "write_report",
]
