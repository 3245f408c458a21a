"""Errors that caremodels raises on purpose, so that the command line can print them as one line.

Messages never carry patient-level values (NHS numbers, dates of birth): they name the file, row,
field and reason, which is enough to find the problem without disclosing anything.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CaremodelsError", "DataError", "ReferenceDataError"]


class CaremodelsError(Exception):
    """Base class: a failure the user can act on, reported as a single line."""


class DataError(CaremodelsError):
    """Bad input data, located by file, row and field."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"row {row}" if row is not None else "",
                f"field {field}" if field else "",
            )
            if part
        )
        super().__init__(f"{where}: {reason}" if where else reason)


class ReferenceDataError(DataError):
    """Reference data (shipped or user-supplied) that does not validate."""
