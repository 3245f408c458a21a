"""The demo: build a synthetic health economy, load it, compute, evaluate; the CLI then serves it.

Everything lands in one folder (``caremodels-demo/`` by default): the synthetic source files, a
pseudonymisation key made for this folder (readable by its owner only, never in the repository),
the warehouse, and the results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from caremodels.analysis import compare_with_rest, indicator_counts
from caremodels.cli.console import Reporter
from caremodels.indicators.output import compute_to_file
from caremodels.ingest import Pseudonymiser, load_file, load_key
from caremodels.programme import practices_of_care_model
from caremodels.reference import VANGUARD_CARE_MODELS
from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects
from caremodels.warehouse import Warehouse

__all__ = ["DemoSummary", "run_demo"]


@dataclass
class DemoSummary:
    warehouse: Path
    results: Path
    lines: list[str] = field(default_factory=list)


def run_demo(
    out_dir: Path, *, scale: str = "tiny", seed: int = 20150310, reporter: Reporter | None = None
) -> DemoSummary:
    reporter = reporter or Reporter(quiet=True)
    source_dir, results_dir = out_dir / "synthetic", out_dir / "results"
    warehouse_path = out_dir / "warehouse.duckdb"
    config = SynthConfig.model_validate(
        {"scale": scale, "seed": seed, "effects": load_effects(default_effects_path())}
    )
    with reporter.step(f"1/4 Generating a {scale} synthetic economy") as update:
        synthetic = generate(config, source_dir, progress=update)
    # A fresh warehouse each run: the demo is a reproducible picture, not an accumulating store.
    for stale in (warehouse_path, warehouse_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    pseudonymiser = Pseudonymiser(load_key(out_dir / "pseudonymisation.key", create=True))
    # Registrations first, so that every activity table has its denominators.
    files = sorted(
        synthetic.files.values(), key=lambda path: (not path.name.startswith("gp_registrations"), path.name)
    )
    loads = []
    with (
        Warehouse(warehouse_path) as warehouse,
        reporter.step("2/4 Loading into the warehouse", total=len(files)) as update,
    ):
        for index, path in enumerate(files):
            loads.append(load_file(warehouse, path, pseudonymiser=pseudonymiser))
            update(index + 1, len(files))
    with reporter.step("3/4 Computing emergency admissions by practice and month"):
        rows = compute_to_file(
            warehouse_path,
            "emergency_admissions",
            level="practice",
            period="month",
            out_file=results_dir / "emergency_admissions_practice_month.csv",
        )
    comparisons = []
    with (
        reporter.step("4/4 Comparing care models with the rest of England"),
        Warehouse(warehouse_path, read_only=True) as warehouse,
    ):
        counts = indicator_counts(warehouse, "emergency_admissions")
        present = set(counts["practice_code"])
        for model in VANGUARD_CARE_MODELS:
            if practices_of_care_model(model) & present:
                comparisons.append(
                    compare_with_rest(counts, indicator_id="emergency_admissions", care_model=model)
                )
    (results_dir / "evaluation.json").write_text(
        json.dumps([c.result.model_dump(mode="json") for c in comparisons], indent=2) + "\n", encoding="utf-8"
    )
    lines = [
        f"Synthetic economy: {synthetic.people:,} people at {synthetic.practices} practices, "
        f"{synthetic.events['apc_spells']:,} hospital spells ({out_dir / 'synthetic'})",
        "Loaded: "
        + "; ".join(
            f"{load.table} {load.rows_loaded:,} rows ({load.rows_quarantined} quarantined)" for load in loads
        ),
        f"Indicator: {rows:,} practice-months written to {results_dir / 'emergency_admissions_practice_month.csv'}",
    ]
    for comparison in comparisons:
        estimate = comparison.result.estimate
        lines.append(
            f"{comparison.area}: emergency admissions {comparison.growth:+.1%} from {comparison.baseline.financial_year} "
            f"to {comparison.comparison.financial_year}, rest of England {comparison.rest_growth:+.1%} "
            f"(ratio {estimate.rate_ratio:.3f}, 95% CI {estimate.ci_low:.3f} to {estimate.ci_high:.3f})"
        )
    return DemoSummary(warehouse=warehouse_path, results=results_dir, lines=lines)
