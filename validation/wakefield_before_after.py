"""The Wakefield care homes story on a synthetic economy: the site's own before-and-after figure
beside the matched-control estimate, and why they differ.

The default planted effects (``src/caremodels/synth/default_effects.yaml``) give care home residents
of every EHCH site a modest true effect (-5% emergency admissions from April 2016) and the homes of
Connecting Care Wakefield a transient high year in 2015/16 (a non-causal factor). This script builds
such an economy, loads it through the ingest boundary, and prints
``caremodels.evaluation.before_after_versus_matched`` for Wakefield, with the planted truth.

    nice -n 19 .venv/bin/python validation/wakefield_before_after.py --scale region --fraction 0.1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path

from caremodels.evaluation import before_after_versus_matched
from caremodels.ingest import Pseudonymiser, load_file
from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects
from caremodels.warehouse import Warehouse

TABLES = ("gp_registrations", "apc_spells", "care_home_residence", "conditions", "frailty_assessments")
KEY = b"caremodels-validation-key-not-secret-0123"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="region", choices=["tiny", "region"])
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=20150310)
    arguments = parser.parse_args(argv)
    config = SynthConfig.model_validate(
        {
            "scale": arguments.scale,
            "fraction": arguments.fraction,
            "seed": arguments.seed,
            "effects": load_effects(default_effects_path()),
        }
    )
    with tempfile.TemporaryDirectory(prefix="caremodels-wakefield-") as folder:
        synthetic = generate(config, Path(folder) / "synthetic")
        warehouse_path = Path(folder) / "warehouse.duckdb"
        with Warehouse(warehouse_path) as warehouse:
            for table in TABLES:
                load_file(
                    warehouse,
                    synthetic.files[table],
                    pseudonymiser=Pseudonymiser(KEY),
                    today=dt.date(2026, 1, 1),
                )
        with Warehouse(warehouse_path, read_only=True) as warehouse:
            comparison = before_after_versus_matched(warehouse, "Wakefield care homes")
        truth = json.loads((Path(folder) / "synthetic" / "truth.json").read_text(encoding="utf-8"))
    planted = [
        effect
        for effect in truth["effects"]
        if effect["measure"] == "emergency_admissions" and effect["target"].get("care_model") == "EHCH"
    ]
    own, matched = comparison.before_after.result.estimate, comparison.matched.estimate
    print(f"economy: {arguments.scale}, fraction {arguments.fraction}, seed {arguments.seed}")
    for effect in planted:
        print(
            f"planted effect on EHCH care home residents: {effect['relative_change']:+.0%} from "
            f"{effect['start'][:7]}, phased in over {effect['ramp_months']} months"
        )
    print(
        f"site's own before-and-after ({comparison.before_after.baseline.financial_year} to "
        f"{comparison.before_after.comparison.financial_year}): {own.percent_change:+.1f}% "
        f"(95% CI {(own.ci_low - 1) * 100:+.1f}% to {(own.ci_high - 1) * 100:+.1f}%)"
    )
    print(
        f"matched controls: {matched.percent_change:+.1f}% (95% CI {(matched.ci_low - 1) * 100:+.1f}% to "
        f"{(matched.ci_high - 1) * 100:+.1f}%), {comparison.matched.diagnostics['matched_treated']} new residents "
        f"matched, largest |SMD| after matching {comparison.matched.diagnostics['max_abs_smd_after']:.2f}"
    )
    print("balance (standardised mean differences before -> after matching):")
    for row in comparison.matched.diagnostics["balance"] + comparison.matched.diagnostics["area_balance"]:
        print(f"  {row['label']}: {row['smd_before']:+.2f} -> {row['smd_after']:+.2f}")
    inference = comparison.matched.diagnostics["inference"]
    print(f"interval: {inference['method']}, {inference['placebos']} placebos")
    print("explanation:")
    for line in comparison.explanation:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
