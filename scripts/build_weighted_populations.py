"""Copy NHS England's practice-level weighted populations (2024/25 allocations) into the package.

The population budgets (``caremodels.budget``) read ``weighted_populations_2024-25.csv`` at run time:
registered population and the weighted population of each need component, by practice. Weighted
populations are kept to four decimal places (a ten-thousandth of a person), far finer than a budget
needs, so need indices match the source to about 1e-8.
Run from the repository root:  .venv/bin/python scripts/build_weighted_populations.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "caremodels" / "reference" / "data"
OUT_NAME = "weighted_populations_2024-25.csv"
# Our column name <- the source file's column name.
COLUMNS = {
    "practice_code": "Practice_Code",
    "ccg_code_2021": "CCG21",
    "icb_code": "ICS22",
    "registered_population": "pop 2022/23",
    "general_and_acute": "G&A WP",
    "community_services": "CS WP",
    "mental_health": "MH WP",
    "maternity": "Mat WP",
    "health_inequalities": "Health Ineq WP",
    "prescribing": "Prescr WP",
    "core_services": "Final WP",
    "primary_medical_care": "Final PMC WP",
}
_TEXT = {"practice_code", "ccg_code_2021", "icb_code"}


def build(shared: Path) -> int:
    source = shared / "data" / "practice_weighted_populations_2024-25.csv"
    with source.open(newline="", encoding="utf-8") as handle:
        rows = [
            {
                ours: row[theirs] if ours in _TEXT else f"{float(row[theirs]):.4f}"
                for ours, theirs in COLUMNS.items()
            }
            for row in csv.DictReader(handle)
        ]
    rows.sort(key=lambda row: row["practice_code"])
    with (DATA_DIR / OUT_NAME).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    arguments = parser.parse_args()
    print(f"{OUT_NAME}: {build(arguments.shared)} practices")


if __name__ == "__main__":
    main()
