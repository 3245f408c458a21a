"""Ingest speed: rows per second for Parquet and CSV, against a plain DuckDB bulk load as the floor.

For every source file of a synthetic economy (``caremodels synth``), in both formats, two loads of
the same file into a fresh DuckDB file are timed in the same run:

- floor: ``INSERT INTO t SELECT * FROM read_parquet(file)`` (or ``read_csv``), no checks at all;
- caremodels: ``load_file``: read, validate every row, quarantine, apply opt-outs, pseudonymise,
  record the batch.

Usage (from the repository root):

    .venv/bin/python benchmarks/ingest_benchmark.py --source DIR [--out DIR]
    .venv/bin/python benchmarks/ingest_benchmark.py --scale region [--fraction 0.25] [--out DIR]

With ``--scale`` the economy is generated first (``caremodels synth``, into ``--out``); CSV copies of
the Parquet files are written with DuckDB. Nothing is kept unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from caremodels.ingest import Pseudonymiser, load_file
from caremodels.warehouse import Warehouse
from caremodels.warehouse.schema import SOURCE_TABLES

KEY = b"benchmark-key-not-secret-0123456789"


def _generate(out: Path, scale: str, fraction: float) -> Path:
    source = out / "parquet"
    command = [
        str(Path(sys.executable).with_name("caremodels")),
        "--quiet",
        "synth",
        "--scale",
        scale,
        "--fraction",
        str(fraction),
        "--out",
        str(source),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"generated {scale} x {fraction} in {time.perf_counter() - started:.0f} s: {' '.join(command[1:])}")
    return source


def _csv_copies(parquet_dir: Path, csv_dir: Path) -> None:
    csv_dir.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect()
    for path in sorted(parquet_dir.glob("*.parquet")):
        target = csv_dir / f"{path.stem}.csv"
        if target.exists() and target.stat().st_mtime > path.stat().st_mtime:
            continue  # kept from an earlier run with --out
        connection.execute(
            f"COPY (SELECT * FROM read_parquet('{path}')) TO '{target}' (HEADER, DELIMITER ',', "
            "TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')"
        )
    connection.close()


def _floor(path: Path, warehouse: Path) -> float:
    """Seconds for a plain bulk load of the file into a fresh DuckDB file."""
    warehouse.unlink(missing_ok=True)
    connection = duckdb.connect(str(warehouse))
    reader = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}', header = true)"
    started = time.perf_counter()
    connection.execute(f"CREATE TABLE t AS SELECT * FROM {reader} LIMIT 0")
    connection.execute(f"INSERT INTO t SELECT * FROM {reader}")
    connection.close()
    return time.perf_counter() - started


def _caremodels(path: Path, warehouse: Path, table: str) -> tuple[float, int, int]:
    """Seconds, rows read and rows quarantined for ``load_file`` into a fresh warehouse."""
    warehouse.unlink(missing_ok=True)
    with Warehouse(warehouse) as store:
        started = time.perf_counter()
        result = load_file(
            store, path, pseudonymiser=Pseudonymiser(KEY), table=table, today=dt.date(2026, 1, 1)
        )
        seconds = time.perf_counter() - started
    return seconds, result.rows_read, result.rows_quarantined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="Folder of Parquet files from caremodels synth.")
    parser.add_argument("--scale", choices=["tiny", "region", "england"])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--out", type=Path, help="Keep the generated files and warehouses here.")
    parser.add_argument(
        "--formats",
        nargs="+",
        choices=["parquet", "csv"],
        default=["parquet", "csv"],
        help="Which copies to load (CSV copies of a whole England are tens of gigabytes).",
    )
    arguments = parser.parse_args()
    if (arguments.source is None) == (arguments.scale is None):
        parser.error("give --source DIR or --scale")
    out = arguments.out or Path(tempfile.mkdtemp(prefix="caremodels-ingest-benchmark-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        parquet_dir = arguments.source or _generate(out, arguments.scale, arguments.fraction)
        csv_dir = out / "csv"
        if "csv" in arguments.formats:
            _csv_copies(parquet_dir, csv_dir)
        print(f"cores: {os.cpu_count()}, DuckDB {duckdb.__version__}")
        header = f"{'file':<34}{'rows':>12}{'floor s':>10}{'floor rows/s':>15}{'ingest s':>10}{'ingest rows/s':>15}{'x floor':>9}"
        print(header)
        totals: dict[str, list[float]] = {}
        for path in sorted(
            [
                *(parquet_dir.glob("*.parquet") if "parquet" in arguments.formats else []),
                *(csv_dir.glob("*.csv") if "csv" in arguments.formats else []),
            ],
            key=lambda p: (p.suffix, p.name),
        ):
            table = path.stem
            if table not in SOURCE_TABLES:
                continue
            floor = _floor(path, out / "floor.duckdb")
            seconds, rows, quarantined = _caremodels(path, out / "warehouse.duckdb", table)
            total = totals.setdefault(path.suffix, [0, 0.0, 0.0])
            total[0] += rows
            total[1] += floor
            total[2] += seconds
            print(
                f"{path.name:<34}{rows:>12,}{floor:>10.2f}{rows / floor:>15,.0f}{seconds:>10.2f}"
                f"{rows / seconds:>15,.0f}{seconds / floor:>9.1f}"
                + (f"  ({quarantined:,} quarantined)" if quarantined else "")
            )
        for suffix, (rows, floor, seconds) in totals.items():
            print(
                f"{'all ' + suffix[1:] + ' files':<34}{int(rows):>12,}{floor:>10.2f}{rows / floor:>15,.0f}"
                f"{seconds:>10.2f}{rows / seconds:>15,.0f}{seconds / floor:>9.1f}"
            )
        # Loads run one after another in this process, so its peak is the largest single load's.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"peak memory of the loading process: {peak:.1f} GB; load average {os.getloadavg()[0]:.1f} at the end"
        )
    finally:
        if arguments.out is None:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
