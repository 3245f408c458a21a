"""Do the evaluation methods recover planted effects, with honest 95% intervals?

Each replicate is a synthetic health economy (``caremodels.synth.generate`` with its own seed, so its
own practices and people) with effects planted from the start of April 2015:

- Fylde Coast: emergency admissions of everyone registered multiplied by 1 + e, e drawn uniformly
  from -0.15 to -0.05;
- care home residents of every enhanced health in care homes (EHCH) site: emergency admissions
  multiplied by 1 + c, c = 0 in odd replicates (no effect) and drawn from -0.25 to -0.10 in even ones;
- nothing for Morecambe Bay and Sunderland: places with no effect.

The economy is loaded through the ingest boundary into a warehouse, the indicator engine counts
emergency admissions by practice and month, and the methods run: programme monitoring (``baseline``:
2019/20 against 2014/15), difference in differences (``did``) and synthetic control (``synthetic``)
for Fylde Coast, Morecambe Bay and Sunderland; matched controls (``matched``) for the care home
residents of Connecting Care Wakefield. Two studies:

- ``practice`` (default): tiny economies (22 practices, at a tenth of their size except Connecting
  Care Wakefield's, which no practice-level comparison here uses; seconds each), the practice-level
  methods only (a tiny economy has too few comparison care home residents);
- ``care_homes``: region-scale economies sampled to 5% of their practices (practices at full size,
  about 60,000 people), April 2013 to March 2018, matched controls and the practice-level methods.
- ``care_home_outcomes``: the same economies with effects planted on the A&E attendances and the
  emergency bed days of care home residents of every EHCH site instead (each 0 in odd replicates,
  drawn independently from -0.25 to -0.10 in even ones; bed days through the length of stay), and
  matched controls for Connecting Care Wakefield's residents on the catalogue indicators
  ``care_home_ae_attendances`` and ``care_home_emergency_bed_days`` (rows ``matched:INDICATOR``).
  The truth is what the generator realised for the site's residents over 2015/16 to 2017/18
  (``truth.json``: events with the effects over events without), since an A&E effect cannot thin
  the attendances that end in an admission.

Comparisons never include practices of a site that has a planted effect of its own
(``--exclude-site``), so that the truth is known exactly: the rate ratio is 1 + e (or 1 + c, or 1).

A row per replicate, place and method goes to a CSV (resumable: a replicate's methods already there
are skipped). ``--methods`` runs only some methods; with ``--rerun`` their rows are first removed
from the CSV, so that one method is measured afresh after a change to it while the others' rows stay
(``--rerun`` once, then resume without it if interrupted). The summary gives, per method, the share of 95% intervals covering the truth (target
93-97%) and the share of no-effect places flagged (interval excluding 1; target at most 7%), with
Wilson 95% intervals for both.

    nice -n 19 .venv/bin/python validation/evaluation_recovery.py --study practice --replicates 200
    nice -n 19 .venv/bin/python validation/evaluation_recovery.py --study care_homes --replicates 200
    nice -n 10 .venv/bin/python validation/evaluation_recovery.py --study care_home_outcomes --replicates 30
    nice -n 10 .venv/bin/python validation/evaluation_recovery.py --study practice --methods baseline --rerun
    .venv/bin/python validation/evaluation_recovery.py --study practice --summary-only
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caremodels.errors import CaremodelsError
from caremodels.evaluation import evaluate, indicator_counts
from caremodels.ingest import Pseudonymiser, load_file
from caremodels.synth import Effect, EffectsFile, EffectTarget, SynthConfig, generate
from caremodels.warehouse import Warehouse

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "validation" / "results"


@dataclass(frozen=True)
class Study:
    scale: str
    fraction: float
    methods: tuple[str, ...]
    first_month: dt.date
    last_month: dt.date
    # Care-home outcomes with planted effects, each evaluated by matched controls (care_home_outcomes).
    care_home_outcomes: tuple[str, ...] = ()


STUDIES = {
    "practice": Study(
        "tiny", 1.0, ("baseline", "did", "synthetic"), dt.date(2013, 4, 1), dt.date(2020, 3, 1)
    ),
    # Three years of follow-up after the start keep each region-scale replicate under a minute.
    "care_homes": Study(
        "region", 0.05, ("baseline", "did", "synthetic", "matched"), dt.date(2013, 4, 1), dt.date(2018, 3, 1)
    ),
    "care_home_outcomes": Study(
        "region",
        0.05,
        ("matched",),
        dt.date(2013, 4, 1),
        dt.date(2018, 3, 1),
        care_home_outcomes=("care_home_ae_attendances", "care_home_emergency_bed_days"),
    ),
}
# The generator's measure behind each care-home outcome indicator.
CARE_HOME_MEASURES = {
    "care_home_ae_attendances": "ae_attendances",
    "care_home_emergency_bed_days": "emergency_bed_days",
}
TRUTH_YEARS = ("2015/16", "2016/17", "2017/18")
START = dt.date(2015, 4, 1)
INDICATOR = "emergency_admissions"
TABLES = ("gp_registrations", "apc_spells", "ae_attendances")
PERSON_TABLES = ("care_home_residence", "conditions", "frailty_assessments")
# A fixed key: replicates are synthetic, and pseudonyms only need to be consistent within one.
KEY = b"caremodels-validation-key-not-secret-0123"
EFFECT_SITE = "Fylde Coast"
NULL_SITES = ("Morecambe Bay", "Sunderland")
CARE_HOME_SITE = "Connecting Care Wakefield (care homes)"
FIELDS = [
    "seed",
    "place",
    "method",
    "truth",
    "rate_ratio",
    "ci_low",
    "ci_high",
    "p_value",
    "covered",
    "flagged",
    "treated",
    "seconds",
    "error",
]


def planted_effects(seed: int) -> tuple[float, float]:
    """(Fylde Coast relative change, care home relative change) for a replicate."""
    rng = np.random.default_rng([seed, 20150401])
    practice_effect = float(rng.uniform(-0.15, -0.05))
    care_home_effect = 0.0 if seed % 2 else float(rng.uniform(-0.25, -0.10))
    return practice_effect, care_home_effect


def care_home_outcome_effects(seed: int) -> dict[str, float]:
    """Relative change planted on each care-home outcome of a replicate (0 in odd replicates)."""
    rng = np.random.default_rng([seed, 20150402])
    return {
        indicator: 0.0 if seed % 2 else float(rng.uniform(-0.25, -0.10)) for indicator in CARE_HOME_MEASURES
    }


def realised_truth(truth_file: Path, measure: str) -> float:
    """Events with the planted effects over events without, for Connecting Care Wakefield's care
    home residents over the years of follow-up (``truth.json``)."""
    rows = json.loads(truth_file.read_text(encoding="utf-8"))["realised_by_year"]
    chosen = [
        row
        for row in rows
        if row["site"] == "connecting-care-wakefield"
        and row["measure"] == measure
        and row["cohort"] == "care_home_residents"
        and row["financial_year"] in TRUTH_YEARS
    ]
    without = sum(float(row["events_without_effect"]) for row in chosen)
    return sum(float(row["events_with_effect"]) for row in chosen) / without if without else math.nan


def replicate_config(seed: int, study: Study) -> SynthConfig:
    practice_effect, care_home_effect = planted_effects(seed)
    if study.care_home_outcomes:
        care_home_effect = 0.0
    effects = [
        Effect(
            target=EffectTarget(site=EFFECT_SITE),
            measure=INDICATOR,
            relative_change=practice_effect,
            start=START,
            note="validation: practice-level effect",
        )
    ]
    if care_home_effect:
        effects.append(
            Effect(
                target=EffectTarget(care_model="EHCH", cohort="care_home_residents"),
                measure=INDICATOR,
                relative_change=care_home_effect,
                start=START,
                note="validation: care home effect",
            )
        )
    for indicator, change in care_home_outcome_effects(seed).items():
        if study.care_home_outcomes and change:
            effects.append(
                Effect(
                    target=EffectTarget(care_model="EHCH", cohort="care_home_residents"),
                    measure=CARE_HOME_MEASURES[indicator],  # type: ignore[arg-type]
                    relative_change=change,
                    start=START,
                    note=f"validation: care home effect on {indicator}",
                )
            )
    return SynthConfig.model_validate(
        {
            "scale": study.scale,
            "fraction": study.fraction,
            "seed": seed,
            "start": study.first_month,
            "end": study.last_month,
            "effects": EffectsFile(effects=tuple(effects)),
        }
    )


def _row(seed: int, place: str, method: str, truth: float, started: float, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {field: "" for field in FIELDS}
    row.update(
        seed=seed, place=place, method=method, truth=truth, seconds=round(time.perf_counter() - started, 3)
    )
    row.update(values)
    return row


def run_replicate(
    seed: int, work_dir: Path, study: Study, methods: tuple[str, ...] | None = None
) -> list[dict[str, Any]]:
    """Generate, load and evaluate one replicate; one row per place and method (``methods``, default
    the study's)."""
    methods = study.methods if methods is None else methods
    practice_effect, care_home_effect = planted_effects(seed)
    synthetic = generate(replicate_config(seed, study), work_dir / "synthetic")
    warehouse_path = work_dir / "warehouse.duckdb"
    pseudonymiser = Pseudonymiser(KEY)
    with Warehouse(warehouse_path) as warehouse:
        for table in TABLES + (PERSON_TABLES if "matched" in methods else ()):
            if table in synthetic.files:
                load_file(
                    warehouse, synthetic.files[table], pseudonymiser=pseudonymiser, today=dt.date(2026, 1, 1)
                )
    # (place, method, indicator, truth, sites excluded from the comparisons)
    plan: list[tuple[str, str, str, float, tuple[str, ...]]] = []
    if study.care_home_outcomes:
        for indicator in study.care_home_outcomes:
            truth = realised_truth(work_dir / "synthetic" / "truth.json", CARE_HOME_MEASURES[indicator])
            plan.append((CARE_HOME_SITE, f"matched:{indicator}", indicator, truth, (EFFECT_SITE,)))
    else:
        for place, truth in [(EFFECT_SITE, 1 + practice_effect)] + [(site, 1.0) for site in NULL_SITES]:
            excluded = tuple(site for site in (EFFECT_SITE, CARE_HOME_SITE) if site != place)
            for method in ("baseline", "did", "synthetic"):
                if method in methods:
                    plan.append((place, method, INDICATOR, truth, excluded))
        if "matched" in methods:
            plan.append((CARE_HOME_SITE, "matched", INDICATOR, 1 + care_home_effect, (EFFECT_SITE,)))
    rows = []
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        counts = indicator_counts(warehouse, INDICATOR)
        for place, method, indicator, truth, excluded in plan:
            started = time.perf_counter()
            try:
                result = evaluate(
                    warehouse,
                    indicator=indicator,
                    method=method.partition(":")[0],  # type: ignore[arg-type]
                    site=place,
                    start=START,
                    exclude_sites=excluded,
                    counts=counts if indicator == INDICATOR else None,
                )
            except CaremodelsError as error:
                rows.append(_row(seed, place, method, truth, started, error=str(error)))
                continue
            estimate = result.estimate
            finite = math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high)
            diagnostics = result.diagnostics
            treated = getattr(diagnostics, "matched_treated", getattr(diagnostics, "treated_practices", ""))
            rows.append(
                _row(
                    seed,
                    place,
                    method,
                    truth,
                    started,
                    rate_ratio=estimate.rate_ratio,
                    ci_low=estimate.ci_low,
                    ci_high=estimate.ci_high,
                    p_value="" if estimate.p_value is None else estimate.p_value,
                    covered=int(estimate.ci_low <= truth <= estimate.ci_high) if finite else "",
                    flagged=int(not estimate.ci_low <= 1 <= estimate.ci_high) if finite else "",
                    treated=treated,
                    error="" if finite else "no interval (too few placebos)",
                )
            )
    return rows


def wilson(successes: int, trials: int) -> tuple[float, float]:
    if trials == 0:
        return math.nan, math.nan
    z = 1.959964
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def summarise(rows: Iterable[dict[str, str]]) -> list[dict[str, Any]]:
    by_method: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    summary = []
    known = ["baseline", "did", "synthetic", "matched"]
    for method in known + sorted(set(by_method) - set(known)):
        records = by_method.get(method, [])
        if not records and method not in by_method and set(by_method) - set(known):
            continue  # a study of other methods (care_home_outcomes): no empty rows
        # An interval the method declined to give (too few placebos) is a failure, not a miss.
        done = [
            row
            for row in records
            if not row["error"] and row["covered"] != "" and math.isfinite(float(row["ci_low"] or "nan"))
        ]
        nulls = [row for row in done if float(row["truth"]) == 1.0]
        covered = sum(int(row["covered"]) for row in done)
        flagged = sum(int(row["flagged"]) for row in nulls)
        bias = [math.log(float(row["rate_ratio"]) / float(row["truth"])) for row in done]
        widths = [
            math.log(float(row["ci_high"]) / float(row["ci_low"]))
            for row in done
            if row["ci_low"] not in ("", "nan") and float(row["ci_low"]) > 0
        ]
        summary.append(
            {
                "method": method,
                "intervals": len(done),
                "errors": len(records) - len(done),
                "coverage": covered / len(done) if done else math.nan,
                "coverage_ci": wilson(covered, len(done)),
                "null_places": len(nulls),
                "flagged": flagged / len(nulls) if nulls else math.nan,
                "flagged_ci": wilson(flagged, len(nulls)),
                "mean_log_bias": float(np.mean(bias)) if bias else math.nan,
                "median_log_width": float(np.median(widths)) if widths else math.nan,
            }
        )
    return summary


def print_summary(summary: list[dict[str, Any]], replicates: int) -> None:
    print(f"replicates: {replicates}")
    print(
        "| method | intervals | coverage of the truth (95% CI) | no-effect places flagged (95% CI) "
        "| mean bias of log RR | median CI width (log) | no interval |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in summary:
        low, high = row["coverage_ci"]
        flow, fhigh = row["flagged_ci"]
        print(
            f"| {row['method']} | {row['intervals']} | {row['coverage']:.1%} ({low:.1%} to {high:.1%}) | "
            f"{row['flagged']:.1%} of {row['null_places']} ({flow:.1%} to {fhigh:.1%}) | "
            f"{row['mean_log_bias']:+.3f} | {row['median_log_width']:.3f} | {row['errors']} |"
        )


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--study", default="practice", choices=sorted(STUDIES))
    parser.add_argument(
        "--out", type=Path, help="CSV of results (default validation/results/recovery_STUDY.csv)"
    )
    parser.add_argument(
        "--methods", help="comma-separated methods to run (default: the study's); others' rows are kept"
    )
    parser.add_argument(
        "--rerun", action="store_true", help="first remove the rows of --methods for these replicates"
    )
    parser.add_argument("--summary-only", action="store_true")
    arguments = parser.parse_args(argv)
    seeds = range(arguments.first_seed, arguments.first_seed + arguments.replicates)
    study = STUDIES[arguments.study]
    methods = study.methods
    if arguments.methods:
        methods = tuple(method.strip() for method in arguments.methods.split(",") if method.strip())
        unknown = sorted(set(methods) - set(study.methods))
        if unknown:
            parser.error(f"the {arguments.study} study has no method {', '.join(unknown)}")
    out = arguments.out or RESULTS / f"recovery_{arguments.study}.csv"
    if arguments.rerun and not arguments.summary_only and out.exists():
        write_rows(
            out,
            [
                row
                for row in read_rows(out)
                if not (row["method"].partition(":")[0] in methods and int(row["seed"]) in set(seeds))
            ],
        )
    if not arguments.summary_only:
        done = {(int(row["seed"]), row["method"]) for row in read_rows(out)}
        out.parent.mkdir(parents=True, exist_ok=True)
        new_file = not out.exists()
        with out.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=FIELDS)
            if new_file:
                writer.writeheader()
            for seed in seeds:
                wanted = tuple(
                    method
                    for method in methods
                    if (seed, method) not in done
                    and not any((seed, f"{method}:{o}") in done for o in study.care_home_outcomes)
                )
                if not wanted:
                    continue
                started = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="caremodels-recovery-") as folder:
                    rows = run_replicate(seed, Path(folder), study, wanted)
                writer.writerows(rows)
                handle.flush()
                print(f"replicate {seed}: {time.perf_counter() - started:.1f} s", flush=True)
    rows = [row for row in read_rows(out) if int(row["seed"]) in set(seeds)]
    print(
        f"study {arguments.study}: {study.scale} scale, fraction {study.fraction}, "
        f"{study.first_month:%Y-%m} to {study.last_month:%Y-%m}"
    )
    print_summary(summarise(rows), len({row["seed"] for row in rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
