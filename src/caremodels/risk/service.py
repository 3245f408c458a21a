"""Fit, validate and score: the three things ``caremodels risk`` does.

Temporal validation as a paper would do it: models are fitted on one year (features to 31 March, the
outcome, any emergency admission, in the following financial year) and validated on the next (features
to the following 31 March, outcome the year after), so the validation year's outcomes were never seen.

Boundaries: opens the warehouse read-only; scores written out carry ``person_id`` (the pseudonym) only.
The oracle, when given, is a frame of ``person_id`` and the generator's expected admissions: callers
pseudonymise it first, so this module never sees an NHS number.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from caremodels.errors import CaremodelsError, DataError
from caremodels.risk import metrics
from caremodels.risk.features import feature_frame, feature_sql, prepare_connection
from caremodels.risk.models import TERMS, FittedModels, fit_models, predict, probability_sql
from caremodels.risk.segments import TIERS, segment_sql, tier_sql
from caremodels.warehouse import Warehouse

__all__ = [
    "ORACLE",
    "ScoreSummary",
    "fit",
    "read_imported_scores",
    "score",
    "training_date",
    "validate",
]

ORACLE = "oracle"
PRIMARY_MODEL = "cpm"


def training_date(index_date: dt.date) -> dt.date:
    """The index date a year earlier: the training year for a validation year."""
    return index_date.replace(year=index_date.year - 1)


def read_imported_scores(path: Path) -> pd.DataFrame:
    """A licensed score (ACG or other) brought as data: a CSV of ``person_id,score``."""
    try:
        frame = pd.read_csv(path, dtype={"person_id": str})
    except (OSError, ValueError) as error:
        # The parser's message can quote a line of the file: name the failure, not the content.
        raise DataError(f"cannot read the scores as CSV ({type(error).__name__})", file=path) from error
    missing = {"person_id", "score"} - set(frame.columns)
    if missing:
        raise DataError(f"missing column(s) {', '.join(sorted(missing))}", file=path, row=1)
    values = pd.to_numeric(frame["score"], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if len(bad):
        raise DataError("not a number", file=path, row=int(bad[0]) + 2, field="score")
    if frame["person_id"].duplicated().any():
        row = int(np.flatnonzero(frame["person_id"].duplicated().to_numpy())[0]) + 2
        raise DataError("person_id listed twice", file=path, row=row, field="person_id")
    return pd.DataFrame({"person_id": frame["person_id"], "score": values.astype(np.float64)})


def _with_imported(frame: pd.DataFrame, imported: dict[str, pd.DataFrame]) -> pd.DataFrame:
    for name, scores in imported.items():
        column = scores.rename(columns={"score": name})
        frame = frame.merge(column, on="person_id", how="left")
        # People the licensed tool did not score rank lowest.
        frame[name] = frame[name].fillna(float(column[name].min()) if len(column) else 0.0)
    return frame


def _frame(warehouse: Path, index_date: dt.date, *, outcome: bool) -> pd.DataFrame:
    with Warehouse(warehouse, read_only=True) as store:
        return feature_frame(store.connection, index_date, outcome=outcome)


def fit(
    warehouse: Path, index_date: dt.date, *, imported: dict[str, pd.DataFrame] | None = None
) -> FittedModels:
    """Fit every model on the year after ``index_date``."""
    imported = imported or {}
    frame = _with_imported(_frame(warehouse, index_date, outcome=True), imported)
    return fit_models(frame, index_date, imported=tuple(imported))


def _summary(
    outcome: np.ndarray, risk: np.ndarray, interval: tuple[float, float], caseload_size: int
) -> dict[str, Any]:
    fitted = metrics.calibration(outcome, risk)
    return {
        "auroc": metrics.auroc(outcome, risk),
        "auroc_interval": list(interval),
        "calibration_slope": fitted.slope,
        "calibration_intercept": fitted.intercept,
        "observed": fitted.observed,
        "expected": fitted.expected,
        "brier": metrics.brier(outcome, risk),
        "deciles": metrics.deciles(outcome, risk),
        "caseload": metrics.caseload(outcome, risk, caseload_size),
    }


def validate(
    warehouse: Path,
    index_date: dt.date,
    rng: np.random.Generator,
    *,
    models: FittedModels | None = None,
    oracle: pd.DataFrame | None = None,
    caseload_share: float = 0.02,
    caseload_size: int | None = None,
    replicates: int = 200,
    imported: dict[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Validate models on the year after ``index_date`` (fitting them on the year before if not given).

    ``oracle``: ``person_id`` and ``expected_emergency_admissions`` in the validation year; the oracle's
    risk of any admission is 1 - exp(-expected), the Poisson chance the generator drew from."""
    imported = imported or {}
    if models is None:
        models = fit(warehouse, training_date(index_date), imported=imported)
    if models.index_date >= index_date:
        raise CaremodelsError(
            f"the models were fitted with features to {models.index_date.isoformat()}: validate on a "
            f"later index date for a temporal split"
        )
    frame = _with_imported(_frame(warehouse, index_date, outcome=True), imported)
    risks = predict(frame, models)
    outcome = (frame["emergency_admissions_next_year"].to_numpy() > 0).astype(np.float64)
    scores = {name: risks[name].to_numpy(dtype=np.float64) for name in risks.columns}
    oracle_people = 0
    if oracle is not None:
        joined = frame[["person_id"]].merge(oracle, on="person_id", how="left")
        expected = joined["expected_emergency_admissions"].to_numpy(dtype=np.float64)
        oracle_people = int(np.isfinite(expected).sum())
        if oracle_people < len(frame):
            raise CaremodelsError(
                f"the oracle covers {oracle_people:,} of the {len(frame):,} people validated: was it made "
                "with the same economy and pseudonymisation key?"
            )
        scores[ORACLE] = 1.0 - np.exp(-expected)
    size = caseload_size if caseload_size is not None else max(1, round(len(frame) * caseload_share))
    intervals = metrics.bootstrap_auroc(outcome, scores, rng, replicates)
    result: dict[str, Any] = {
        "training_index_date": models.index_date.isoformat(),
        "validation_index_date": index_date.isoformat(),
        "outcome": "one or more emergency admissions in the year after the index date",
        "people": len(frame),
        "people_with_outcome": int(outcome.sum()),
        "outcome_rate": float(outcome.mean()),
        "caseload_size": size,
        "bootstrap_replicates": replicates,
        "models": {},
        "oracle": None,
    }
    for name, risk in scores.items():
        summary = _summary(outcome, risk, intervals[name], size)
        if name == ORACLE:
            result["oracle"] = summary
        else:
            summary["description"] = models.get(name).description
            result["models"][name] = summary
    return result


@dataclass
class ScoreSummary:
    out: Path
    people: int
    index_date: dt.date
    model: str
    thresholds: dict[str, float]
    by_tier: dict[str, int] = field(default_factory=dict)
    by_segment: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "people": self.people,
            "index_date": self.index_date.isoformat(),
            "tier_model": self.model,
            "tier_thresholds": self.thresholds,
            "by_tier": self.by_tier,
            "by_segment": self.by_segment,
        }


def score(
    warehouse: Path,
    index_date: dt.date,
    models: FittedModels,
    out: Path,
    *,
    tier_model: str = PRIMARY_MODEL,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> ScoreSummary:
    """Score everyone registered on ``index_date`` with every model, in DuckDB, and write one Parquet
    row per person: ``person_id``, each model's risk, the risk tier (by ``tier_model``) and the Bridges
    to Health segment. Written to a temporary file and renamed, so a failed run leaves nothing."""
    models.get(tier_model)
    if any(term not in TERMS for model in models.models for term in model.coefficients):
        raise CaremodelsError("scoring with imported scores is not supported: score those in their own tool")
    with Warehouse(warehouse, read_only=True) as store:
        connection = store.connection
        if memory_limit:
            if not re.fullmatch(r"[0-9]+(\.[0-9]+)?\s*[KMGT]i?B", memory_limit, flags=re.IGNORECASE):
                raise CaremodelsError(f"not a memory size such as 6GB: {memory_limit}")
            connection.execute(f"SET memory_limit = '{memory_limit}'")
        if threads:
            connection.execute(f"SET threads = {int(threads)}")
        prepare_connection(connection)
        features = feature_sql(connection, index_date)
        risks = ", ".join(f"{probability_sql(m)} AS risk_{m.name}" for m in models.models)
        connection.execute(
            f"CREATE TEMPORARY TABLE risk_scores AS SELECT person_id, {risks}, {segment_sql()} AS segment "
            f"FROM ({features})"
        )
        try:
            return _write_scores(connection, out, index_date, tier_model)
        finally:
            connection.execute("DROP TABLE IF EXISTS risk_scores")


def _write_scores(
    connection: duckdb.DuckDBPyConnection, out: Path, index_date: dt.date, tier_model: str
) -> ScoreSummary:
    column = f"risk_{tier_model}"
    people = int(connection.execute("SELECT count(*) FROM risk_scores").fetchone()[0])  # type: ignore[index]
    if people == 0:
        raise CaremodelsError(f"nobody is registered on {index_date.isoformat()} in this warehouse")
    quantiles = [1.0 - share for _, share in TIERS]
    values = connection.execute(f"SELECT quantile_cont({column}, {quantiles!r}) FROM risk_scores").fetchone()[
        0
    ]  # type: ignore[index]
    thresholds = {name: float(value) for (name, _), value in zip(TIERS, values, strict=True)}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    connection.execute(
        f"COPY (SELECT *, {tier_sql(column, thresholds)} AS tier FROM risk_scores ORDER BY person_id) "
        f"TO '{_sql_path(partial)}' (FORMAT parquet, COMPRESSION zstd)"
    )
    partial.replace(out)
    by_tier = dict(
        connection.execute(
            f"SELECT {tier_sql(column, thresholds)} AS tier, count(*) FROM risk_scores GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    by_segment = dict(
        connection.execute("SELECT segment, count(*) FROM risk_scores GROUP BY 1 ORDER BY 1").fetchall()
    )
    return ScoreSummary(out, people, index_date, tier_model, thresholds, by_tier, by_segment)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
