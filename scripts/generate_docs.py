"""Generate the docs that are derived from code, so that nothing is written twice:

- docs/data-dictionary.md from caremodels.warehouse.schema
- docs/schemas/*.schema.json from the Pydantic models of effects, indicator definitions and column mappings

Run: .venv/bin/python scripts/generate_docs.py  (tests/test_docs.py fails when these are stale)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def data_dictionary() -> str:
    from caremodels.warehouse.schema import AGGREGATE_TABLES, COARSENED_COLUMNS, LOADABLE_TABLES

    lines = [
        "# Data dictionary",
        "",
        "Generated from `caremodels.warehouse.schema` by `scripts/generate_docs.py`; do not edit by hand.",
        "",
        "Source files (HES-like extracts, and `caremodels synth` output) carry `nhs_number`. In the warehouse",
        "that column is replaced by `person_id`, a keyed pseudonym (HMAC-SHA256), and every row carries the",
        "`batch_id` of the load that brought it.",
        "",
        *(
            f"The warehouse holds no `{source}`: it holds `{name}` instead (the first day of the month;"
            " see docs/ingest.md, No dates of birth). A registration starting on the date of birth starts"
            " on the 1st of the birth month (born on or before the 15th) or of the next month."
            for source, (name, _) in COARSENED_COLUMNS.items()
        ),
        "",
        "`unregistered_population` holds area-level estimates (no people), as `caremodels synth` writes"
        " them in `unregistered_population.csv`.",
        "",
        "Published aggregate statistics (no people, no pseudonyms) are loaded by `caremodels aggregates load`"
        " into their own tables: "
        + ", ".join(f"`{name}`" for name in AGGREGATE_TABLES)
        + ". They are listed by `caremodels warehouse status` and written by `caremodels warehouse export`"
        " beside the source tables.",
        "",
    ]
    for table in [*LOADABLE_TABLES.values(), *AGGREGATE_TABLES.values()]:
        lines += [f"## `{table.name}`", "", table.description, "", f"Key: {', '.join(table.key)}.", ""]
        lines += ["| column | type | required | HES field | meaning |", "|---|---|---|---|---|"]
        for column in table.columns:
            required = "no" if column.nullable else "yes"
            lines.append(
                f"| `{column.name}` | {column.type} | {required} | {column.hes_field} | {column.description} |"
            )
        if table.ordered_dates:
            checks = "; ".join(
                f"`{earlier}` on or before `{later}`" for earlier, later in table.ordered_dates
            )
            lines += ["", f"Checks: {checks}; no date in the future; no duplicate key."]
        lines.append("")
    return "\n".join(lines)


def schemas() -> dict[str, str]:
    from caremodels.indicators.definition import IndicatorDefinition
    from caremodels.indicators.disclosure import DisclosurePolicyFile
    from caremodels.ingest.mapping import MappingFile
    from caremodels.synth.config import EffectsFile

    return {
        "column-mapping.schema.json": json.dumps(MappingFile.model_json_schema(), indent=2) + "\n",
        "disclosure-policy.schema.json": json.dumps(DisclosurePolicyFile.model_json_schema(), indent=2)
        + "\n",
        "effects.schema.json": json.dumps(EffectsFile.model_json_schema(), indent=2) + "\n",
        "indicator.schema.json": json.dumps(IndicatorDefinition.model_json_schema(), indent=2) + "\n",
    }


def outputs() -> dict[Path, str]:
    files = {ROOT / "docs" / "data-dictionary.md": data_dictionary()}
    for name, text in schemas().items():
        files[ROOT / "docs" / "schemas" / name] = text
    return files


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for path, text in outputs().items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale: " + ", ".join(map(str, stale)) + " (run scripts/generate_docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
