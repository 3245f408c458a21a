"""Valid source rows for any table of the canonical schema, built from its specification."""

from __future__ import annotations

from caremodels.synth.nhs_number import check_digit
from caremodels.warehouse.schema import Column, TableSpec

# One valid value for each pattern in the schema; a new pattern needs a sample here.
PATTERN_SAMPLES = {
    r"[A-Z][0-9]{5}": "A81001",
    r"[A-Z0-9]{3}([A-Z0-9]{2})?": "RXL",
    r"[A-Z][0-9]{2}[0-9X]?": "J441",
    r"[A-Za-z0-9_-]{1,40}": "ID",
    r"[0-9]{3}": "300",
    r"[0-9]{2}": "01",
    r"1-[0-9]{6,11}": "1-123456789",
}


def nhs_numbers(count: int, start: int = 943476591) -> list[str]:
    """``count`` distinct valid NHS numbers (stems without a valid check digit are skipped)."""
    numbers = []
    stem = start
    while len(numbers) < count:
        digit = check_digit(f"{stem:09d}")
        if digit is not None:
            numbers.append(f"{stem:09d}{digit}")
        stem += 1
    return numbers


def _value(column: Column, index: int, nhs: str) -> str:
    if column.name == "nhs_number":
        return nhs
    if column.type == "date":
        return "2016-01-01"
    if column.type == "timestamp":
        return "2016-01-01 10:00:00"
    if column.type in ("integer", "float"):
        return str(int(column.minimum or 0) + 1) if column.maximum is None or column.maximum >= 1 else "0"
    if column.code_list == "admission_methods":
        return "21"
    if column.codes:
        return column.codes[index % len(column.codes)] if column.name == "condition" else column.codes[0]
    if column.pattern:
        if column.pattern not in PATTERN_SAMPLES:
            raise KeyError(f"add a sample for the pattern {column.pattern!r} of {column.name}")
        sample = PATTERN_SAMPLES[column.pattern]
        return f"{sample}{index}" if sample == "ID" else sample
    return f"value{index}"


def valid_rows(spec: TableSpec, count: int) -> list[dict[str, str]]:
    """``count`` valid rows with distinct keys (people and identifiers differ row by row)."""
    people = nhs_numbers(count)
    rows = []
    for index in range(count):
        row = {column.name: _value(column, index, people[index]) for column in spec.columns}
        # Keys without a person or identifier (prescribing) differ by practice.
        if "nhs_number" not in spec.key and not any(
            spec.column(name).pattern == r"[A-Za-z0-9_-]{1,40}" for name in spec.key
        ):
            row["practice_code"] = f"A8{index:04d}"
        rows.append(row)
    return rows


def csv_text(spec: TableSpec, rows: list[dict[str, str]]) -> str:
    names = [column.name for column in spec.columns]
    return "\n".join([",".join(names), *(",".join(row[name] for name in names) for row in rows)]) + "\n"
