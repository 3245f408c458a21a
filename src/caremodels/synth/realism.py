"""Measure a generated economy against its realism targets: national rates, growth, seasonality,
deprivation gradient, over-dispersion, care homes, conditions, frailty, 4-hour performance, and the
seed results (Fylde Coast, Wakefield care homes, Morecambe Bay).

Everything is computed from the files (with DuckDB), as an analyst would, not from the generator's
internals; ``truth.json`` is read only for the true effects. ``benchmarks/synth_realism.py`` prints
the result beside the targets, and the tests check a tiny economy against them.

Boundaries: reads an output folder of ``caremodels synth``; writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from caremodels.reference import practices, site_memberships
from caremodels.synth import rates

__all__ = ["EconomyFiles", "emergency_growth", "measure_realism", "seed_results"]

_EMERGENCY = "admission_method IN ('21','22','23','24','25','2A','2B','2C','2D','28')"


@dataclass
class EconomyFiles:
    """An output folder opened in DuckDB, one view per table."""

    folder: Path
    connection: duckdb.DuckDBPyConnection
    start: dt.date
    end: dt.date  # last day of the period
    truth: dict[str, Any]

    @classmethod
    def open(cls, folder: Path) -> EconomyFiles:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        connection = duckdb.connect()
        reader = "read_parquet" if manifest["format"] == "parquet" else "read_csv_auto"
        for table, name in manifest["files"].items():
            path = str(folder / name).replace("'", "''")
            connection.execute(f"CREATE VIEW {table} AS SELECT * FROM {reader}('{path}')")
        sites = [(site, code) for site, m in site_memberships().items() for code in m.practice_codes]
        connection.execute("CREATE TABLE site_practices (site VARCHAR, practice_code VARCHAR)")
        connection.executemany("INSERT INTO site_practices VALUES (?, ?)", sites)
        imd = [(p.practice_code, p.imd2019_score) for p in practices() if p.imd2019_score is not None]
        connection.execute("CREATE TABLE practice_imd (practice_code VARCHAR, imd DOUBLE)")
        connection.executemany("INSERT INTO practice_imd VALUES (?, ?)", imd)
        start = dt.date.fromisoformat(manifest["config"]["start"])
        last_month = dt.date.fromisoformat(manifest["config"]["end"])
        end = dt.date(last_month.year + last_month.month // 12, last_month.month % 12 + 1, 1) - dt.timedelta(
            days=1
        )
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
        return cls(folder, connection, start, end, truth)

    def rows(self, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, list(parameters)).fetchall()

    def value(self, sql: str, *parameters: object) -> Any:
        return self.rows(sql, *parameters)[0][0]

    def financial_years(self) -> list[int]:
        first = self.start.year if self.start.month >= 4 else self.start.year - 1
        last = self.end.year if self.end.month >= 4 else self.end.year - 1
        return list(range(first, last + 1))

    def person_years(self, year: int, where: str = "TRUE") -> float:
        """Registered person-years in a financial year (within the period)."""
        first = max(dt.date(year, 4, 1), self.start)
        last = min(dt.date(year + 1, 3, 31), self.end)
        return float(
            self.value(
                f"""SELECT coalesce(sum(greatest(0, date_diff('day',
                        greatest(registration_start, ?::DATE),
                        least(coalesce(registration_end, ?::DATE), ?::DATE)) + 1)), 0) / 365.25
                    FROM gp_registrations WHERE {where}""",
                first,
                last,
                last,
            )
        )


def _log_linear_growth(values: list[float]) -> float:
    """Annual growth from a log-linear fit (values for consecutive years)."""
    years = np.arange(len(values))
    slope = np.polyfit(years, np.log(np.asarray(values, dtype=float)), 1)[0]
    return float(np.exp(slope) - 1)


def emergency_growth(folder: Path, practice_codes: set[str] | None = None) -> float:
    """Annual growth in the number of emergency admissions over the period's full financial years
    (log-linear fit), for some practices (by default all)."""
    files = EconomyFiles.open(folder)
    years = [
        y
        for y in files.financial_years()
        if dt.date(y, 4, 1) >= files.start and dt.date(y + 1, 3, 31) <= files.end
    ]
    files.connection.execute("CREATE TEMP TABLE chosen (practice_code VARCHAR)")
    if practice_codes is not None:
        files.connection.executemany(
            "INSERT INTO chosen VALUES (?)", [(code,) for code in sorted(practice_codes)]
        )
    where = "gp_practice_code IN (SELECT practice_code FROM chosen)" if practice_codes is not None else "TRUE"
    counts = [
        files.value(
            f"SELECT count(*) FROM apc_spells WHERE {_EMERGENCY} AND {where} AND admission_date BETWEEN ? AND ?",
            dt.date(year, 4, 1),
            dt.date(year + 1, 3, 31),
        )
        for year in years
    ]
    return _log_linear_growth(counts)


def measure_realism(folder: Path) -> dict[str, Any]:
    """Every realism measure of the economy in ``folder``, with its target (see docs/synthetic-data.md)."""
    files = EconomyFiles.open(folder)
    years = files.financial_years()
    full_years = [y for y in years if dt.date(y, 4, 1) >= files.start and dt.date(y + 1, 3, 31) <= files.end]
    reference = 2015 if 2015 in full_years else full_years[len(full_years) // 2]
    result: dict[str, Any] = {"reference_year": reference}
    person_years = {y: files.person_years(y) for y in full_years}
    py = person_years[reference]

    def per_1000(sql: str, year: int = reference) -> float:
        return (
            1000 * float(files.value(sql, dt.date(year, 4, 1), dt.date(year + 1, 3, 31))) / person_years[year]
        )

    emergency_by_year = [
        files.value(
            f"SELECT count(*) FROM apc_spells WHERE {_EMERGENCY} AND admission_date BETWEEN ? AND ?",
            dt.date(y, 4, 1),
            dt.date(y + 1, 3, 31),
        )
        for y in full_years
    ]
    result["emergency_admissions_per_1000"] = per_1000(
        f"SELECT count(*) FROM apc_spells WHERE {_EMERGENCY} AND admission_date BETWEEN ? AND ?"
    )
    result["emergency_admissions_growth_count"] = _log_linear_growth(emergency_by_year)
    result["emergency_admissions_growth_per_head"] = _log_linear_growth(
        [count / person_years[y] for count, y in zip(emergency_by_year, full_years, strict=True)]
    )
    result["elective_admissions_per_1000"] = per_1000(
        "SELECT count(*) FROM apc_spells WHERE admission_method IN ('11','12','13') AND admission_date BETWEEN ? AND ?"
    )
    result["ae_attendances_per_1000"] = per_1000(
        "SELECT count(*) FROM ae_attendances WHERE arrival_time::DATE BETWEEN ? AND ?"
    )
    result["first_outpatient_attended_per_1000"] = per_1000(
        """SELECT count(*) FROM op_attendances WHERE first_attendance IN ('1','3') AND attended IN ('5','6')
           AND appointment_date BETWEEN ? AND ?"""
    )
    result["ambulance_incidents_per_1000"] = per_1000(
        "SELECT count(*) FROM ambulance_incidents WHERE call_time::DATE BETWEEN ? AND ?"
    )
    result["referrals_per_1000"] = per_1000(
        "SELECT count(*) FROM referrals WHERE referral_date BETWEEN ? AND ?"
    )
    deaths = per_1000(
        "SELECT count(*) FROM gp_registrations WHERE end_reason = 'death' AND registration_end BETWEEN ? AND ?"
    )
    result["deaths_per_1000"] = deaths
    in_hospital = per_1000(
        "SELECT count(*) FROM apc_spells WHERE discharge_method = '4' AND discharge_date BETWEEN ? AND ?"
    )
    result["deaths_in_hospital_share"] = in_hospital / deaths if deaths else float("nan")
    result["emergency_mean_stay_days"] = float(
        files.value(
            f"SELECT avg(date_diff('day', admission_date, discharge_date)) FROM apc_spells WHERE {_EMERGENCY}"
        )
    )
    result["emergency_same_day_share"] = float(
        files.value(f"SELECT avg((admission_date = discharge_date)::INT) FROM apc_spells WHERE {_EMERGENCY}")
    )
    # Winter peak: emergency admissions per day in January against July, over the whole period.
    by_month = dict(
        files.rows(
            f"""SELECT month(admission_date), count(*) / count(DISTINCT admission_date)
                FROM apc_spells WHERE {_EMERGENCY} AND admission_date BETWEEN ? AND ? GROUP BY 1""",
            files.start,
            files.end,
        )
    )
    result["emergency_january_to_july"] = float(by_month.get(1, np.nan) / by_month.get(7, np.nan))

    four_hour = dict(
        files.rows(
            """SELECT CASE WHEN month(arrival_time) >= 4 THEN year(arrival_time) ELSE year(arrival_time) - 1 END,
                      avg((date_diff('second', arrival_time, departure_time) <= 14400)::INT)
               FROM ae_attendances GROUP BY 1 ORDER BY 1"""
        )
    )
    result["ae_four_hour_by_year"] = {int(y): float(v) for y, v in four_hour.items() if y in full_years}
    types = dict(files.rows("SELECT department_type, count(*) FROM ae_attendances GROUP BY 1"))
    total_ae = sum(types.values())
    result["ae_type_shares"] = {k: v / total_ae for k, v in sorted(types.items())}
    result["ae_type1_admitted_share"] = float(
        files.value(
            "SELECT avg((disposal = 'admitted')::INT) FROM ae_attendances WHERE department_type = '1'"
        )
    )
    result["ambulance_conveyed_share"] = float(
        files.value("SELECT avg((conveyed = 'Y')::INT) FROM ambulance_incidents")
    )
    op = files.rows(
        """SELECT avg((first_attendance IN ('2','4'))::INT) / avg((first_attendance IN ('1','3'))::INT),
                  avg((attended = '3')::INT) FROM op_attendances"""
    )[0]
    result["outpatient_follow_ups_per_first"] = float(op[0])
    result["outpatient_did_not_attend_share"] = float(op[1])
    items, cost = files.rows(
        "SELECT sum(items), sum(actual_cost) FROM prescribing WHERE month BETWEEN ? AND ?",
        dt.date(reference, 4, 1),
        dt.date(reference + 1, 3, 31),
    )[0]
    result["prescription_items_per_person"] = float(items) / py
    result["prescribing_cost_per_item"] = float(cost) / float(items)

    census = dt.date(reference, 10, 1)
    registered = files.value(
        """SELECT count(*) FROM gp_registrations WHERE registration_start <= ?
           AND (registration_end IS NULL OR registration_end >= ?)""",
        census,
        census,
    )
    first_census, last_census = (
        dt.date(full_years[0], 10, 1),
        dt.date(full_years[-1], 10, 1),
    )
    counts = [
        files.value(
            "SELECT count(*) FROM gp_registrations WHERE registration_start <= ? AND (registration_end IS NULL OR registration_end >= ?)",
            day,
            day,
        )
        for day in (first_census, last_census)
    ]
    result["list_growth"] = (counts[1] / counts[0]) ** (1 / max(1, len(full_years) - 1)) - 1
    result.update(_care_homes(files, census, reference))
    prevalence = dict(
        files.rows(
            """SELECT c.condition, count(*) FROM conditions c JOIN gp_registrations r USING (nhs_number)
               WHERE c.diagnosis_date <= ? AND r.registration_start <= ?
                 AND (r.registration_end IS NULL OR r.registration_end >= ?) GROUP BY 1""",
            census,
            census,
            census,
        )
    )
    result["condition_prevalence"] = {name: prevalence.get(name, 0) / registered for name in rates.CONDITIONS}
    frailty_year = 2017 if 2017 in full_years else reference
    efi = dict(
        files.rows(
            "SELECT efi_category, count(*) FROM frailty_assessments WHERE assessment_date BETWEEN ? AND ? GROUP BY 1",
            dt.date(frailty_year, 4, 1),
            dt.date(frailty_year + 1, 3, 31),
        )
    )
    total_efi = sum(efi.values()) or 1
    result["efi_category_shares"] = {
        k: efi.get(k, 0) / total_efi for k in ("fit", "mild", "moderate", "severe")
    }
    result.update(_gradients(files, reference, census))
    return result


def _care_homes(files: EconomyFiles, census: dt.date, year: int) -> dict[str, Any]:
    first, last = dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    older = files.value(
        """SELECT count(*) FROM gp_registrations WHERE registration_start <= ? AND (registration_end IS NULL OR
           registration_end >= ?) AND date_diff('year', date_of_birth, ?::DATE) >= 65""",
        census,
        census,
        census,
    )
    residents, residents_older = files.rows(
        """SELECT count(*), sum((date_diff('year', r.date_of_birth, ?::DATE) >= 65)::INT)
           FROM care_home_residence c JOIN gp_registrations r USING (nhs_number)
           WHERE c.residence_start <= ? AND (c.residence_end IS NULL OR c.residence_end >= ?)""",
        census,
        census,
        census,
    )[0]
    during_year = files.value(
        """SELECT count(DISTINCT nhs_number) FROM care_home_residence
           WHERE residence_start <= ? AND (residence_end IS NULL OR residence_end >= ?)""",
        last,
        first,
    )
    resident_years = float(
        files.value(
            """SELECT sum(greatest(0, date_diff('day', greatest(residence_start, ?::DATE),
                   least(coalesce(residence_end, ?::DATE), ?::DATE)) + 1)) / 365.25 FROM care_home_residence""",
            first,
            last,
            last,
        )
        or 0.0
    )

    def resident_events(table: str, date_sql: str, where: str) -> float:
        count = files.value(
            f"""SELECT count(*) FROM {table} e JOIN care_home_residence c USING (nhs_number)
                WHERE {where} AND {date_sql} BETWEEN ? AND ? AND {date_sql} >= c.residence_start
                  AND (c.residence_end IS NULL OR {date_sql} <= c.residence_end)""",
            first,
            last,
        )
        return float(count) / resident_years if resident_years else float("nan")

    return {
        "care_home_residents_share_of_65_plus": float(residents_older or 0) / older
        if older
        else float("nan"),
        "care_home_residents_aged_65_plus_share": float(residents_older or 0) / residents
        if residents
        else float("nan"),
        "care_home_residents_in_year_to_point": during_year / residents if residents else float("nan"),
        "care_home_emergency_admissions_per_resident_year": resident_events(
            "apc_spells", "e.admission_date", _EMERGENCY.replace("admission_method", "e.admission_method")
        ),
        "care_home_ae_attendances_per_resident_year": resident_events(
            "ae_attendances", "e.arrival_time::DATE", "TRUE"
        ),
    }


def _gradients(files: EconomyFiles, year: int, census: dt.date) -> dict[str, Any]:
    """Deprivation gradient and over-dispersion of emergency admissions between practices (indirectly
    age-standardised), and how admissions rise with multimorbidity and frailty."""
    first, last = dt.date(year, 4, 1), dt.date(year + 1, 3, 31)
    files.connection.execute(
        f"""CREATE OR REPLACE TEMP TABLE emergency_year AS
            SELECT nhs_number, count(*) AS admissions FROM apc_spells
            WHERE {_EMERGENCY} AND admission_date BETWEEN ? AND ? GROUP BY 1""",
        [first, last],
    )
    files.connection.execute(
        """CREATE OR REPLACE TEMP TABLE census AS
           SELECT r.nhs_number, r.practice_code, least(90, date_diff('year', r.date_of_birth, ?::DATE)) AS age,
                  coalesce(e.admissions, 0) AS admissions
           FROM gp_registrations r LEFT JOIN emergency_year e USING (nhs_number)
           WHERE r.registration_start <= ? AND (r.registration_end IS NULL OR r.registration_end >= ?)""",
        [census, census, census],
    )
    by_practice = files.rows(
        """WITH national AS (SELECT age, avg(admissions) AS rate FROM census GROUP BY age)
           SELECT c.practice_code, i.imd, sum(c.admissions) AS observed, sum(n.rate) AS expected
           FROM census c JOIN national n USING (age) JOIN practice_imd i USING (practice_code)
           GROUP BY 1, 2 ORDER BY 1"""
    )
    imd = np.array([row[1] for row in by_practice])
    observed = np.array([row[2] for row in by_practice], dtype=float)
    expected = np.array([row[3] for row in by_practice], dtype=float)
    result: dict[str, Any] = {}
    if len(by_practice) >= 5:
        ratio = observed / expected
        slope = np.polyfit(imd, np.log(np.maximum(ratio, 1e-6)), 1, w=np.sqrt(expected))[0]
        quintile = np.quantile(imd, [0.2, 0.8])
        low, high = imd <= quintile[0], imd >= quintile[1]
        result["deprivation_log_slope_per_imd_point"] = float(slope)
        result["deprivation_most_to_least_quintile"] = float(
            (observed[high].sum() / expected[high].sum()) / (observed[low].sum() / expected[low].sum())
        )
        result["practice_dispersion_ratio"] = float(
            ((observed - expected) ** 2 / expected).sum() / (len(observed) - 1)
        )
    multimorbidity = files.rows(
        """WITH counts AS (SELECT nhs_number, count(*) AS n FROM conditions WHERE diagnosis_date <= ? GROUP BY 1)
           SELECT least(coalesce(k.n, 0), 3) AS conditions, avg(c.admissions)
           FROM census c LEFT JOIN counts k USING (nhs_number) WHERE c.age >= 65 GROUP BY 1 ORDER BY 1""",
        census,
    )
    result["emergency_rate_65_plus_by_conditions"] = {int(k): float(v) for k, v in multimorbidity}
    frailty = files.rows(
        """WITH assessed AS (SELECT nhs_number, arg_max(efi_category, assessment_date) AS category
                             FROM frailty_assessments WHERE assessment_date < ? GROUP BY 1)
           SELECT a.category, avg(c.admissions) FROM census c JOIN assessed a USING (nhs_number) GROUP BY 1""",
        first,
    )
    result["emergency_rate_by_prior_efi"] = {k: float(v) for k, v in frailty}
    return result


def seed_results(folder: Path) -> dict[str, Any]:
    """The three seed results, as an analyst would measure them from the files, beside the truth."""
    files = EconomyFiles.open(folder)
    truth = files.truth
    result: dict[str, Any] = {}

    def true_change(site: str, measure: str, cohort: str, year: str) -> float | None:
        for row in truth["realised_by_year"]:
            if (row["site"], row["measure"], row["cohort"], row["financial_year"]) == (
                site,
                measure,
                cohort,
                year,
            ):
                without = row["events_without_effect"]
                return row["events_with_effect"] / without - 1 if without else None
        return None

    # Wakefield care homes: events of residents of the site's practices, 2016/17 against 2015/16.
    site = "connecting-care-wakefield"
    naive = {}
    for measure, table, date_sql, where in (
        ("ambulance_incidents", "ambulance_incidents", "e.call_time::DATE", "TRUE"),
        ("ae_attendances", "ae_attendances", "e.arrival_time::DATE", "TRUE"),
        (
            "emergency_admissions",
            "apc_spells",
            "e.admission_date",
            _EMERGENCY.replace("admission_method", "e.admission_method"),
        ),
    ):
        counts = []
        for year in (2015, 2016):
            counts.append(
                files.value(
                    f"""SELECT count(*) FROM {table} e JOIN care_home_residence c USING (nhs_number)
                        JOIN site_practices s ON s.practice_code = c.practice_code AND s.site = ?
                        WHERE {where} AND {date_sql} BETWEEN ? AND ? AND {date_sql} >= c.residence_start
                          AND (c.residence_end IS NULL OR {date_sql} <= c.residence_end)""",
                    site,
                    dt.date(year, 4, 1),
                    dt.date(year + 1, 3, 31),
                )
            )
        naive[measure] = counts[1] / counts[0] - 1 if counts[0] else None
    bed_days = []
    for year in (2015, 2016):
        bed_days.append(
            files.value(
                f"""SELECT coalesce(sum(date_diff('day', e.admission_date, e.discharge_date)), 0)
                    FROM apc_spells e JOIN care_home_residence c USING (nhs_number)
                    JOIN site_practices s ON s.practice_code = c.practice_code AND s.site = ?
                    WHERE {_EMERGENCY.replace("admission_method", "e.admission_method")}
                      AND e.admission_date BETWEEN ? AND ? AND e.admission_date >= c.residence_start
                      AND (c.residence_end IS NULL OR e.admission_date <= c.residence_end)""",
                site,
                dt.date(year, 4, 1),
                dt.date(year + 1, 3, 31),
            )
        )
    naive["emergency_bed_days"] = bed_days[1] / bed_days[0] - 1 if bed_days[0] else None
    result["wakefield_care_homes_before_after_2015_16"] = naive
    result["wakefield_care_homes_true_effect_2016_17"] = {
        measure: true_change(site, measure, "care_home_residents", "2016/17") for measure in naive
    }
    result["fylde_coast_extensive_care_true_effect_2017_18"] = {
        measure: true_change("fylde-coast", measure, "extensive_care", "2017/18")
        for measure in ("emergency_admissions", "ae_attendances", "first_outpatient")
    }
    advice = {row["site"]: row for row in truth["advice_and_guidance"]}
    morecambe = advice.get("better-care-together-morecambe-bay")
    if morecambe:
        result["morecambe_bay_advice_referred_share"] = (
            morecambe["referred_after_advice"] / morecambe["requests_instead_of_referral"]
        )
        result["morecambe_bay_advice_requests"] = morecambe["requests_instead_of_referral"]
    return result
