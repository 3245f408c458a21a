"""The warehouse: pseudonymised secondary-use tables in one DuckDB file, with load provenance.

Boundaries: no NHS numbers (``person_id`` pseudonyms only); the canonical schema lives in
``caremodels.warehouse.schema`` and the data dictionary is generated from it.
"""

from caremodels.warehouse.schema import SOURCE_TABLES, Column, TableSpec
from caremodels.warehouse.store import Warehouse

__all__ = ["SOURCE_TABLES", "Column", "TableSpec", "Warehouse"]
