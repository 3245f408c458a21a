"""Copy the public reference data that caremodels needs at run time into the package.

A user's clone has no ../shared folder, so the files the product reads at run time live in
src/caremodels/reference/data/, each with its source and licence in SOURCES.md there.
Run from the repository root:  .venv/bin/python scripts/build_reference_data.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "src" / "caremodels" / "reference" / "data"


def build_practices(shared: Path) -> int:
    """One row per GP practice: list size (Jan 2021), CCG, postcode and IMD 2019 score."""
    imd: dict[str, str] = {}
    with (shared / "data" / "gp_practice_imd2019.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            imd[row["practice_code"]] = row["imd2019_score"]
    rows = []
    with (shared / "data" / "gp_practice_list_sizes_2021-01.csv").open(
        newline="", encoding="utf-8"
    ) as handle:
        for row in csv.DictReader(handle):
            if row["SEX"] != "ALL" or row["AGE"] != "ALL":
                continue
            score = imd.get(row["CODE"], "")
            rows.append(
                {
                    "practice_code": row["CODE"],
                    "ccg_code": row["CCG_CODE"],
                    "ons_ccg_code": row["ONS_CCG_CODE"],
                    "postcode": row["POSTCODE"],
                    "list_size_2021": row["NUMBER_OF_PATIENTS"],
                    # Rounded: two decimals are far finer than the score's own precision.
                    "imd2019_score": f"{float(score):.2f}" if score else "",
                }
            )
    rows.sort(key=lambda r: r["practice_code"])
    with (DATA_DIR / "practices.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def build_population(shared: Path) -> int:
    source = shared / "data" / "ons_england_population_2023_by_sex_age.csv"
    target = DATA_DIR / "ons_england_population_2023.csv"
    text = source.read_text(encoding="utf-8")
    target.write_text(text, encoding="utf-8")
    return text.count("\n") - 1


def build_area_names(shared: Path) -> int:
    """Names of GP practices (OHID Fingertips) and of the January 2021 CCGs (NHS England's
    allocation tool), so that outputs can name an area beside its code."""
    rows: dict[tuple[str, str], str] = {}
    with (shared / "data" / "gp_practice_imd2019.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["practice_name"].strip():
                rows[("practice", row["practice_code"])] = row["practice_name"].strip()
    weighted = shared / "data" / "practice_weighted_populations_2024-25.csv"
    with weighted.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(("practice", row["Practice_Code"]), row["GP_Practice_Name"].strip())
            if row["CCG21"].strip() and row["Former CCG"].strip():
                rows.setdefault(("ccg", row["CCG21"].strip()), row["Former CCG"].strip())
    with (DATA_DIR / "area_names.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "code", "name"])
        writer.writerows([kind, code, name] for (kind, code), name in sorted(rows.items()) if name)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    print(f"practices.csv: {build_practices(args.shared)} practices")
    print(f"ons_england_population_2023.csv: {build_population(args.shared)} rows")
    print(f"area_names.csv: {build_area_names(args.shared)} names")


if __name__ == "__main__":
    main()
