"""Ingest: the boundary between direct care and secondary use.

Files come in with NHS numbers; rows are validated (bad rows quarantined with file, row, field and
reason), National Data Opt-outs applied, NHS numbers replaced by keyed pseudonyms, and each file
loaded as one atomic, idempotent batch into the warehouse.
"""

from caremodels.ingest.load import LoadResult, detect_table, load_file, read_opt_outs
from caremodels.ingest.pseudonymise import (
    KEY_ENVIRONMENT_VARIABLE,
    Pseudonymiser,
    derive_project_key,
    load_key,
)
from caremodels.ingest.validate import ValidationOutcome, nhs_number_valid, validate

__all__ = [
    "KEY_ENVIRONMENT_VARIABLE",
    "LoadResult",
    "Pseudonymiser",
    "ValidationOutcome",
    "derive_project_key",
    "detect_table",
    "load_file",
    "load_key",
    "nhs_number_valid",
    "read_opt_outs",
    "validate",
]
