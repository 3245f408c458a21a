"""The canonical schema: one definition of each table, used by the generator, the loaders and their
validation, the warehouse and the data dictionary (``docs/data-dictionary.md`` is generated from here).

Source files (HES-like extracts) carry ``nhs_number``; the warehouse never does. At the boundary the
NHS number becomes ``person_id``, a keyed pseudonym (see ``caremodels.ingest.pseudonymise``), and the
date of birth becomes ``birth_month``, the first day of the month of birth (``COARSENED_COLUMNS``),
so the warehouse holds no full date of birth. Age at a date from the month of birth follows one
rule everywhere: the person is taken as born on the 1st of the month (``age_from_birth_month``). Codes
follow HES and the NHS Data Dictionary where one exists; each column says which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

__all__ = [
    "AGGREGATE_TABLES",
    "AREA_TABLES",
    "COARSENED_COLUMNS",
    "LOADABLE_TABLES",
    "SOURCE_TABLES",
    "Column",
    "TableSpec",
    "age_from_birth_month",
    "source_arrow_schema",
    "warehouse_columns",
    "warehouse_expression",
]

ColumnType = Literal["string", "date", "timestamp", "integer", "float"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    nullable: bool = False
    hes_field: str = ""
    # Allowed values: a fixed tuple of codes, or the name of a reference code list.
    codes: tuple[str, ...] = ()
    code_list: str = ""
    # A regular expression the value must match, and the reason given when it does not.
    pattern: str = ""
    pattern_reason: str = ""
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Pairs (earlier, later) of date or timestamp columns that must be in order.
    ordered_dates: tuple[tuple[str, str], ...] = ()

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def has_person(self) -> bool:
        return any(column.name == "nhs_number" for column in self.columns)


_ARROW_TYPES = {
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("s"),
    "integer": pa.int64(),
    "float": pa.float64(),
}
_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "integer": "BIGINT",
    "float": "DOUBLE",
}

_PRACTICE_PATTERN = r"[A-Z][0-9]{5}"
_PROVIDER_PATTERN = r"[A-Z0-9]{3}([A-Z0-9]{2})?"
_ICD10_PATTERN = r"[A-Z][0-9]{2}[0-9X]?"

NHS_NUMBER = Column(
    "nhs_number",
    "string",
    "NHS number: ten digits with a modulus-11 check digit. Source files only; never in the warehouse.",
    hes_field="NEWNHSNO",
)
SEX = Column(
    "sex",
    "string",
    "Person stated gender: 1 male, 2 female, 9 not specified.",
    hes_field="SEX",
    codes=("1", "2", "9"),
)
AGE = Column(
    "age",
    "integer",
    "Age in whole years at the event.",
    hes_field="STARTAGE / ACTIVAGE",
    minimum=0,
    maximum=120,
)


def _practice(
    name: str = "gp_practice_code", description: str = "Registered GP practice at the event."
) -> Column:
    return Column(
        name,
        "string",
        description,
        hes_field="GPPRAC",
        pattern=_PRACTICE_PATTERN,
        pattern_reason="not a GP practice ODS code (a letter and five digits)",
    )


def _provider(
    name: str = "provider_code",
    description: str = "ODS code of the NHS trust (or site) providing the care.",
    *,
    nullable: bool = True,
) -> Column:
    return Column(
        name,
        "string",
        description,
        nullable=nullable,
        hes_field="PROCODE3",
        pattern=_PROVIDER_PATTERN,
        pattern_reason="not an NHS trust or site ODS code",
    )


def _identifier(name: str, description: str) -> Column:
    return Column(
        name,
        "string",
        description,
        pattern=r"[A-Za-z0-9_-]{1,40}",
        pattern_reason="not an identifier (1-40 letters, digits, - or _)",
    )


SOURCE_TABLES: dict[str, TableSpec] = {
    table.name: table
    for table in (
        TableSpec(
            "gp_registrations",
            "Registrations of people with GP practices: one row per registration.",
            (
                NHS_NUMBER,
                _practice("practice_code", "GP practice ODS code (a letter and five digits)."),
                SEX,
                Column("date_of_birth", "date", "Date of birth."),
                Column("registration_start", "date", "First day of the registration."),
                Column(
                    "registration_end",
                    "date",
                    "Last day of the registration; empty if current.",
                    nullable=True,
                ),
                Column(
                    "end_reason",
                    "string",
                    "Why the registration ended: death or left.",
                    nullable=True,
                    codes=("death", "left"),
                ),
            ),
            key=("nhs_number", "practice_code", "registration_start"),
            ordered_dates=(
                ("date_of_birth", "registration_start"),
                ("registration_start", "registration_end"),
            ),
        ),
        TableSpec(
            "apc_spells",
            "Admitted patient care: one row per hospital provider spell, as in HES APC.",
            (
                _identifier("spell_id", "Identifier of the spell, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider(),
                Column("admission_date", "date", "Date of admission.", hes_field="ADMIDATE"),
                Column("discharge_date", "date", "Date of discharge.", hes_field="DISDATE"),
                Column(
                    "admission_method",
                    "string",
                    "How the patient was admitted: 11-13 elective, 21-25, 2A-2D and 28 emergency, "
                    "31-32 maternity, 81-89 other.",
                    hes_field="ADMIMETH",
                    code_list="admission_methods",
                ),
                Column(
                    "admission_source",
                    "string",
                    "Where the patient was admitted from: 19 usual place of residence, 29 temporary place of "
                    "residence, 51-53 another hospital, 54 NHS-run care home, 65 local authority residential "
                    "accommodation, 85 non-NHS care home, 87 non-NHS hospital, 98/99 not applicable/known.",
                    nullable=True,
                    hes_field="ADMISORC",
                    codes=(
                        "19",
                        "29",
                        "51",
                        "52",
                        "53",
                        "54",
                        "65",
                        "66",
                        "79",
                        "85",
                        "86",
                        "87",
                        "88",
                        "98",
                        "99",
                    ),
                ),
                Column(
                    "discharge_method",
                    "string",
                    "How the spell ended: 1 clinical advice, 2 self, 3 court, 4 died, 5 stillbirth, "
                    "8 not applicable, 9 not known.",
                    nullable=True,
                    hes_field="DISMETH",
                    codes=("1", "2", "3", "4", "5", "8", "9"),
                ),
                Column(
                    "primary_diagnosis",
                    "string",
                    "ICD-10 primary diagnosis, 4 characters, no dot.",
                    hes_field="DIAG_4_01",
                    pattern=_ICD10_PATTERN,
                    pattern_reason="not an ICD-10 code (e.g. J441)",
                ),
                AGE,
                SEX,
            ),
            key=("spell_id",),
            ordered_dates=(("admission_date", "discharge_date"),),
        ),
        TableSpec(
            "ae_attendances",
            "A&E attendances: one row per attendance, as in HES A&E / the Emergency Care Data Set.",
            (
                _identifier("attendance_id", "Identifier of the attendance, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider(nullable=False),
                Column(
                    "arrival_time",
                    "timestamp",
                    "Date and time of arrival.",
                    hes_field="ARRIVALDATE + ARRIVALTIME",
                ),
                Column(
                    "departure_time",
                    "timestamp",
                    "Date and time the patient was admitted, transferred or discharged (the end of the "
                    "4-hour clock).",
                    hes_field="DEPDATE + DEPTIME",
                ),
                Column(
                    "department_type",
                    "string",
                    "A&E department type: 1 major consultant-led 24-hour, 2 single specialty, 3 other "
                    "(urgent treatment centre, minor injury unit), 4 walk-in centre.",
                    hes_field="AEDEPTTYPE",
                    codes=("1", "2", "3", "4"),
                ),
                Column(
                    "arrival_mode",
                    "string",
                    "1 brought in by ambulance (including helicopter), 2 other.",
                    hes_field="AEARRIVALMODE",
                    codes=("1", "2"),
                ),
                Column(
                    "disposal",
                    "string",
                    "What happened at the end of the attendance.",
                    hes_field="AEATTENDDISP",
                    codes=("admitted", "discharged", "referred", "transferred", "left", "died"),
                ),
                AGE,
                SEX,
            ),
            key=("attendance_id",),
            ordered_dates=(("arrival_time", "departure_time"),),
        ),
        TableSpec(
            "op_attendances",
            "Outpatient appointments: one row per appointment, as in HES Outpatients.",
            (
                _identifier("appointment_id", "Identifier of the appointment, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider(nullable=False),
                Column("appointment_date", "date", "Date of the appointment.", hes_field="APPTDATE"),
                Column(
                    "first_attendance",
                    "string",
                    "1 first attendance, 2 follow-up, 3 first by telephone or video, 4 follow-up by telephone or video.",
                    hes_field="FIRSTATT",
                    codes=("1", "2", "3", "4"),
                ),
                Column(
                    "attended",
                    "string",
                    "5 seen on time, 6 arrived late and seen, 7 arrived late and not seen, 2 cancelled by the "
                    "patient, 3 did not attend, 4 cancelled by the provider.",
                    hes_field="ATTENDED",
                    codes=("2", "3", "4", "5", "6", "7"),
                ),
                Column(
                    "treatment_specialty",
                    "string",
                    "Treatment function code (e.g. 100 general surgery, 300 general medicine, 130 ophthalmology).",
                    hes_field="TRETSPEF",
                    pattern=r"[0-9]{3}",
                    pattern_reason="not a treatment function code (three digits)",
                ),
                AGE,
                SEX,
            ),
            key=("appointment_id",),
        ),
        TableSpec(
            "ambulance_incidents",
            "Ambulance incidents responded to: one row per incident and patient.",
            (
                _identifier("incident_id", "Identifier of the incident, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider("ambulance_trust_code", "ODS code of the ambulance trust.", nullable=False),
                Column("call_time", "timestamp", "Date and time of the call."),
                Column(
                    "category",
                    "string",
                    "Ambulance Response Programme category: 1 life-threatening, 2 emergency, 3 urgent, 4 less urgent.",
                    codes=("1", "2", "3", "4"),
                ),
                Column(
                    "conveyed",
                    "string",
                    "Y conveyed to hospital, N treated at scene or by telephone.",
                    codes=("Y", "N"),
                ),
                _provider("destination_provider_code", "Provider the patient was conveyed to, if conveyed."),
                AGE,
                SEX,
            ),
            key=("incident_id",),
        ),
        TableSpec(
            "care_home_residence",
            "Periods of residence in a care home: one row per person and stay.",
            (
                NHS_NUMBER,
                Column(
                    "care_home_id",
                    "string",
                    "CQC location identifier of the care home (e.g. 1-123456789).",
                    pattern=r"1-[0-9]{6,11}",
                    pattern_reason="not a CQC location identifier (1- and digits)",
                ),
                Column(
                    "care_home_type",
                    "string",
                    "residential (personal care) or nursing (with nursing care).",
                    codes=("residential", "nursing"),
                ),
                _practice("practice_code", "GP practice aligned with the care home."),
                Column("residence_start", "date", "First day in the home."),
                Column(
                    "residence_end", "date", "Last day in the home; empty if still resident.", nullable=True
                ),
            ),
            key=("nhs_number", "care_home_id", "residence_start"),
            ordered_dates=(("residence_start", "residence_end"),),
        ),
        TableSpec(
            "service_enrolments",
            "Enrolments in a targeted service such as extensive care: one row per person and enrolment.",
            (
                NHS_NUMBER,
                Column(
                    "service",
                    "string",
                    "The service: extensive_care (a practice's highest-risk patients, as at Fylde Coast).",
                    codes=("extensive_care",),
                ),
                _practice("practice_code", "GP practice whose patient was enrolled."),
                Column(
                    "enrolment_date", "date", "Day the person was enrolled (the index date of an evaluation)."
                ),
                Column(
                    "enrolment_end",
                    "date",
                    "Last day enrolled (death or leaving the practice); empty if still enrolled.",
                    nullable=True,
                ),
            ),
            key=("nhs_number", "service", "enrolment_date"),
            ordered_dates=(("enrolment_date", "enrolment_end"),),
        ),
        TableSpec(
            "conditions",
            "Long-term conditions recorded in primary care (QOF-register style): one row per person and condition.",
            (
                NHS_NUMBER,
                Column(
                    "condition",
                    "string",
                    "The long-term condition.",
                    codes=(
                        "hypertension",
                        "diabetes",
                        "copd",
                        "asthma",
                        "chd",
                        "heart_failure",
                        "atrial_fibrillation",
                        "stroke",
                        "ckd",
                        "dementia",
                        "cancer",
                        "depression",
                        "serious_mental_illness",
                    ),
                ),
                Column("diagnosis_date", "date", "Date first recorded."),
            ),
            key=("nhs_number", "condition"),
        ),
        TableSpec(
            "frailty_assessments",
            "Electronic frailty index (eFI) results: one row per person and assessment.",
            (
                NHS_NUMBER,
                Column("assessment_date", "date", "Date of the assessment."),
                Column("efi_score", "float", "eFI score: deficits present / 36.", minimum=0, maximum=1),
                Column(
                    "efi_category",
                    "string",
                    "fit (0-0.12), mild (0.12-0.24), moderate (0.24-0.36), severe (over 0.36).",
                    codes=("fit", "mild", "moderate", "severe"),
                ),
            ),
            key=("nhs_number", "assessment_date"),
        ),
        TableSpec(
            "prescribing",
            "Prescribing by practice and month, as in the NHSBSA English Prescribing Dataset (no patients).",
            (
                _practice("practice_code", "GP practice ODS code."),
                Column("month", "date", "First day of the month."),
                Column(
                    "bnf_chapter",
                    "string",
                    "British National Formulary chapter (01-15, 18-23).",
                    pattern=r"[0-9]{2}",
                    pattern_reason="not a BNF chapter (two digits)",
                ),
                Column("items", "integer", "Prescription items dispensed.", minimum=0),
                Column("actual_cost", "float", "Actual cost in pounds.", minimum=0),
            ),
            key=("practice_code", "month", "bnf_chapter"),
        ),
        TableSpec(
            "referrals",
            "GP referrals to a consultant-led service: one row per referral.",
            (
                _identifier("referral_id", "Identifier of the referral, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider(),
                Column("referral_date", "date", "Date of the referral."),
                Column(
                    "treatment_specialty",
                    "string",
                    "Treatment function code of the service referred to.",
                    pattern=r"[0-9]{3}",
                    pattern_reason="not a treatment function code (three digits)",
                ),
                Column(
                    "priority",
                    "string",
                    "routine, urgent, or two_week_wait (suspected cancer).",
                    codes=("routine", "urgent", "two_week_wait"),
                ),
                Column(
                    "advice_request_id",
                    "string",
                    "The advice and guidance request that preceded the referral, if any.",
                    nullable=True,
                    pattern=r"[A-Za-z0-9_-]{1,40}",
                    pattern_reason="not an identifier (1-40 letters, digits, - or _)",
                ),
            ),
            key=("referral_id",),
        ),
        TableSpec(
            "advice_and_guidance",
            "Advice and guidance requests from GPs to specialists: one row per request, with its outcome.",
            (
                _identifier("request_id", "Identifier of the request, unique within the extract."),
                NHS_NUMBER,
                _practice(),
                _provider(),
                Column("request_date", "date", "Date the GP asked."),
                Column("response_date", "date", "Date the specialist answered.", nullable=True),
                Column(
                    "treatment_specialty",
                    "string",
                    "Treatment function code of the specialty asked.",
                    pattern=r"[0-9]{3}",
                    pattern_reason="not a treatment function code (three digits)",
                ),
                Column(
                    "outcome",
                    "string",
                    "referral_avoided (managed in primary care) or referred, as the request's own outcome "
                    "records it (e-RS: converted or referral advised count as referred). A count of these "
                    "overstates what advice avoided; the diversion measure asks the referrals table instead.",
                    codes=("referral_avoided", "referred"),
                ),
                Column(
                    "intended_referral",
                    "string",
                    "The GP's answer, when the request was made, to 'would you otherwise have referred?': "
                    "Y or N; empty when it was not asked.",
                    nullable=True,
                    codes=("Y", "N"),
                ),
                Column(
                    "authorised_to_convert",
                    "string",
                    "Y if the GP authorised the provider to convert the request to a referral, N if not; "
                    "empty when not recorded.",
                    nullable=True,
                    codes=("Y", "N"),
                ),
                Column(
                    "response_outcome",
                    "string",
                    "How the provider closed the request (NHS e-RS): advice_given, converted (to a "
                    "referral), referral_advised, or withdrawn (by the GP); empty when not recorded.",
                    nullable=True,
                    codes=("advice_given", "converted", "referral_advised", "withdrawn"),
                ),
            ),
            key=("request_id",),
            ordered_dates=(("request_date", "response_date"),),
        ),
    )
}


# Area-level estimates loaded beside the patient-level tables (no people): ``caremodels synth`` writes
# ``unregistered_population.csv``; the programme and budget views read the estimate from here.
AREA_TABLES: dict[str, TableSpec] = {
    table.name: table
    for table in (
        TableSpec(
            "unregistered_population",
            "Registered population and the estimated unregistered population (people living in the area "
            "but registered with no GP practice) by area and financial year: one row per area and year.",
            (
                Column(
                    "area_type",
                    "string",
                    "ccg, site (a vanguard site id, or the rest of England) or england (the whole economy).",
                    codes=("ccg", "site", "england"),
                ),
                Column(
                    "area_code",
                    "string",
                    "The area's code: CCG ODS code, site id, or 'economy'.",
                    pattern=r"[A-Za-z0-9_-]{1,40}",
                    pattern_reason="not an area code (1-40 letters, digits, - or _)",
                ),
                Column(
                    "financial_year",
                    "string",
                    "Financial year, April to March (e.g. 2015/16).",
                    pattern=r"[0-9]{4}/[0-9]{2}",
                    pattern_reason="not a financial year (YYYY/YY)",
                ),
                Column(
                    "registered_population",
                    "integer",
                    "People registered with the area's GP practices (mid-year).",
                    minimum=0,
                ),
                Column(
                    "unregistered_estimate",
                    "integer",
                    "Estimated people living in the area and registered with no practice.",
                    minimum=0,
                ),
            ),
            key=("area_type", "area_code", "financial_year"),
        ),
    )
}
LOADABLE_TABLES: dict[str, TableSpec] = {**SOURCE_TABLES, **AREA_TABLES}
"""Every table ingest loads: the patient-level source tables and the area-level estimates."""


# Published aggregate statistics (no patients): loaded by caremodels.ingest.aggregates into their own
# tables, never mixed with the pseudonymised event tables above.
AGGREGATE_TABLES: dict[str, TableSpec] = {
    "published_ae_monthly": TableSpec(
        "published_ae_monthly",
        "NHS England's monthly A&E attendances and emergency admissions statistics: one row per "
        "provider, month and A&E department type.",
        (
            Column("period", "date", "First day of the month."),
            Column(
                "org_code",
                "string",
                "ODS code of the provider (an NHS trust, or an independent or GP-led provider).",
                pattern=r"[A-Z0-9]{3,6}",
                pattern_reason="not an ODS organisation code (3 to 6 capital letters or digits)",
            ),
            Column(
                "department_type",
                "string",
                "A&E department type: 1 major (consultant-led, 24 hours), 2 single specialty, other "
                "(types 3 and 4: urgent treatment centres, minor injury units, walk-in centres).",
                codes=("1", "2", "other"),
            ),
            Column("attendances", "integer", "A&E attendances.", minimum=0),
            Column("breaches", "integer", "Attendances over 4 hours from arrival to leaving.", minimum=0),
            Column("admissions", "integer", "Emergency admissions via A&E.", minimum=0),
        ),
        key=("period", "org_code", "department_type"),
    ),
}


def source_arrow_schema(table: str) -> pa.Schema:
    """Arrow schema of a source (HES-like) file, as the generator writes it."""
    spec = SOURCE_TABLES[table]
    return pa.schema(
        [
            pa.field(column.name, _ARROW_TYPES[column.type], nullable=column.nullable)
            for column in spec.columns
        ]
    )


# Source columns the warehouse holds only in a coarser form: source name -> (warehouse name, SQL of
# the warehouse value from the source column, ``{}`` standing for it).
COARSENED_COLUMNS: dict[str, tuple[str, str]] = {
    "date_of_birth": ("birth_month", "CAST(date_trunc('month', {}) AS DATE)"),
}
_COARSENED_BY_WAREHOUSE_NAME = {name: (source, sql) for source, (name, sql) in COARSENED_COLUMNS.items()}
# A registration that starts on the date of birth (a newborn) would give the date of birth away:
# it starts instead on the 1st of the birth month (born on or before the 15th) or the 1st of the
# next month (born after), which every engine counts alike, since a registration counts in a month
# when it covers the 15th; never after the registration's end.
_NEWBORN_REGISTRATION_START = (
    'CASE WHEN {p}"registration_start" = {p}"date_of_birth" THEN least('
    'CAST(CASE WHEN day({p}"date_of_birth") <= 15'
    " THEN date_trunc('month', {p}\"date_of_birth\")"
    " ELSE date_trunc('month', {p}\"date_of_birth\") + INTERVAL 1 MONTH END AS DATE),"
    " coalesce({p}\"registration_end\", DATE '9999-12-31'))"
    ' ELSE {p}"registration_start" END'
)


def warehouse_expression(name: str, prefix: str = "", *, table: str = "") -> str:
    """SQL giving warehouse column ``name`` of ``table`` from a source row (``prefix`` qualifies the
    source columns, e.g. ``c.``): the column itself, or its coarsened form (``birth_month`` from
    ``date_of_birth``; a newborn's ``registration_start``). ``person_id`` and ``batch_id`` are the
    loader's to supply."""
    if name in _COARSENED_BY_WAREHOUSE_NAME:
        source, sql = _COARSENED_BY_WAREHOUSE_NAME[name]
        return sql.format(f'{prefix}"{source}"')
    if table == "gp_registrations" and name == "registration_start":
        return _NEWBORN_REGISTRATION_START.format(p=prefix)
    return f'{prefix}"{name}"'


def age_from_birth_month(birth_month: dt.date, day: dt.date) -> int:
    """Completed years at ``day`` of a person born in the month of ``birth_month``, taken as born on
    its 1st: the rule every engine follows (a birthday counts from the 1st of the birth month)."""
    return day.year - birth_month.year - (day.month < birth_month.month)


def warehouse_columns(table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a warehouse table: the source columns with nhs_number replaced by
    person_id and coarsened columns by their warehouse form, then the batch that loaded each row."""
    columns = []
    for column in LOADABLE_TABLES[table].columns:
        if column.name == "nhs_number":
            columns.append(("person_id", "VARCHAR"))
        elif column.name in COARSENED_COLUMNS:
            columns.append((COARSENED_COLUMNS[column.name][0], _DUCKDB_TYPES[column.type]))
        else:
            columns.append((column.name, _DUCKDB_TYPES[column.type]))
    columns.append(("batch_id", "VARCHAR"))
    return columns
