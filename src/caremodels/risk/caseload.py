"""The monthly risk list per practice, for extensive care caseload finding: each practice's people of
highest risk on the first of the month, ranked, with the drivers of each person's risk.

Secondary use, pseudonymised: the list holds ``person_id`` (the warehouse's keyed pseudonym), never an
NHS number. It is re-identified only inside the care record, for the patient's own care team
(``caremodels.care_record.caseloads``), which holds the pseudonymisation key under its own governance.

Drivers: the terms of the model's linear predictor that add most to this person's log-odds, in the
model's own units (coefficient x the person's value of the term, against a term value of zero, the
reference: no admissions, no condition, aged 18-44), largest first, positive only. They explain the
ranking of the model as fitted; they are not causes.

Boundaries: reads the warehouse with DuckDB SQL through ``caremodels.risk.features``; the model's
terms through ``caremodels.risk.models``; writes one Parquet file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from caremodels.errors import CaremodelsError
from caremodels.risk.features import CONDITIONS, feature_sql, prepare_connection
from caremodels.risk.models import TERMS, FittedModels, probability_sql
from caremodels.warehouse.store import Warehouse

__all__ = ["DRIVER_LABELS", "risk_list", "write_risk_list"]

DRIVER_LABELS: dict[str, str] = {
    "age_0_17": "aged under 18",
    "age_45_64": "aged 45-64",
    "age_65_74": "aged 65-74",
    "age_75_84": "aged 75-84",
    "age_85_plus": "aged 85 or over",
    "female": "female",
    "imd_per_10": "deprivation of the practice",
    "care_home": "lives in a care home",
    "emergency_admissions_1y": "emergency admissions in the last year",
    "emergency_admission_30d": "an emergency admission in the last 30 days",
    "emergency_bed_days_1y_per_10": "emergency bed days in the last year",
    "elective_admissions_1y": "planned admissions in the last year",
    "ae_attendances_1y": "A&E attendances in the last year",
    "outpatient_attendances_1y_per_10": "outpatient attendances in the last year",
    "ambulance_incidents_1y": "ambulance call-outs in the last year",
    "hfrs_per_10": "hospital frailty (HFRS)",
    "efi_score": "electronic frailty index",
    **{f"ltc_{name}": name.replace("_", " ") for name in CONDITIONS},
    "parr30_linear_predictor": "PARR-30 score",
    "hfrs": "hospital frailty (HFRS)",
    "efi": "electronic frailty index",
    "condition_count": "number of long-term conditions",
}
MAX_DRIVERS = 3


def risk_list(
    warehouse: Path, index_date: dt.date, models: FittedModels, *, per_practice: int, model: str = "cpm"
) -> pd.DataFrame:
    """The ``per_practice`` people of highest risk at each practice on ``index_date``: ``practice_code``,
    ``rank`` (1 the highest), ``person_id``, ``risk`` and ``drivers`` (a JSON list of labels)."""
    if per_practice < 1:
        raise CaremodelsError("the list needs at least one person per practice")
    fitted = models.get(model)
    terms = [term for term in fitted.coefficients if term in TERMS]
    contributions = ", ".join(
        f"{fitted.coefficients[term]!r} * ({TERMS[term]}) AS contribution_{index}"
        for index, term in enumerate(terms)
    )
    with Warehouse(warehouse, read_only=True) as store:
        connection = store.connection
        prepare_connection(connection)
        features = feature_sql(connection, index_date)
        frame: pd.DataFrame = connection.execute(
            f"""
            SELECT * FROM (
                SELECT practice_code, person_id, {probability_sql(fitted)} AS risk, {contributions},
                       row_number() OVER (PARTITION BY practice_code ORDER BY {probability_sql(fitted)} DESC,
                                          person_id) AS rank
                FROM ({features})
            ) WHERE rank <= {int(per_practice)}
            ORDER BY practice_code, rank
            """
        ).df()
    if frame.empty:
        raise CaremodelsError(f"nobody is registered on {index_date.isoformat()} in this warehouse")
    labels = []
    for row in frame[[f"contribution_{index}" for index in range(len(terms))]].itertuples(index=False):
        ranked = sorted(
            ((value, term) for value, term in zip(row, terms, strict=True) if value > 0), reverse=True
        )[:MAX_DRIVERS]
        labels.append(json.dumps([DRIVER_LABELS.get(term, term) for _, term in ranked]))
    return pd.DataFrame(
        {
            "practice_code": frame["practice_code"].astype(str),
            "rank": frame["rank"].astype(int),
            "person_id": frame["person_id"].astype(str),
            "risk": frame["risk"].astype(float),
            "drivers": labels,
            "list_date": index_date,
            "model": model,
        }
    )


def write_risk_list(frame: pd.DataFrame, out: Path) -> Path:
    """Write the list as Parquet (written aside and renamed, so a failed run leaves nothing)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    frame.to_parquet(partial, index=False)
    partial.replace(out)
    return out
