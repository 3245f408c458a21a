"""The canonical schema: one definition of each table, used by the generator, the loaders, the
warehouse and the data dictionary (``docs/data-dictionary.md`` is generated from this module).

Source files (HES-like extracts) carry ``nhs_number``; the warehouse never does. At the boundary the
NHS number becomes ``person_id``, a keyed pseudonym (see ``caremodels.ingest.pseudonymise``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

__all__ = ["SOURCE_TABLES", "Column", "TableSpec", "source_arrow_schema", "warehouse_columns"]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of: string, date, integer, float
    description: str
    nullable: bool = False
    hes_field: str = ""
    code_list: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    # Date columns that must not be in the future, and pairs (earlier, later) that must be ordered.
    ordered_dates: tuple[tuple[str, str], ...] = ()

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


_ARROW_TYPES = {"string": pa.string(), "date": pa.date32(), "integer": pa.int64(), "float": pa.float64()}
_DUCKDB_TYPES = {"string": "VARCHAR", "date": "DATE", "integer": "BIGINT", "float": "DOUBLE"}

NHS_NUMBER = Column(
    "nhs_number",
    "string",
    "NHS number: ten digits with a modulus-11 check digit. Source files only.",
    hes_field="NEWNHSNO",
)

SOURCE_TABLES: dict[str, TableSpec] = {
    table.name: table
    for table in (
        TableSpec(
            "gp_registrations",
            "Registrations of people with GP practices: one row per registration.",
            (
                NHS_NUMBER,
                Column(
                    "practice_code",
                    "string",
                    "GP practice ODS code (a letter and five digits).",
                    hes_field="GPPRAC",
                ),
                Column(
                    "sex",
                    "string",
                    "Person stated gender: 1 male, 2 female, 9 not specified.",
                    hes_field="SEX",
                    code_list="1, 2, 9",
                ),
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
                    code_list="death, left",
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
                Column(
                    "spell_id",
                    "string",
                    "Identifier of the spell, unique within the extract.",
                    hes_field="SPELL_ID",
                ),
                NHS_NUMBER,
                Column(
                    "gp_practice_code", "string", "Registered GP practice at admission.", hes_field="GPPRAC"
                ),
                Column(
                    "provider_code",
                    "string",
                    "ODS code of the NHS trust providing the care.",
                    nullable=True,
                    hes_field="PROCODE3",
                ),
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
                    "primary_diagnosis",
                    "string",
                    "ICD-10 primary diagnosis, 4 characters, no dot.",
                    hes_field="DIAG_4_01",
                ),
                Column(
                    "age_on_admission", "integer", "Age in whole years at admission.", hes_field="STARTAGE"
                ),
                Column(
                    "sex",
                    "string",
                    "Person stated gender: 1 male, 2 female, 9 not specified.",
                    hes_field="SEX",
                    code_list="1, 2, 9",
                ),
            ),
            key=("spell_id",),
            ordered_dates=(("admission_date", "discharge_date"),),
        ),
    )
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


def warehouse_columns(table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a warehouse table: the source columns with nhs_number replaced by
    person_id, then the batch that loaded each row."""
    columns = []
    for column in SOURCE_TABLES[table].columns:
        if column.name == "nhs_number":
            columns.append(("person_id", "VARCHAR"))
        else:
            columns.append((column.name, _DUCKDB_TYPES[column.type]))
    columns.append(("batch_id", "VARCHAR"))
    return columns
