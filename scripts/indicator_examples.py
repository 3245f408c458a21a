"""Write the generated parts of docs/indicators.md: the catalogue table (from the shipped definitions)
and the worked examples (small input tables from the spec fixture, tests/indicators/fixture.py, and
the results the DuckDB engine gives for them, before and after disclosure control).

    .venv/bin/python scripts/indicator_examples.py            # rewrite the generated blocks
    .venv/bin/python scripts/indicator_examples.py --check    # exit 1 if docs/indicators.md is stale
    .venv/bin/python scripts/indicator_examples.py --keep-fixture fixture.duckdb
                                                              # also keep the fixture warehouse, to try
                                                              # `caremodels indicators compute` on it

tests/indicators/test_indicator_docs.py runs --check, so the figures in the doc are always the
engine's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "indicators.md"
BLOCKS = ("catalogue", "worked-examples")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.indicators.fixture, the hand-built warehouse


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.second else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if value == int(value) and abs(value) < 1e12 else f"{value:.2f}"
    return str(value).replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


# -- the catalogue table ----------------------------------------------------------------------------


def _condition_text(condition: Any) -> str:
    if condition.in_ is not None:
        if len(condition.in_) == 1:
            return f"{condition.field} = {condition.in_[0]}"
        return f"{condition.field} in {', '.join(condition.in_)}"
    if condition.not_in is not None:
        return f"{condition.field} not {' or '.join(condition.not_in)}"
    if condition.admission_method_groups is not None:
        return f"{' or '.join(condition.admission_method_groups)} admission method"
    if condition.code_list is not None:
        return f"{condition.field} on list {condition.code_list}"
    if condition.present is not None:
        return f"{condition.field} {'recorded' if condition.present else 'missing'}"
    bounds = []
    if condition.min is not None:
        bounds.append(f"≥ {condition.min:g}")
    if condition.max is not None:
        bounds.append(f"≤ {condition.max:g}")
    return f"{condition.field} {' and '.join(bounds)}"


def _selection_text(selection: Any, measure: str = "count", sum_of: str | None = None) -> str:
    what = {"count": "count of", "bed_days": "bed days of"}.get(measure, f"sum of {sum_of} in")
    text = f"{what} `{selection.table}` by {selection.date}"
    tests = [_condition_text(condition) for condition in selection.where]
    if selection.linked is not None:
        tests.append(f"linked: {selection.linked.description}")
    if selection.cohort == "care_home_residents":
        tests.append("while resident in a care home")
    return text + (f" ({'; '.join(tests)})" if tests else "")


def _denominator_text(definition: Any) -> str:
    denominator = definition.denominator
    if denominator.kind == "registered_population":
        ages = ""
        if denominator.min_age is not None or denominator.max_age is not None:
            low = denominator.min_age if denominator.min_age is not None else 0
            ages = f", aged {low}+" if denominator.max_age is None else f", aged {low}-{denominator.max_age}"
        return f"registered population{ages}"
    if denominator.kind == "care_home_resident_years":
        return "care-home resident-years"
    return _selection_text(denominator)


def catalogue_table() -> str:
    from caremodels.indicators import catalogue

    rows = [
        (
            f"`{d.id}`",
            d.title,
            _selection_text(d.numerator, d.numerator.measure, d.numerator.sum_of),
            _denominator_text(d),
            f"{d.statistic}, {d.unit}",
            "ESP2013" if d.standardisation == "esp2013" else "none",
            d.direction_of_improvement,
        )
        for d in catalogue()
    ]
    header = (
        "id",
        "title",
        "numerator",
        "denominator",
        "statistic, unit",
        "standardisation",
        "better when",
    )
    return f"{len(rows)} indicators.\n\n" + markdown_table(header, rows)


# -- worked examples --------------------------------------------------------------------------------

_RESULT_COLUMNS = ["code", "period_start", "numerator", "denominator", "value", "ci_low", "ci_high"]
_PUBLISHED_COLUMNS = ["code", "period_start", "numerator", "denominator", "value", "suppressed"]


def _query(connection: Any, sql: str) -> str:
    cursor = connection.execute(sql)
    columns = [description[0] for description in cursor.description]
    return markdown_table(columns, cursor.fetchall())


def _results(
    warehouse: Path, groups_file: Path, indicator_id: str, levels: Sequence[str], period: str, keep: Any
) -> str:
    """The true results of one indicator on the DuckDB engine, the rows ``keep`` picks, as a table."""
    from caremodels.indicators import find_indicator, indicator_results
    from caremodels.indicators.ibis_engine import duckdb_engine

    with duckdb_engine(warehouse) as engine:
        results = indicator_results(
            engine,
            find_indicator(indicator_id),
            levels=list(levels),  # type: ignore[arg-type]
            periods=[period],  # type: ignore[list-item]
            groups_file=groups_file,
        )
    columns = (["level"] if len(levels) > 1 else []) + _RESULT_COLUMNS
    chosen = results[keep(results)]
    rows = [
        [round(value, 2) if isinstance(value, float) else value for value in row]
        for row in chosen[columns].itertuples(index=False)
    ]
    return markdown_table(columns, rows)


def disclosure_example() -> str:
    """Disclosure control on a few true results chosen to show each rule."""
    from caremodels.indicators import publish

    true = pd.DataFrame(
        {
            "indicator_id": "emergency_admissions",
            "level": ["practice"] * 5 + ["england"],
            "code": ["A", "B", "C", "D", "E", "E92000001"],
            "period": "financial_year",
            "period_start": dt.date(2019, 4, 1),
            "period_end": dt.date(2020, 3, 31),
            "numerator": [0.0, 3.0, 8.0, 12.0, 1237.0, 5_512_345.0],
            "denominator": [2104.0, 6350.0, 7.4, 9875.0, 10_002.5, 60_102_117.0],
            "events": [0, 3, 8, 12, 1237, 5_512_345],
        }
    )
    true["value"] = true["numerator"] / true["denominator"] * 1000
    true["ci_low"] = true["ci_high"] = float("nan")
    published = publish(true)
    shown = ["code", "numerator", "denominator", "value"]
    return "\n\n".join(
        [
            "True:",
            markdown_table(
                shown,
                [
                    [round(v, 2) if isinstance(v, float) else v for v in row]
                    for row in true[shown].itertuples(index=False)
                ],
            ),
            "Published (`caremodels.indicators.publish`, the default HES rules):",
            markdown_table(
                [*shown, "suppressed"],
                [
                    [round(v, 2) if isinstance(v, float) else v for v in row]
                    for row in published[[*shown, "suppressed"]].astype(object).itertuples(index=False)
                ],
            ),
        ]
    )


def worked_examples(warehouse: Path, groups_file: Path) -> str:
    import duckdb

    sections: list[str] = []

    def example(title: str, text: str, inputs: list[tuple[str, str]], command: str, output: str) -> None:
        parts = [f"### {title}", "", text, ""]
        for caption, table in inputs:
            parts += [caption, "", table, ""]
        parts += [f"Result (`{command}`), before disclosure control:", "", output, ""]
        sections.append("\n".join(parts))

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        example(
            "1. Emergency admissions per 1,000 registered patients, one practice, by month",
            "Practice P81004 in April and May 2014. Emergency admissions are spells with an emergency "
            "admission method (HES ADMIMETH 21-25, 2A-2D, 28), placed in the month of admission. The "
            "denominator is the list size on the 15th of the month: p03 is born in August 2014 and not yet "
            "registered, "
            "and p01 is registered until November 2015. The value is annual (the default rate basis): "
            "2 admissions over 3 patients for one month are 2 over 3/12 person-years, 8,000 per 1,000 "
            "patients per year; `--rate-basis per-period` gives the month's own rate, 666.7 per 1,000 "
            "patients per month.",
            [
                (
                    "`gp_registrations` of P81004:",
                    _query(
                        connection,
                        "SELECT person_id, sex, birth_month, registration_start, registration_end "
                        "FROM gp_registrations WHERE practice_code = 'P81004' ORDER BY person_id",
                    ),
                ),
                (
                    "`apc_spells` of P81004 admitted in April or May 2014:",
                    _query(
                        connection,
                        "SELECT spell_id, person_id, admission_date, discharge_date, admission_method, "
                        "primary_diagnosis FROM apc_spells WHERE gp_practice_code = 'P81004' AND "
                        "admission_date BETWEEN DATE '2014-04-01' AND DATE '2014-05-31' ORDER BY spell_id",
                    ),
                ),
            ],
            "caremodels indicators compute --indicator emergency_admissions --level practice --period month",
            _results(
                warehouse,
                groups_file,
                "emergency_admissions",
                ["practice"],
                "month",
                lambda r: (
                    (r["code"] == "P81004")
                    & r["period_start"].isin([dt.date(2014, 4, 1), dt.date(2014, 5, 1)])
                ),
            ),
        )
        example(
            "2. Emergency readmissions within 30 days: a linked event",
            "Person p15 (practice P81004, COPD) in 2014/15. A live discharge counts in the numerator when the "
            "same person has another spell with an emergency admission 0 to 29 days after the discharge: "
            "s01 (readmitted on day 12, s02) and s22 (day 29, s23) do; s21 does not (s22 comes on day 30).",
            [
                (
                    "`apc_spells` of p15 discharged in 2014/15:",
                    _query(
                        connection,
                        "SELECT spell_id, admission_date, discharge_date, admission_method, discharge_method, "
                        "date_diff('day', lag(discharge_date) OVER (ORDER BY admission_date), admission_date) "
                        "AS days_since_last_discharge FROM apc_spells WHERE person_id = 'p15' AND "
                        "discharge_date BETWEEN DATE '2014-04-01' AND DATE '2015-03-31' ORDER BY spell_id",
                    ),
                ),
            ],
            "caremodels indicators compute --indicator emergency_readmissions_30_days --level practice "
            "--period financial_year",
            _results(
                warehouse,
                groups_file,
                "emergency_readmissions_30_days",
                ["practice"],
                "financial_year",
                lambda r: (r["code"] == "P81004") & (r["period_start"] == dt.date(2014, 4, 1)),
            ),
        )
        example(
            "3. A&E four-hour performance: a proportion with a Wilson interval",
            "Practice P81004 in June 2014. An attendance meets the standard when it lasts 240 minutes or "
            "less from arrival to departure: a02 took exactly 4 hours, a03 4 hours and 30 seconds.",
            [
                (
                    "`ae_attendances` of P81004 in June 2014:",
                    _query(
                        connection,
                        "SELECT attendance_id, person_id, arrival_time, departure_time, department_type, "
                        "(epoch(departure_time) - epoch(arrival_time)) / 60 AS duration_minutes "
                        "FROM ae_attendances WHERE gp_practice_code = 'P81004' AND "
                        "arrival_time >= TIMESTAMP '2014-06-01' AND arrival_time < TIMESTAMP '2014-07-01' "
                        "ORDER BY attendance_id",
                    ),
                ),
            ],
            "caremodels indicators compute --indicator ae_four_hour_performance --level practice --period month",
            _results(
                warehouse,
                groups_file,
                "ae_four_hour_performance",
                ["practice"],
                "month",
                lambda r: (r["code"] == "P81004") & (r["period_start"] == dt.date(2014, 6, 1)),
            ),
        )
        example(
            "4. Care-home residents' emergency admissions per resident-year",
            "Only admissions on a day the person lived in a care home count, at the practice aligned with "
            "the home; the denominator is the days of residence in the period over 365.25. At P81006, p11 "
            "lived in a home from 10 March to 31 August 2015: s18 (April 2015) counts, s19 (September, "
            "after leaving) does not.",
            [
                (
                    "`care_home_residence`:",
                    _query(
                        connection,
                        "SELECT person_id, care_home_type, practice_code, residence_start, residence_end "
                        "FROM care_home_residence ORDER BY person_id",
                    ),
                ),
                (
                    "`apc_spells` of care-home residents p01, p05 and p11 (emergency admissions only):",
                    _query(
                        connection,
                        "SELECT spell_id, person_id, gp_practice_code, admission_date, admission_method "
                        "FROM apc_spells WHERE person_id IN ('p01', 'p05', 'p11') AND admission_method "
                        "LIKE '2%' ORDER BY spell_id",
                    ),
                ),
            ],
            "caremodels indicators compute --indicator care_home_emergency_admissions --level practice "
            "--period financial_year",
            _results(
                warehouse,
                groups_file,
                "care_home_emergency_admissions",
                ["practice"],
                "financial_year",
                lambda r: r["code"].isin(["P81004", "P81006", "B87001"]),
            ),
        )
        example(
            "5. One indicator at every geography: GP referrals in 2014/15",
            "Referrals r01-r05 fall in 2014/15 (the practices' sites are in tests/indicators/fixture.py). "
            "The rest of England for a care model type is every practice outside all its sites (A82004 is "
            "in no site, so it is in every one); the groups come from a CSV (`group,practice_code`) given "
            "with `--groups`.",
            [
                (
                    "`referrals` in 2014/15:",
                    _query(
                        connection,
                        "SELECT referral_id, person_id, gp_practice_code, referral_date, priority "
                        "FROM referrals WHERE referral_date BETWEEN DATE '2014-04-01' AND DATE '2015-03-31' "
                        "ORDER BY referral_id",
                    ),
                ),
            ],
            "caremodels indicators compute --indicator gp_referrals --level LEVEL --period financial_year",
            _results(
                warehouse,
                groups_file,
                "gp_referrals",
                ["ccg", "site", "care_model", "rest_of_england", "england", "group"],
                "financial_year",
                lambda r: r["period_start"] == dt.date(2014, 4, 1),
            ),
        )
    sections.append(
        "\n".join(
            [
                "### 6. Disclosure control",
                "",
                "Results are computed from true counts; `publish` then suppresses sub-national counts of 1 to 7"
                " (with the row's value and interval) and rounds the others to the nearest 5. These five "
                "practice rows and one England row are made up to show each rule: C is suppressed for its "
                "denominator (7.4 mean registered patients), not its numerator.",
                "",
                disclosure_example(),
                "",
            ]
        )
    )
    return "\n".join(sections).rstrip() + "\n"


# -- the doc ----------------------------------------------------------------------------------------


def _replaced(text: str, block: str, content: str) -> str:
    begin, end = f"<!-- generated: {block} -->", f"<!-- end generated: {block} -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{DOC} has no {begin} ... {end} block")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{content.rstrip()}\n{end}{tail}"


def generated_doc(warehouse: Path, groups_file: Path) -> str:
    text = DOC.read_text(encoding="utf-8")
    text = _replaced(text, "catalogue", catalogue_table())
    return _replaced(text, "worked-examples", worked_examples(warehouse, groups_file))


def main(arguments: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="Exit 1 if docs/indicators.md is stale.")
    parser.add_argument("--keep-fixture", type=Path, help="Also copy the fixture warehouse here.")
    options = parser.parse_args(arguments)

    from tests.indicators.fixture import build_fixture_warehouse, write_groups_file

    with tempfile.TemporaryDirectory(prefix="caremodels-examples-") as folder:
        warehouse = build_fixture_warehouse(Path(folder) / "fixture.duckdb")
        groups_file = write_groups_file(Path(folder) / "groups.csv")
        expected = generated_doc(warehouse, groups_file)
        if options.keep_fixture:
            shutil.copyfile(warehouse, options.keep_fixture)
    if options.check:
        if DOC.read_text(encoding="utf-8") != expected:
            print(f"{DOC.relative_to(ROOT)} is stale: run .venv/bin/python scripts/indicator_examples.py")
            return 1
        return 0
    DOC.write_text(expected, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
