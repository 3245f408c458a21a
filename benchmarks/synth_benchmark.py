"""Speed and memory of `caremodels synth` at each scale: rows (events) per second and peak memory.

Each scale runs in its own process (so peak memory is its own). Beside each run the script prints a
baseline measured in the same run: the time to read the run's Parquet files and write them again,
which is the floor that encoding and writing alone cost.

Run from the repository root:
    .venv/bin/python benchmarks/synth_benchmark.py                  # tiny, region, england 2019/20 at 5%
    .venv/bin/python benchmarks/synth_benchmark.py --scales england --england-fraction 0.2 --workers 2

The issue's targets: region within a few minutes; england for one financial year within 15 minutes
and 8 GB on a 2-core machine. A fraction of england is timed and scaled up linearly (practices are
independent, and memory holds a few practices at a time), and the script says so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

_PEOPLE = """
import json, sys
import numpy as np
from caremodels.synth import SynthConfig
from caremodels.synth.economy import select_practices
from caremodels.synth.generate import _list_counts
from caremodels.synth.population import Calendar
config = SynthConfig.model_validate(json.loads(sys.argv[1]))
calendar = Calendar.of(config)
economy = select_practices(config, np.random.default_rng(config.seed))
print(sum(sum(_list_counts(practice, calendar)) for practice in economy))
"""
_RUN = """
import json, resource, sys, time
from pathlib import Path
from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects
config = SynthConfig.model_validate(json.loads(sys.argv[1]) | {"effects": load_effects(default_effects_path())})
wall, cpu = time.perf_counter(), time.process_time()
result = generate(config, Path(sys.argv[2]), workers=int(sys.argv[3]))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall_s": wall,
    "cpu_s": cpu + children.ru_utime + children.ru_stime,
    "people": result.people,
    "practices": result.practices,
    "rows": sum(result.events.values()),
    "rows_by_table": result.events,
    "peak_rss_gb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children.ru_maxrss) / 1e6,
}))
"""


def _rewrite_seconds(folder: Path) -> float:
    """Baseline: read every Parquet file of the run and write it again."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for path in sorted(folder.glob("*.parquet")):
            pq.write_table(pq.read_table(path), Path(scratch) / path.name, compression="zstd")
    return time.perf_counter() - start


def _people(config: dict[str, object]) -> int:
    """People a configuration would generate (list sizes only, nothing generated)."""
    completed = subprocess.run(
        [sys.executable, "-c", _PEOPLE, json.dumps(config)], capture_output=True, text=True, check=True
    )
    return int(completed.stdout.strip())


def _run(
    name: str, config: dict[str, object], workers: int, whole: dict[str, object] | None
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        completed = subprocess.run(
            [sys.executable, "-c", _RUN, json.dumps(config), folder, str(workers)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
        figures["baseline_rewrite_s"] = _rewrite_seconds(Path(folder))
    # A fraction is scaled up to the whole scale by people (practices differ in size).
    scale_up = _people(whole) / figures["people"] if whole is not None else 1.0
    figures |= {"name": name, "config": config, "workers": workers, "scale_up": scale_up}
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["tiny", "region", "england"])
    parser.add_argument("--england-fraction", type=float, default=0.05)
    parser.add_argument("--region-fraction", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    arguments = parser.parse_args()
    runs = []
    for scale in arguments.scales:
        if scale == "tiny":
            runs.append(_run("tiny (2013/14-2019/20)", {"scale": "tiny"}, 1, None))
        elif scale == "region":
            fraction = arguments.region_fraction
            config: dict[str, object] = {"scale": "region", "fraction": fraction}
            whole = {"scale": "region"} if fraction < 1 else None
            runs.append(
                _run(f"region (2013/14-2019/20, fraction {fraction:g})", config, arguments.workers, whole)
            )
        elif scale == "england":
            fraction = arguments.england_fraction
            year = {"start": "2019-04-01", "end": "2020-03-01"}
            config = {"scale": "england", "fraction": fraction} | year
            whole = {"scale": "england"} | year if fraction < 1 else None
            runs.append(_run(f"england 2019/20 (fraction {fraction:g})", config, arguments.workers, whole))
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    header = f"{'run':44} {'people':>11} {'rows':>12} {'wall s':>8} {'cpu s':>8} {'rows/s':>9} {'peak GB':>8} {'baseline s':>10}"
    print(header)
    for run in runs:
        print(
            f"{run['name']:44} {run['people']:>11,} {run['rows']:>12,} {run['wall_s']:>8.1f} {run['cpu_s']:>8.1f} "
            f"{run['rows'] / run['wall_s']:>9,.0f} {run['peak_rss_gb']:>8.2f} {run['baseline_rewrite_s']:>10.1f}"
        )
        if run["scale_up"] != 1.0:
            factor = float(run["scale_up"])
            print(
                f"{'  scaled to the whole scale (x' + format(factor, '.3g') + ')':44} {run['people'] * factor:>11,.0f} "
                f"{run['rows'] * factor:>12,.0f} {run['wall_s'] * factor:>8.0f} {run['cpu_s'] * factor:>8.0f}"
                f"{'':>10} {'(memory does not scale: one practice at a time)':>8}"
            )
    print(
        "baseline: seconds to read the run's Parquet files and write them again (encoding and writing alone)"
    )
    if arguments.json:
        arguments.json.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
