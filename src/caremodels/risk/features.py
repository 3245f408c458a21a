"""Features for risk stratification, one row per person registered on an index date, computed in
DuckDB from the warehouse: hospital use in the year to the index date, hospital diagnoses of the two
years to it, long-term conditions and the eFI as recorded in primary care, age, sex, the practice's
deprivation and care-home residence; and, for fitting and validation, the outcome: emergency admissions
in the year after it.

Everything is SQL text over the warehouse tables, so that scoring a whole country is one DuckDB pass
(``caremodels.risk.score``) and fitting reads exactly the same columns.

Boundaries: reads only the warehouse (pseudonymised ``person_id``) and shipped reference data; never
sees an NHS number. Ages come from ``age_sql`` alone, so that when the warehouse keeps a birth month
instead of a date of birth only that function changes.
"""

from __future__ import annotations

import datetime as dt
import functools

import duckdb
import pandas as pd
import pyarrow as pa

from caremodels.errors import CaremodelsError
from caremodels.reference import emergency_admission_methods, practices
from caremodels.risk.definitions import hfrs_weights, parr30
from caremodels.warehouse.schema import SOURCE_TABLES

__all__ = [
    "CONDITIONS",
    "FEATURES",
    "age_sql",
    "feature_frame",
    "feature_sql",
    "prepare_connection",
]

CONDITIONS: tuple[str, ...] = SOURCE_TABLES["conditions"].column("condition").codes
PARR30_CONDITIONS: tuple[str, ...] = tuple(f"parr_{name}" for name in parr30().conditions)
FEATURES: tuple[str, ...] = (
    "age",
    "female",
    "imd_score",
    "care_home",
    "emergency_admissions_1y",
    "emergency_admission_30d",
    "index_admission_emergency",
    "emergency_bed_days_1y",
    "elective_admissions_1y",
    "ae_attendances_1y",
    "outpatient_attendances_1y",
    "ambulance_incidents_1y",
    "hfrs",
    "efi_score",
    "efi_recorded",
    "condition_count",
    *(f"ltc_{name}" for name in CONDITIONS),
    *PARR30_CONDITIONS,
)
_REQUIRED_TABLES = ("gp_registrations", "apc_spells")


def _date(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


def _quoted(values: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(values))


def age_sql(columns: set[str], index_date: dt.date) -> str:
    """Age in whole years on the index date, as SQL over ``gp_registrations``. The only place ages are
    read: from the warehouse's birth month (the 1st of the month of birth), or from a full date of
    birth or a birth year in a warehouse of another kind."""
    day = _date(index_date)
    if "date_of_birth" in columns:
        return f"date_diff('year', date_of_birth, {day}) - CASE WHEN strftime(date_of_birth, '%m%d') > '{index_date:%m%d}' THEN 1 ELSE 0 END"
    if "birth_month" in columns:
        # The warehouse's birth month (its 1st): the same completed-years rule as every engine
        # (caremodels.warehouse.schema.age_from_birth_month).
        return (
            f"year({day}) - year(birth_month) - CASE WHEN month({day}) < month(birth_month) THEN 1 ELSE 0 END"
        )
    if "birth_year" in columns:
        return f"floor(date_diff('day', make_date(birth_year::INTEGER, 7, 1), {day}) / 365.25)"
    raise CaremodelsError("gp_registrations has no date of birth or birth year: cannot compute ages")


@functools.cache
def mean_practice_imd() -> float:
    """England's mean practice IMD 2019 score: the score of a practice without one (or unknown)."""
    scores = [p.imd2019_score for p in practices() if p.imd2019_score is not None]
    return float(sum(scores) / len(scores))


def prepare_connection(connection: duckdb.DuckDBPyConnection) -> None:
    """Register the reference tables the feature SQL joins (practice deprivation, HFRS points)."""
    imd = [(p.practice_code, p.imd2019_score) for p in practices()]
    practice_imd = pa.table(
        {
            "practice_code": pa.array([code for code, _ in imd], pa.string()),
            "imd_score": pa.array([mean_practice_imd() if s is None else s for _, s in imd], pa.float64()),
        }
    )
    weights = hfrs_weights()
    points = pa.table(
        {
            "code": pa.array([w.icd10_3 for w in weights], pa.string()),
            "points": pa.array([w.points for w in weights], pa.float64()),
        }
    )
    # Temporary tables (in memory, so a read-only warehouse will do): DuckDB joins its own tables
    # faster than Python objects it has to scan through the replacement-scan bridge.
    for name, table in (("risk_practice_imd", practice_imd), ("risk_hfrs_points", points)):
        connection.register(f"{name}_arrow", table)
        connection.execute(f"CREATE OR REPLACE TEMPORARY TABLE {name} AS SELECT * FROM {name}_arrow")
        connection.unregister(f"{name}_arrow")


def _columns(connection: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
    ).fetchall()
    return {row[0] for row in rows}


def feature_sql(connection: duckdb.DuckDBPyConnection, index_date: dt.date, *, outcome: bool = False) -> str:
    """SQL of the features of everyone registered on ``index_date`` (and, with ``outcome``, their
    emergency admissions in the year after it). ``prepare_connection`` must have run."""
    for table in _REQUIRED_TABLES:
        if not _columns(connection, table):
            raise CaremodelsError(f"the warehouse has no {table} table: load it with caremodels ingest")
    day = _date(index_date)
    year_ago = f"({day} - INTERVAL 1 YEAR)"
    two_years_ago = f"({day} - INTERVAL 2 YEAR)"
    month_ago = f"({day} - INTERVAL 30 DAY)"
    emergency = f"admission_method IN ({_quoted(emergency_admission_methods())})"
    age = age_sql(_columns(connection, "gp_registrations"), index_date)
    definition = parr30()
    parr_flags = ",\n".join(
        f"      max(CASE WHEN {' OR '.join(f'starts_with(primary_diagnosis, {_quoted([code])})' for code in condition.icd10)}"
        f" THEN 1 ELSE 0 END) AS parr_{name}"
        for name, condition in definition.conditions.items()
    )
    ltc_flags = ",\n".join(
        f"      max(CASE WHEN condition = {_quoted([name])} THEN 1 ELSE 0 END) AS ltc_{name}"
        for name in CONDITIONS
    )
    optional = {
        table: bool(_columns(connection, table))
        for table in (
            "ae_attendances",
            "op_attendances",
            "ambulance_incidents",
            "conditions",
            "frailty_assessments",
            "care_home_residence",
        )
    }

    def counted(table: str, name: str, sql: str) -> str:
        # A table the warehouse lacks counts as no activity; the report lists the sources used.
        if optional[table]:
            return sql
        return f"SELECT NULL::VARCHAR AS person_id, 0 AS {name} WHERE false"

    ltc_empty = ", ".join(f"0 AS ltc_{name}" for name in CONDITIONS)
    outcome_cte = (
        f""",
outcome AS (
    SELECT person_id, count(*) AS emergency_admissions_next_year
    FROM apc_spells
    WHERE {emergency} AND admission_date > {day} AND admission_date <= ({day} + INTERVAL 1 YEAR)
    GROUP BY person_id
)"""
        if outcome
        else ""
    )
    outcome_columns = (
        ",\n    coalesce(outcome.emergency_admissions_next_year, 0) AS emergency_admissions_next_year"
        if outcome
        else ""
    )
    outcome_join = "LEFT JOIN outcome USING (person_id)" if outcome else ""
    parr_select = ",\n    ".join(
        f"coalesce(apc.parr_{name}, 0) AS parr_{name}" for name in definition.conditions
    )
    ltc_select = ",\n    ".join(f"coalesce(cond.ltc_{name}, 0) AS ltc_{name}" for name in CONDITIONS)
    return f"""
WITH base AS (
    -- One row per person: the latest registration covering the day (ties by practice code). An
    -- aggregate, not a window, because it is faster.
    SELECT person_id,
           arg_max(practice_code, latest) AS practice_code,
           arg_max(sex, latest) AS sex,
           arg_max({age}, latest) AS age
    FROM (SELECT *, strftime(registration_start, '%Y%m%d') || practice_code AS latest FROM gp_registrations)
    WHERE registration_start <= {day} AND (registration_end IS NULL OR registration_end > {day})
    GROUP BY person_id
),
spells AS (
    SELECT person_id, admission_date, discharge_date, primary_diagnosis, {emergency} AS emergency,
           admission_date > {year_ago} AS last_year
    FROM apc_spells
    WHERE admission_date > {two_years_ago} AND admission_date <= {day}
),
apc AS (
    SELECT person_id,
      count(*) FILTER (WHERE emergency AND last_year) AS emergency_admissions_1y,
      max(CASE WHEN emergency AND admission_date > {month_ago} THEN 1 ELSE 0 END) AS emergency_admission_30d,
      coalesce(sum(date_diff('day', admission_date, least(discharge_date, {day})))
          FILTER (WHERE emergency AND last_year), 0) AS emergency_bed_days_1y,
      count(*) FILTER (WHERE NOT emergency AND last_year) AS elective_admissions_1y,
      coalesce(arg_max(CASE WHEN emergency THEN 1 ELSE 0 END, admission_date) FILTER (WHERE last_year), 0)
          AS index_admission_emergency,
{parr_flags}
    FROM spells
    GROUP BY person_id
),
hfrs AS (
    SELECT person_id, sum(points) AS hfrs
    FROM (SELECT DISTINCT person_id, left(primary_diagnosis, 3) AS code FROM spells)
    JOIN risk_hfrs_points USING (code)
    GROUP BY person_id
),
ae AS ({
        counted(
            "ae_attendances",
            "ae_attendances_1y",
            f"SELECT person_id, count(*) AS ae_attendances_1y FROM ae_attendances WHERE arrival_time > {year_ago} AND arrival_time < {day} + INTERVAL 1 DAY GROUP BY person_id",
        )
    }),
op AS ({
        counted(
            "op_attendances",
            "outpatient_attendances_1y",
            f"SELECT person_id, count(*) AS outpatient_attendances_1y FROM op_attendances WHERE attended IN ('5', '6') AND appointment_date > {year_ago} AND appointment_date <= {day} GROUP BY person_id",
        )
    }),
amb AS ({
        counted(
            "ambulance_incidents",
            "ambulance_incidents_1y",
            f"SELECT person_id, count(*) AS ambulance_incidents_1y FROM ambulance_incidents WHERE call_time > {year_ago} AND call_time < {day} + INTERVAL 1 DAY GROUP BY person_id",
        )
    }),
cond AS ({
        f'''SELECT person_id, count(DISTINCT condition) AS condition_count,
{ltc_flags}
    FROM conditions WHERE diagnosis_date <= {day} GROUP BY person_id'''
        if optional["conditions"]
        else f"SELECT NULL::VARCHAR AS person_id, 0 AS condition_count, {ltc_empty} WHERE false"
    }),
efi AS ({
        counted(
            "frailty_assessments",
            "efi_score",
            f"SELECT person_id, arg_max(efi_score, assessment_date) AS efi_score FROM frailty_assessments WHERE assessment_date <= {day} AND assessment_date > {two_years_ago} GROUP BY person_id",
        )
    }),
home AS ({
        counted(
            "care_home_residence",
            "care_home",
            f"SELECT DISTINCT person_id, 1 AS care_home FROM care_home_residence WHERE residence_start <= {day} AND (residence_end IS NULL OR residence_end >= {day})",
        )
    }){outcome_cte}
SELECT
    base.person_id,
    base.practice_code,
    greatest(base.age, 0)::DOUBLE AS age,
    CASE WHEN base.sex = '2' THEN 1 ELSE 0 END AS female,
    coalesce(imd.imd_score, {mean_practice_imd()!r}) AS imd_score,
    coalesce(home.care_home, 0) AS care_home,
    coalesce(apc.emergency_admissions_1y, 0) AS emergency_admissions_1y,
    coalesce(apc.emergency_admission_30d, 0) AS emergency_admission_30d,
    coalesce(apc.index_admission_emergency, 0) AS index_admission_emergency,
    coalesce(apc.emergency_bed_days_1y, 0) AS emergency_bed_days_1y,
    coalesce(apc.elective_admissions_1y, 0) AS elective_admissions_1y,
    coalesce(ae.ae_attendances_1y, 0) AS ae_attendances_1y,
    coalesce(op.outpatient_attendances_1y, 0) AS outpatient_attendances_1y,
    coalesce(amb.ambulance_incidents_1y, 0) AS ambulance_incidents_1y,
    coalesce(hfrs.hfrs, 0) AS hfrs,
    coalesce(efi.efi_score, 0) AS efi_score,
    CASE WHEN efi.efi_score IS NULL THEN 0 ELSE 1 END AS efi_recorded,
    coalesce(cond.condition_count, 0) AS condition_count,
    {ltc_select},
    {parr_select}{outcome_columns}
FROM base
LEFT JOIN risk_practice_imd AS imd USING (practice_code)
LEFT JOIN apc USING (person_id)
LEFT JOIN hfrs USING (person_id)
LEFT JOIN ae USING (person_id)
LEFT JOIN op USING (person_id)
LEFT JOIN amb USING (person_id)
LEFT JOIN cond USING (person_id)
LEFT JOIN efi USING (person_id)
LEFT JOIN home USING (person_id)
{outcome_join}
"""


def feature_frame(
    connection: duckdb.DuckDBPyConnection, index_date: dt.date, *, outcome: bool = False
) -> pd.DataFrame:
    """The features (and outcome) as a DataFrame, sorted by person_id so that runs are reproducible."""
    prepare_connection(connection)
    sql = feature_sql(connection, index_date, outcome=outcome)
    frame = connection.execute(f"SELECT * FROM ({sql}) ORDER BY person_id").df()
    if frame.empty:
        raise CaremodelsError(f"nobody is registered on {index_date.isoformat()} in this warehouse")
    return frame
