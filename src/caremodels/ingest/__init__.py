"""Ingest: the boundary between direct care and secondary use.

Files come in with NHS numbers: HES-like CSV and Parquet (``load_file``, optionally shaped by a
column-mapping file, ``load_mapping``) and FHIR R4 NDJSON or Bundles (``load_fhir``). Rows are
validated (bad rows quarantined with file, row, field and reason), National Data Opt-outs applied,
NHS numbers replaced by keyed pseudonyms, and each file loaded as one atomic, idempotent batch into
the warehouse.
"""

from caremodels.ingest.fhir import condition_map, is_fhir_file, load_fhir, load_fhir_resources
from caremodels.ingest.load import LoadResult, OverlapError, detect_table, load_file, read_opt_outs
from caremodels.ingest.mapping import LoadedMapping, MappingFile, load_mapping
from caremodels.ingest.pseudonymise import (
    KEY_ENVIRONMENT_VARIABLE,
    MINIMUM_KEY_BITS,
    Pseudonymiser,
    derive_project_key,
    key_entropy_bits,
    load_key,
    write_key_file,
)
from caremodels.ingest.validate import ValidationOutcome, nhs_number_valid, validate

__all__ = [
    "KEY_ENVIRONMENT_VARIABLE",
    "MINIMUM_KEY_BITS",
    "LoadResult",
    "LoadedMapping",
    "MappingFile",
    "OverlapError",
    "Pseudonymiser",
    "ValidationOutcome",
    "condition_map",
    "derive_project_key",
    "detect_table",
    "is_fhir_file",
    "key_entropy_bits",
    "load_fhir",
    "load_fhir_resources",
    "load_file",
    "load_key",
    "load_mapping",
    "nhs_number_valid",
    "read_opt_outs",
    "validate",
    "write_key_file",
]
