"""Indicator engine benchmark: the whole catalogue, every practice and every month, on a synthetic
warehouse, side by side in the same run with

(a) the straightforward pandas implementation (``caremodels.indicators.reference_engine``, the
    spec suite's oracle: per-month and per-period loops over pandas frames), and
(b) the floor: hand-written DuckDB SQL that only scans and groups the same events by practice and
    month (each indicator's numerator, and its event denominator if it has one), plus one
    scan-and-group of the registrations and of the care-home stays behind the other denominators.
    No geography, no periods, no statistics, no disclosure control.

Each variant runs in its own process, so its peak memory (maximum resident set size, which includes
DuckDB's native memory) is its own. The floor's numerators are checked against the engine's, so both
count the same events.

    .venv/bin/python benchmarks/indicators_benchmark.py --work DIR      # region, all months
    .venv/bin/python benchmarks/indicators_benchmark.py --work DIR --scale england --fraction 0.1 \\
        --start 2019-04 --end 2020-03                                   # one financial year
    .venv/bin/python benchmarks/indicators_benchmark.py --work DIR --scale england \\
        --start 2019-04 --end 2020-03 --load-directly --variants engine,floor

The synthetic economy and its warehouse are built on first use under --work (kept for later runs), by
``caremodels synth`` and ``caremodels ingest``; --load-directly copies the Parquet files straight into
the warehouse schema instead, for data larger than ingest can hold in memory. The results and figures
are in docs/indicators.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CAREMODELS = ROOT / ".venv" / "bin" / "caremodels"
VARIANTS = ("engine", "pandas", "floor")
TABLE_FILES = (
    "gp_registrations",
    "apc_spells",
    "ae_attendances",
    "op_attendances",
    "ambulance_incidents",
    "care_home_residence",
    "prescribing",
    "referrals",
    "advice_and_guidance",
)


# -- building the warehouse -------------------------------------------------------------------------


def build_warehouse(
    work: Path, scale: str, fraction: float, start: str, end: str, workers: int, *, direct: bool = False
) -> Path:
    name = f"{scale}-{fraction:g}-{start}-{end}"
    source, warehouse = work / name, work / f"{name}{'-direct' if direct else ''}.duckdb"
    if warehouse.exists():
        return warehouse
    if not (source / "manifest.json").exists():
        command = [str(CAREMODELS), "--quiet", "synth", "--scale", scale, "--fraction", str(fraction)]
        command += ["--start", start, "--end", end, "--workers", str(workers), "--out", str(source)]
        print("building:", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    if direct:
        load_directly(source, warehouse)
        return warehouse
    key = work / "benchmark.key"
    if not key.exists():
        key.write_bytes(os.urandom(32).hex().encode())
        key.chmod(0o600)
    files = [str(source / f"{table}.parquet") for table in TABLE_FILES]
    command = [
        str(CAREMODELS),
        "--quiet",
        "ingest",
        *files,
        "--warehouse",
        str(warehouse),
        "--key-file",
        str(key),
    ]
    print("loading:", " ".join(command[:4]), "...", flush=True)
    subprocess.run(command, check=True)
    return warehouse


def load_directly(source: Path, warehouse: Path) -> None:
    """Copy the generator's Parquet files straight into the warehouse schema, without ingest's
    validation and keyed pseudonyms (person_id is the SHA-256 of the NHS number). For benchmarking
    the indicator engine on data larger than ingest can load on the machine; never for real data."""
    from caremodels.warehouse import Warehouse
    from caremodels.warehouse.schema import warehouse_columns, warehouse_expression

    print(f"loading directly (no ingest) into {warehouse} ...", flush=True)
    partial = warehouse.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with Warehouse(partial) as store:
        for table in TABLE_FILES:
            columns = [name for name, _ in warehouse_columns(table)]
            values = [
                "sha256(nhs_number)"
                if name == "person_id"
                else "'benchmark'"
                if name == "batch_id"
                else warehouse_expression(name, table=table)
                for name in columns
            ]
            path = str(source / f"{table}.parquet").replace("'", "''")
            store.connection.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM read_parquet('{path}')"
            )
    partial.rename(warehouse)


# -- the floor: bare SQL --------------------------------------------------------------------------


def _sql_value(table: str, name: str) -> str:
    from caremodels.indicators.tables import EVENT_TABLES

    derived = EVENT_TABLES[table].derived_field(name)
    if derived is None:
        return f"t.{name}"
    if derived.kind == "days_between":
        return f"date_diff('day', t.{derived.start}, t.{derived.end})"
    return f"(epoch(t.{derived.end}) - epoch(t.{derived.start})) / 60.0"


def _quoted(values: Any) -> str:
    return ", ".join("'" + str(value).replace("'", "''") + "'" for value in values)


def _sql_condition(table: str, condition: Any) -> str:
    from caremodels.indicators.codelists import code_list
    from caremodels.reference import admission_methods

    value = _sql_value(table, condition.field)
    if condition.in_ is not None:
        return f"{value} IN ({_quoted(condition.in_)})"
    if condition.not_in is not None:
        return f"({value} IS NULL OR {value} NOT IN ({_quoted(condition.not_in)}))"
    if condition.admission_method_groups is not None:
        codes = [c for c, m in admission_methods().items() if m.group in condition.admission_method_groups]
        return f"{value} IN ({_quoted(codes)})"
    if condition.code_list is not None:
        codes = code_list(condition.code_list).codes
        lengths = sorted({len(code) for code in codes})
        tests = [f"substr({value}, 1, {n}) IN ({_quoted(c for c in codes if len(c) == n)})" for n in lengths]
        return "(" + " OR ".join(tests) + ")"
    if condition.present is not None:
        return f"{value} IS {'NOT ' if condition.present else ''}NULL"
    tests = []
    if condition.min is not None:
        tests.append(f"{value} >= {condition.min}")
    if condition.max is not None:
        tests.append(f"{value} <= {condition.max}")
    return " AND ".join(tests)


def floor_queries(definition: Any) -> list[str]:
    """Scan-and-group SQL for the events an indicator counts (numerator; event denominator)."""
    from caremodels.indicators.tables import EVENT_TABLES

    selections = [(definition.numerator, definition.numerator.measure, definition.numerator.sum_of)]
    if definition.denominator.kind == "events":
        selections.append((definition.denominator, "count", None))
    queries = []
    for selection, measure, sum_of in selections:
        table = selection.table
        practice = f"t.{EVENT_TABLES[table].practice_column}"
        day = f"CAST(t.{selection.date} AS DATE)"
        joins, where = "", [_sql_condition(table, c) for c in selection.where]
        if definition.standardisation == "esp2013":
            where.append("t.sex IN ('1', '2')")
        if selection.cohort == "care_home_residents":
            joins = (
                " JOIN care_home_residence r ON r.person_id = t.person_id AND "
                f"{day} >= r.residence_start AND (r.residence_end IS NULL OR {day} <= r.residence_end)"
            )
            practice = "r.practice_code"
        linked = selection.linked
        if linked is not None:
            other = [_sql_condition(linked.table, c).replace("t.", "o.") for c in linked.where]
            gap = (
                f"date_diff('day', CAST(t.{linked.this_date} AS DATE), CAST(o.{linked.linked_date} AS DATE))"
            )
            key = EVENT_TABLES[table].key
            differs = " OR ".join(f"o.{column} <> t.{column}" for column in key)
            same = f" AND ({differs})" if linked.table == table else ""
            where.append(
                f"EXISTS (SELECT 1 FROM {linked.table} o WHERE o.person_id = t.person_id{same} AND "
                f"{gap} BETWEEN {linked.min_days} AND {linked.max_days}"
                + "".join(f" AND {test}" for test in other)
                + ")"
            )
        weight = {
            "count": "count(*)",
            "bed_days": "sum(date_diff('day', t.admission_date, t.discharge_date))",
        }.get(measure, f"sum(t.{sum_of})")
        bands = ", t.sex, least(t.age // 5, 18)" if definition.standardisation == "esp2013" else ""
        queries.append(
            f"SELECT {practice} AS practice, year({day}) * 12 + month({day}) - 1 AS month{bands}, "
            f"{weight} AS value FROM {table} t{joins}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY ALL"
        )
    return queries


DENOMINATOR_FLOOR = [
    "SELECT practice_code, sex, year(registration_start) * 12 + month(registration_start) AS month, "
    "count(*) FROM gp_registrations GROUP BY ALL",
    "SELECT practice_code, year(residence_start) * 12 + month(residence_start) AS month, "
    "sum(date_diff('day', residence_start, coalesce(residence_end, residence_start))) "
    "FROM care_home_residence GROUP BY ALL",
]


# -- one variant, in its own process ---------------------------------------------------------------


def run_variant(variant: str, warehouse: Path) -> dict[str, Any]:
    import duckdb

    from caremodels.indicators import catalogue, indicator_results_many

    started = time.perf_counter()
    totals: dict[str, float] = {}
    rows = 0
    if variant == "floor":
        connection = duckdb.connect(str(warehouse), read_only=True)
        for query in DENOMINATOR_FLOOR:
            rows += len(connection.execute(query).fetchall())
        for definition in catalogue():
            frames = [connection.execute(query).df() for query in floor_queries(definition)]
            rows += sum(len(frame) for frame in frames)
            totals[definition.id] = float(frames[0]["value"].sum())
        connection.close()
    else:
        from caremodels.indicators.ibis_engine import duckdb_engine
        from caremodels.indicators.reference_engine import ReferenceEngine

        engine = duckdb_engine(warehouse) if variant == "engine" else ReferenceEngine(warehouse)
        every = indicator_results_many(engine, catalogue(), levels=["practice"], periods=["month"])
        for indicator_id, results in every.items():
            rows += len(results)
            totals[indicator_id] = float(results["numerator"].sum())
        engine.close()
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "variant": variant,
        "seconds": seconds,
        "peak_mib": peak_kib / 1024,
        "rows": rows,
        "totals": totals,
    }


def measure(variant: str, warehouse: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--run-one", variant, "--warehouse", str(warehouse)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    # Other work on the machine slows every variant; the one-minute load average says how busy it was.
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    return result


def describe(warehouse: Path) -> str:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as connection:
        counts = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLE_FILES}  # type: ignore[index]
        practices = connection.execute(
            "SELECT count(DISTINCT practice_code) FROM gp_registrations"
        ).fetchone()[0]  # type: ignore[index]
        first, last = connection.execute(
            "SELECT min(admission_date), max(admission_date) FROM apc_spells"
        ).fetchone()  # type: ignore[misc]
    rows = sum(counts.values())
    return (
        f"{practices:,} practices, {counts['gp_registrations']:,} registrations, {rows:,} rows in the "
        f"{len(TABLE_FILES)} tables read; admissions {first} to {last}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=["tiny", "region", "england"], default="region")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--start", default="2013-04")
    parser.add_argument("--end", default="2020-03")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/caremodels-indicator-benchmark"))
    parser.add_argument("--warehouse", type=Path, help="Use this warehouse instead of building one.")
    parser.add_argument(
        "--load-directly",
        action="store_true",
        help="Build the warehouse by copying the Parquet files straight in (no ingest), for data larger "
        "than ingest can load in this machine's memory.",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    parser.add_argument("--run-one", choices=VARIANTS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.run_one:
        print(json.dumps(run_variant(arguments.run_one, arguments.warehouse)))
        return 0

    arguments.work.mkdir(parents=True, exist_ok=True)
    warehouse = arguments.warehouse or build_warehouse(
        arguments.work,
        arguments.scale,
        arguments.fraction,
        arguments.start,
        arguments.end,
        arguments.workers,
        direct=arguments.load_directly,
    )
    print(f"warehouse: {warehouse}\n  {describe(warehouse)}", flush=True)
    variants = [v for v in arguments.variants.split(",") if v]
    from caremodels.indicators import catalogue

    results = {}
    for variant in variants:
        load = os.getloadavg()[0]
        print(f"running {variant} (load average {load:.2f}) ...", flush=True)
        results[variant] = measure(variant, warehouse)
        results[variant]["load_average_before"] = round(load, 2)
    engine = results.get("engine")
    print(
        f"\nwhole catalogue ({len(catalogue())} indicators), every practice and month; {os.cpu_count()} cores"
    )
    print(
        f"{'variant':8s} {'wall (s)':>10s} {'peak memory (MiB)':>18s} {'rows':>10s} {'engine is':>22s}"
        f" {'load before/after':>18s}"
    )
    for variant, result in results.items():
        ratio = ""
        if engine and variant != "engine":
            ratio = (
                f"{result['seconds'] / engine['seconds']:.1f}x faster"
                if variant == "pandas"
                else (f"{engine['seconds'] / result['seconds']:.2f}x the floor")
            )
        load = f"{result['load_average_before']:.2f}/{result['load_average_after']:.2f}"
        print(
            f"{variant:8s} {result['seconds']:10.1f} {result['peak_mib']:18.0f} {result['rows']:10,d} {ratio:>22s}"
            f" {load:>18s}"
        )
    if engine:
        for variant in ("pandas", "floor"):
            if variant in results:
                differing = [
                    indicator
                    for indicator, total in engine["totals"].items()
                    if abs(total - results[variant]["totals"][indicator]) > 1e-6 * max(1.0, abs(total))
                ]
                print(
                    f"numerators equal to {variant}'s: {'yes' if not differing else 'NO: ' + ', '.join(differing)}"
                )
    if arguments.json:
        recorded = {
            "warehouse": str(warehouse),
            "data": describe(warehouse),
            "cores": os.cpu_count(),
            **results,
        }
        arguments.json.write_text(json.dumps(recorded, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
