"""Run Making Data Count SPC on real A&E 4-hour performance, April 2016 to March 2019.

For every provider (org_code) in NHS England's monthly A&E statistics, and for England as a
whole, the 4-hour performance (1 - breaches / attendances, all department types together) is
charted as an XmR chart with higher values better and the 95% standard as the target. The
script prints a summary: how many providers show special cause on their latest month, how
many consistently pass, fail, or hit and miss 95%, and England's limits.

    .venv/bin/python validation/spc_real_ae.py [PATH_TO_CSV]

PATH_TO_CSV defaults to ../shared/data/ae_attendances_2016-2019.csv next to the project.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from caremodels.evaluation.spc import MIN_RECOMMENDED_POINTS, ShortSeriesWarning, SpcResult, spc
from caremodels.indicators.published import (
    FOUR_HOUR_STANDARD,
    four_hour_performance,
    group_four_hour_performance,
)
from caremodels.ingest.aggregates import load_aggregate

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = PROJECT.parent / "shared" / "data" / "ae_attendances_2016-2019.csv"
TARGET = FOUR_HOUR_STANDARD


def monthly_performance(data: Path, warehouse_path: Path) -> pd.DataFrame:
    """One row per provider and month (all department types together), from the statistics loaded
    into a warehouse: the numbers every output takes (``caremodels.indicators.published``)."""
    result = load_aggregate("ae", data, warehouse_path)
    if result.rows_quarantined:
        print(f"quarantined {result.rows_quarantined} rows: {result.quarantine_by_reason}")
    monthly = four_hour_performance(warehouse_path, department_type=None)
    return monthly.assign(period=pd.to_datetime(monthly["period"]))


def count_gaps(monthly: pd.DataFrame) -> int:
    """Providers whose months are not consecutive (a moving range then spans the gap)."""
    gaps = 0
    for _, months in monthly.groupby("org_code")["period"]:
        expected = pd.date_range(months.min(), months.max(), freq="MS")
        gaps += len(expected) != len(months)
    return gaps


def describe(results: list[SpcResult], latest: pd.Timestamp) -> list[str]:
    icons = Counter(r.variation_icon for r in results)
    kinds = Counter(r.points[-1].special_cause_type for r in results)
    rules = Counter(r.points[-1].special_cause_rule for r in results if r.points[-1].rules)
    current = sum(r.points[-1].date == latest.date() for r in results)
    assurance = Counter(r.assurance_icon for r in results)
    return [
        f"  providers charted: {len(results)} ({current} with data for {latest:%b %Y})",
        f"  latest month special cause concern:     {kinds['concern']:4d}",
        f"  latest month special cause improvement: {kinds['improvement']:4d}",
        f"  latest month common cause:              {icons['common_cause']:4d}",
        "  variation icons: " + ", ".join(f"{k} {v}" for k, v in sorted(icons.items())),
        "  rule behind the latest-month signals: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())),
        f"  assurance against {TARGET:.0%}: pass {assurance['pass']}, fail {assurance['fail']}, "
        f"hit and miss {assurance['hit_and_miss']}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="A&E CSV")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        warehouse_path = Path(folder) / "published.duckdb"
        monthly = monthly_performance(args.data, warehouse_path)
        major = set(four_hour_performance(warehouse_path, department_type="1")["org_code"])
        england = group_four_hour_performance(warehouse_path, set(monthly["org_code"]))
    return report(args.data, monthly, major, england.assign(period=pd.to_datetime(england["period"])))


def report(data: Path, monthly: pd.DataFrame, major: set[str], england: pd.DataFrame) -> int:
    latest = monthly["period"].max()
    months = monthly.groupby("org_code")["period"].nunique()
    too_short = sorted(months[months < 2].index)
    charted = monthly[~monthly["org_code"].isin(too_short)]

    with warnings.catch_warnings():
        # The summary below counts the short series itself; keep the console readable.
        warnings.simplefilter("ignore", ShortSeriesWarning)
        providers = spc(
            charted,
            value="performance",
            date="period",
            group="org_code",
            improvement="increase",
            target=TARGET,
        )
    short = sum(r.n_points < MIN_RECOMMENDED_POINTS for r in providers)

    print(f"A&E 4-hour performance SPC: {data.name}")
    print(
        f"{len(monthly):,} provider-months, {monthly['org_code'].nunique()} providers, "
        f"{monthly['period'].min():%b %Y} to {latest:%b %Y}"
    )
    print(f"excluded {len(too_short)} provider(s) with fewer than 2 months: {', '.join(too_short) or 'none'}")
    print(
        f"{short} charted providers have fewer than {MIN_RECOMMENDED_POINTS} months "
        f"(provisional limits); {count_gaps(charted)} have gaps between months"
    )
    print("All charted providers (XmR, improvement = increase, target 95%):")
    print("\n".join(describe(providers, latest)))
    full = [r for r in providers if r.n_points == monthly["period"].nunique()]
    print(f"Providers with all {monthly['period'].nunique()} months:")
    print("\n".join(describe(full, latest)))
    # Units without a major (type 1) department often have no breaches at all, which makes
    # them "pass"; the type 1 providers are the ones the 95% standard is argued over.
    print("Providers with a type 1 (major) A&E department:")
    print("\n".join(describe([r for r in providers if r.group in major], latest)))
    flat = [r for r in providers if r.segments[-1].mean_moving_range == 0]
    flat_icons = Counter(r.variation_icon for r in flat)
    print(
        f"{len(flat)} providers have a mean moving range of 0 (e.g. 100% nearly every month), "
        "so zero-width limits; their variation icons: "
        + ", ".join(f"{k} {v}" for k, v in sorted(flat_icons.items()))
    )

    (total,) = spc(england, value="performance", date="period", improvement="increase", target=TARGET)
    (segment,) = total.segments
    last = total.points[-1]
    print(f"England total ({total.n_points} months):")
    print(
        f"  mean {segment.mean:.4f}, limits {segment.lower_limit:.4f} to "
        f"{segment.upper_limit:.4f}, two sigma {segment.lower_two_sigma:.4f} to "
        f"{segment.upper_two_sigma:.4f}"
    )
    print(
        f"  mean moving range {segment.mean_moving_range:.4f} "
        f"({segment.moving_ranges_screened_out} screened out of {total.n_points - 1})"
    )
    print(
        f"  latest {last.date:%b %Y}: {last.value:.4f}; variation {total.variation_icon}; "
        f"assurance {total.assurance_icon}"
    )
    signals = Counter(p.special_cause_rule for p in total.points if p.special_cause_rule)
    print("  special-cause points: " + (", ".join(f"{k} {v}" for k, v in sorted(signals.items())) or "none"))
    flagged = [p for p in total.points if p.special_cause_rule]
    for p in flagged:
        print(f"    {p.date:%b %Y} {p.value:.4f} {p.special_cause_rule} ({p.special_cause_type})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
