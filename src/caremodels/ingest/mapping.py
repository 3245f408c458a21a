"""Column-mapping files: how to read users' own extracts whose names and code formats differ from ours.

A mapping file is YAML, validated by ``MappingFile`` (its JSON Schema is published as
``docs/schemas/column-mapping.schema.json``). For each canonical table it says which source column
(or columns, joined with a space, or a constant) fills each canonical column, which date formats to
accept, how to recode values, which strings mean "missing", and the file's encoding and delimiter.
Columns it does not mention are read under their canonical names. A ``fhir`` section adds SNOMED CT
codes to the condition map and ODS codes for organisations that carry none.

Boundaries: this module only describes and checks the mapping; ``caremodels.ingest.read`` applies it.
Mapping errors name the mapping file and the field path; they never depend on the data.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from caremodels.errors import DataError
from caremodels.warehouse.schema import LOADABLE_TABLES, SOURCE_TABLES

__all__ = ["ColumnSource", "FhirOptions", "LoadedMapping", "MappingFile", "TableMapping", "load_mapping"]

Encoding = Literal["utf-8", "latin-1", "utf-16"]
_STRPTIME_DIRECTIVE = re.compile(r"%[dmyYHMSbBfzjIpe]")
# The condition codes allowed in the conditions table, from the canonical schema.
_CONDITIONS = frozenset(SOURCE_TABLES["conditions"].column("condition").codes)
_ODS_CODE = re.compile(r"[A-Z0-9]{3,6}")
_UNION_TAGS = {"str", "ColumnSource"}


class ColumnSource(BaseModel):
    """Where one canonical column comes from, and how its values are converted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | list[str] | None = Field(
        default=None,
        description="Source column name, or several joined with a space (e.g. a date and a time column).",
    )
    value: str | None = Field(default=None, description="A constant for every row instead of a column.")
    date_formats: list[str] = Field(
        default_factory=list,
        description="strptime formats tried in order for a date or timestamp column, e.g. '%Y%m%d', '%d/%m/%Y'.",
    )
    values: dict[str, str] = Field(
        default_factory=dict,
        description="Recode source values to canonical codes, e.g. {'M': '1', 'F': '2'}; others pass unchanged.",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> ColumnSource:
        if (self.source is None) == (self.value is None):
            raise ValueError("give exactly one of source or value")
        if isinstance(self.source, list) and not self.source:
            raise ValueError("source lists at least one column")
        return self

    @field_validator("date_formats")
    @classmethod
    def _formats(cls, formats: list[str]) -> list[str]:
        for date_format in formats:
            if not _STRPTIME_DIRECTIVE.search(date_format):
                raise ValueError(f"{date_format!r} is not a strptime format (e.g. '%d/%m/%Y')")
        return formats

    @property
    def source_columns(self) -> tuple[str, ...]:
        if self.source is None:
            return ()
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)


class TableMapping(BaseModel):
    """How the files of one canonical table are laid out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[str] = Field(
        default_factory=list,
        description="Glob patterns of file names that hold this table, e.g. 'hes_apc_*.csv'.",
    )
    encoding: Encoding | None = Field(
        default=None,
        description="Text encoding of CSV files (default: UTF-8, or UTF-16 with a byte order mark).",
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV field separator.")
    missing_values: list[str] = Field(
        default_factory=list, description="Strings that mean 'no value', e.g. 'NULL' or '-'."
    )
    columns: dict[str, str | ColumnSource] = Field(
        default_factory=dict,
        description="Canonical column name: a source column name, or a full ColumnSource.",
    )

    def column_sources(self) -> dict[str, ColumnSource]:
        return {
            name: ColumnSource(source=origin) if isinstance(origin, str) else origin
            for name, origin in self.columns.items()
        }


class FhirOptions(BaseModel):
    """Additions to the built-in FHIR mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    condition_codes: dict[str, str] = Field(
        default_factory=dict,
        description="SNOMED CT concept id: condition (one of the conditions table's codes), added to the built-in map.",
    )
    organisations: dict[str, str] = Field(
        default_factory=dict,
        description="Organisation identifier 'system|value' (or a resource reference): its ODS code.",
    )

    @field_validator("condition_codes")
    @classmethod
    def _conditions(cls, codes: dict[str, str]) -> dict[str, str]:
        for concept, condition in codes.items():
            if not concept.isdigit():
                raise ValueError(f"{concept!r} is not a SNOMED CT concept id (digits)")
            if condition not in _CONDITIONS:
                raise ValueError(f"{condition!r} is not one of {', '.join(sorted(_CONDITIONS))}")
        return codes

    @field_validator("organisations")
    @classmethod
    def _ods_codes(cls, organisations: dict[str, str]) -> dict[str, str]:
        for code in organisations.values():
            if not _ODS_CODE.fullmatch(code):
                raise ValueError(f"{code!r} is not an ODS code (3 to 6 capital letters or digits)")
        return organisations


class MappingFile(BaseModel):
    """A column-mapping file: per canonical table, where each column comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    tables: dict[str, TableMapping] = Field(default_factory=dict)
    fhir: FhirOptions = FhirOptions()

    @model_validator(mode="after")
    def _known_names(self) -> MappingFile:
        for table, mapping in self.tables.items():
            if table not in LOADABLE_TABLES:
                raise ValueError(f"unknown table {table!r} (one of {', '.join(LOADABLE_TABLES)})")
            spec = LOADABLE_TABLES[table]
            known = {column.name: column for column in spec.columns}
            for name, origin in mapping.column_sources().items():
                if name not in known:
                    raise ValueError(f"table {table} has no column {name!r}")
                if origin.date_formats and known[name].type not in ("date", "timestamp"):
                    raise ValueError(f"{table}.{name} is not a date or timestamp: date_formats do not apply")
        return self


class LoadedMapping:
    """A validated mapping file with its name and content hash (recorded with every batch it shapes)."""

    def __init__(self, mapping: MappingFile, *, name: str, content_hash: str) -> None:
        self.mapping = mapping
        self.name = name
        self.content_hash = content_hash

    @property
    def label(self) -> str:
        return f"{self.name} ({self.content_hash[:12]})"

    def table_for(self, file_name: str) -> str | None:
        """The table whose ``files`` patterns match this file name, if exactly one does."""
        matches = [
            table
            for table, mapping in self.mapping.tables.items()
            if any(fnmatch.fnmatch(file_name, pattern) for pattern in mapping.files)
        ]
        if len(matches) > 1:
            raise DataError(f"file name matches the patterns of several tables: {', '.join(matches)}")
        return matches[0] if matches else None

    def for_table(self, table: str) -> TableMapping:
        return self.mapping.tables.get(table, TableMapping())


def load_mapping(path: Path) -> LoadedMapping:
    """Read and validate a column-mapping file; errors name the file and the field path."""
    try:
        raw = path.read_bytes()
        document = yaml.safe_load(raw.decode("utf-8"))
    except OSError as error:
        raise DataError(f"cannot read mapping file: {error.strerror}", file=path) from error
    except UnicodeDecodeError as error:
        raise DataError("the mapping file is not UTF-8 text", file=path) from error
    except yaml.YAMLError as error:
        raise DataError(f"not valid YAML: {error}", file=path) from error
    try:
        mapping = MappingFile.model_validate(document)
    except ValidationError as error:
        # A column may be a name or a ColumnSource: the deepest error is the one that explains.
        first = max(error.errors(), key=lambda item: len(item["loc"]))
        field = ".".join(str(part) for part in first["loc"] if part not in _UNION_TAGS)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise DataError(message, file=path, field=field or None) from error
    return LoadedMapping(mapping, name=path.name, content_hash=hashlib.sha256(raw).hexdigest())
