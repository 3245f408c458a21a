"""Arrow schemas of the files the generator writes, taken from the canonical warehouse schema."""

from __future__ import annotations

from caremodels.warehouse.schema import SOURCE_TABLES, source_arrow_schema

TABLES = {name: source_arrow_schema(name) for name in SOURCE_TABLES}
