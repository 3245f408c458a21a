"""Risk scoring benchmark: ``caremodels.risk.score`` (every model's risk, tier and segment for every
person registered on the index date, written to Parquet) against the floor measured in the same run:
a bare DuckDB pass over the same features (the feature SQL, summed per column: every feature of
every person computed, no model, no tiers, nothing written).

Each variant runs in its own process, so its peak memory (maximum resident set size, including
DuckDB's native memory) is its own; both use the same number of DuckDB threads.

    # small: an existing warehouse and a model file from `caremodels risk fit`
    .venv/bin/python benchmarks/risk_benchmark.py --warehouse W.duckdb --models models.json

    # England, one year (not run in the repository's CI; see docs/risk-stratification.md)
    .venv/bin/python benchmarks/risk_benchmark.py --work DIR --scale england --start 2018-04 --end 2019-03 \\
        --models models.json --index-date 2019-03-31 --threads 2 --memory-limit 6GB

With --work the synthetic economy is generated (``caremodels synth``) on first use and copied straight
into the warehouse schema (person_id the SHA-256 of the NHS number: benchmark data only), since ingest
cannot hold England in memory on a laptop; later runs reuse it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CAREMODELS = ROOT / ".venv" / "bin" / "caremodels"
TABLES = (
    "gp_registrations",
    "apc_spells",
    "ae_attendances",
    "op_attendances",
    "ambulance_incidents",
    "care_home_residence",
    "conditions",
    "frailty_assessments",
)


def build_warehouse(work: Path, scale: str, fraction: float, start: str, end: str, workers: int) -> Path:
    name = f"risk-{scale}-{fraction:g}-{start}-{end}"
    source, warehouse = work / name, work / f"{name}.duckdb"
    if warehouse.exists():
        return warehouse
    if not (source / "manifest.json").exists():
        command = [str(CAREMODELS), "--quiet", "synth", "--scale", scale, "--fraction", str(fraction)]
        command += ["--start", start, "--end", end, "--workers", str(workers), "--out", str(source)]
        print("building:", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    from caremodels.warehouse import Warehouse
    from caremodels.warehouse.schema import warehouse_columns

    partial = warehouse.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with Warehouse(partial) as store:
        for table in TABLES:
            columns = [name for name, _ in warehouse_columns(table)]
            values = [
                "sha256(nhs_number)" if c == "person_id" else "'benchmark'" if c == "batch_id" else c
                for c in columns
            ]
            path = str(source / f"{table}.parquet").replace("'", "''")
            store.connection.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM read_parquet('{path}')"
            )
    partial.rename(warehouse)
    return warehouse


def run_variant(
    variant: str,
    warehouse: Path,
    models_path: Path,
    index_date: dt.date,
    out: Path,
    threads: int,
    memory: str,
) -> dict[str, Any]:
    from caremodels.risk import FittedModels, score
    from caremodels.risk.features import FEATURES, feature_sql, prepare_connection
    from caremodels.warehouse import Warehouse

    started = time.perf_counter()
    if variant == "floor":
        with Warehouse(warehouse, read_only=True) as store:
            connection = store.connection
            connection.execute(f"SET threads = {threads}")
            if memory:
                connection.execute(f"SET memory_limit = '{memory}'")
            prepare_connection(connection)
            sums = ", ".join(f"sum({name})" for name in FEATURES)
            row = connection.execute(
                f"SELECT count(*), {sums} FROM ({feature_sql(connection, index_date)})"
            ).fetchone()
            people = int(row[0]) if row else 0
    else:
        summary = score(
            warehouse,
            index_date,
            FittedModels.load(models_path),
            out,
            threads=threads,
            memory_limit=memory or None,
        )
        people = summary.people
    seconds = time.perf_counter() - started
    return {
        "variant": variant,
        "seconds": seconds,
        "people": people,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warehouse", type=Path, help="An existing warehouse (else built under --work).")
    parser.add_argument("--work", type=Path, help="Folder for the generated economy and warehouse.")
    parser.add_argument("--scale", default="tiny", choices=["tiny", "region", "england"])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--start", default="2017-04")
    parser.add_argument("--end", default="2019-03")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", type=Path, required=True, help="Model file from `caremodels risk fit`.")
    parser.add_argument("--index-date", default="2019-03-31")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="", help="DuckDB memory limit for both variants, e.g. 6GB.")
    parser.add_argument("--variant", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    index_date = dt.date.fromisoformat(args.index_date)
    if args.variant:
        result = run_variant(
            args.variant, args.warehouse, args.models, index_date, args.out, args.threads, args.memory_limit
        )
        print(json.dumps(result))
        return
    if args.warehouse is None:
        if args.work is None:
            parser.error("give --warehouse or --work")
        args.work.mkdir(parents=True, exist_ok=True)
        args.warehouse = build_warehouse(
            args.work, args.scale, args.fraction, args.start, args.end, args.workers
        )
    out = (args.work or args.warehouse.parent) / "risk-benchmark-scores.parquet"
    results = {}
    for variant in ("floor", "score"):
        command = [sys.executable, __file__, "--variant", variant, "--warehouse", str(args.warehouse)]
        command += ["--models", str(args.models), "--index-date", args.index_date, "--out", str(out)]
        command += ["--threads", str(args.threads), "--memory-limit", args.memory_limit]
        completed = subprocess.run(command, check=True, capture_output=True, text=True)
        results[variant] = json.loads(completed.stdout.strip().splitlines()[-1])
    floor, scored = results["floor"], results["score"]
    if floor["people"] != scored["people"]:
        raise SystemExit(f"the floor saw {floor['people']:,} people and scoring {scored['people']:,}")
    print(f"warehouse {args.warehouse}; index date {args.index_date}; {args.threads} DuckDB threads")
    print(f"{'variant':8s} {'people':>12s} {'seconds':>9s} {'people/s':>12s} {'peak MiB':>9s}")
    for name, result in results.items():
        rate = result["people"] / result["seconds"]
        print(
            f"{name:8s} {result['people']:>12,} {result['seconds']:>9.2f} {rate:>12,.0f} {result['peak_mib']:>9,.0f}"
        )
    print(f"score / floor: {scored['seconds'] / floor['seconds']:.2f}x")


if __name__ == "__main__":
    main()
