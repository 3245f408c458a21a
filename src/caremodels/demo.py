"""The demo: build a synthetic health economy, load it, compute, evaluate; the CLI then serves it.

Everything lands in one folder (``caremodels-demo/`` by default): the synthetic source files, a
pseudonymisation key made for this folder (readable by its owner only, never in the repository),
the warehouse, the results, and the direct-care side: an operational store (``care-record.sqlite``)
holding the same people under their NHS numbers, which the CLI serves as the shared care record
beside the dashboard. The last step tells the programme's central story on the synthetic
Wakefield-like care-home site (Connecting Care Wakefield): its own uncontrolled before-and-after
figure beside the matched-control estimate, and why they differ
(``caremodels.evaluation.before_after_versus_matched``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from caremodels.care_record import init_store, open_store
from caremodels.care_record.load import LoadSummary, load_synth
from caremodels.errors import CaremodelsError
from caremodels.evaluation import (
    BeforeAfterVersusMatched,
    Estimate,
    EvaluationResult,
    before_after_versus_matched,
    evaluate,
    indicator_counts,
)
from caremodels.evaluation.matched import MatchedDiagnostics
from caremodels.evaluation.monitoring import BaselineDiagnostics
from caremodels.evaluation.result import diagnostics_of, published_model
from caremodels.indicators.output import compute_to_file
from caremodels.ingest import Pseudonymiser, load_file, load_key
from caremodels.programme import practices_of_care_model
from caremodels.progress import Reporter
from caremodels.reference import VANGUARD_CARE_MODELS
from caremodels.synth import SynthConfig, default_effects_path, generate, load_effects
from caremodels.synth.config import EffectsFile
from caremodels.warehouse import Warehouse

__all__ = ["CARE_HOME_SITE", "DemoSummary", "run_demo"]

# The care-home site whose reported before-and-after figures the default effects reproduce.
CARE_HOME_SITE = "Wakefield care homes"
INDICATOR = "emergency_admissions"
# The care-home site is measured on its residents' indicator, per resident-year, as the report does.
CARE_HOME_INDICATOR = "care_home_emergency_admissions"


@dataclass
class DemoSummary:
    warehouse: Path
    results: Path
    # The operational store of the shared care record (a SQLAlchemy URL), or None if not built.
    care_record_store: str | None = None
    lines: list[str] = field(default_factory=list)
    # The care-home site's own figure beside the matched estimate; None (with the reason in
    # ``care_home_error``) if the economy cannot support the comparison.
    care_home: BeforeAfterVersusMatched | None = None
    care_home_error: str | None = None


def run_demo(
    out_dir: Path,
    *,
    scale: str = "tiny",
    seed: int = 20150310,
    reporter: Reporter | None = None,
    care_record: bool = True,
) -> DemoSummary:
    reporter = reporter or Reporter(quiet=True)
    source_dir, results_dir = out_dir / "synthetic", out_dir / "results"
    warehouse_path = out_dir / "warehouse.duckdb"
    effects = load_effects(default_effects_path())
    config = SynthConfig.model_validate({"scale": scale, "seed": seed, "effects": effects})
    with reporter.step(f"1/5 Generating a {scale} synthetic economy") as update:
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
        reporter.step("2/5 Loading into the warehouse", total=len(files)) as update,
    ):
        for index, path in enumerate(files):
            loads.append(load_file(warehouse, path, pseudonymiser=pseudonymiser))
            update(index + 1, len(files))
    with reporter.step("3/5 Computing emergency admissions by practice and month"):
        rows = compute_to_file(
            warehouse_path,
            INDICATOR,
            level="practice",
            period="month",
            out_file=results_dir / "emergency_admissions_practice_month.csv",
        )
    comparisons: list[EvaluationResult] = []
    care_home: BeforeAfterVersusMatched | None = None
    care_home_error: str | None = None
    with Warehouse(warehouse_path, read_only=True) as warehouse:
        with reporter.step("4/5 Comparing care models with the rest of England"):
            counts = indicator_counts(warehouse, INDICATOR)
            present = set(counts["practice_code"])
            for model in VANGUARD_CARE_MODELS:
                if practices_of_care_model(model) & present:
                    comparisons.append(
                        evaluate(
                            warehouse, indicator=INDICATOR, method="baseline", care_model=model, counts=counts
                        )
                    )
        with reporter.step(f"5/5 {CARE_HOME_SITE}: the site's own figure beside matched controls"):
            try:
                care_home = before_after_versus_matched(
                    warehouse, CARE_HOME_SITE, indicator=CARE_HOME_INDICATOR
                )
            except CaremodelsError as error:
                care_home_error = str(error)
    (results_dir / "evaluation.json").write_text(
        json.dumps([result.published().model_dump(mode="json") for result in comparisons], indent=2) + "\n",
        encoding="utf-8",
    )
    care_home_file = results_dir / "care_home_before_after_versus_matched.json"
    care_home_document = (
        published_model(care_home).model_dump(mode="json")
        if care_home is not None
        else {"site": CARE_HOME_SITE, "error": care_home_error}
    )
    care_home_file.write_text(json.dumps(care_home_document, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"Synthetic economy: {synthetic.people:,} people at {synthetic.practices} practices, "
        f"{synthetic.events['apc_spells']:,} hospital spells ({out_dir / 'synthetic'})",
        "Loaded: "
        + "; ".join(
            f"{load.table} {load.rows_loaded:,} rows ({load.rows_quarantined} quarantined)" for load in loads
        ),
        f"Indicator: {rows:,} practice-months written to {results_dir / 'emergency_admissions_practice_month.csv'}",
    ]
    for result in comparisons:
        diagnostics = diagnostics_of(result, BaselineDiagnostics)
        lines.append(
            f"{result.target['area']}: emergency admissions {diagnostics.growth:+.1%} from "
            f"{result.periods['baseline']} to {result.periods['comparison']}, rest of England "
            f"{diagnostics.rest_growth:+.1%} (ratio {result.estimate.rate_ratio:.3f}, "
            f"{_interval(result.estimate, ratio=True)})"
            + (
                f"; against {result.comparison_pool.comparison_practices} comparison practices "
                f"({result.comparison_pool.rule})"
                if result.comparison_pool is not None
                else ""
            )
        )
    lines.extend(_care_home_lines(care_home, care_home_error, effects, care_home_file))
    store_url = None
    if care_record:
        with reporter.step("Direct care: loading the same people into the shared care record"):
            store_url, loaded = _care_record_store(out_dir / "care-record.sqlite", source_dir)
        lines.append(
            "Care record: "
            + "; ".join(f"{name} {count:,}" for name, count in loaded.loaded.items())
            + f"; {loaded.users} demo users ({out_dir / 'care-record.sqlite'})"
        )
    return DemoSummary(
        warehouse=warehouse_path,
        results=results_dir,
        care_record_store=store_url,
        lines=lines,
        care_home=care_home,
        care_home_error=care_home_error,
    )


def _care_record_store(path: Path, source_dir: Path) -> tuple[str, LoadSummary]:
    """A fresh operational store at ``path`` filled from the synthetic economy (identifiable: it stays
    on this machine, beside the warehouse that holds only pseudonyms)."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{path.resolve()}"
    init_store(url)
    store = open_store(url)
    try:
        return url, load_synth(store, source_dir)
    finally:
        store.close()


def _interval(estimate: Estimate, *, ratio: bool = False) -> str:
    if not (math.isfinite(estimate.ci_low) and math.isfinite(estimate.ci_high)):
        return "no 95% CI"
    if ratio:
        return f"95% CI {estimate.ci_low:.3f} to {estimate.ci_high:.3f}"
    return f"95% CI {(estimate.ci_low - 1) * 100:+.1f}% to {(estimate.ci_high - 1) * 100:+.1f}%"


def _care_home_lines(
    care_home: BeforeAfterVersusMatched | None, error: str | None, effects: EffectsFile, document: Path
) -> list[str]:
    if care_home is None:
        return [f"{CARE_HOME_SITE}: the before-and-after and matched comparison was not computed: {error}"]
    own = care_home.before_after
    matched = care_home.matched
    lines = [
        f"{care_home.site}, emergency admissions of care home residents ({CARE_HOME_INDICATOR}, per resident-year):",
        f"  site's own before-and-after ({own.baseline.financial_year} to {own.comparison.financial_year}): "
        f"{own.result.estimate.percent_change:+.1f}% ({_interval(own.result.estimate)})",
        f"  matched controls ({diagnostics_of(matched, MatchedDiagnostics).matched_treated} new residents from "
        f"{own.comparison.financial_year} matched): {matched.estimate.percent_change:+.1f}% "
        f"({_interval(matched.estimate)})",
    ]
    if matched.comparison_pool is not None:
        lines.append(f"  {matched.comparison_pool.summary()}")
    lines.append(
        f"  the same figure: caremodels evaluate --site {CARE_HOME_SITE!r} --method matched "
        f"--indicator {CARE_HOME_INDICATOR} --start {matched.periods['followup'][:7]}"
    )
    # What this synthetic economy planted, so the two figures can be judged against the truth.
    for effect in effects.effects:
        if effect.measure == INDICATOR and effect.target.cohort == "care_home_residents":
            lines.append(
                f"  planted in this economy: {effect.relative_change:+.0%} for residents of every "
                f"{effect.target.care_model or effect.target.site} site from {effect.start:%Y-%m}"
                + (f", phased in over {effect.ramp_months} months" if effect.ramp_months else "")
            )
    for factor in effects.non_causal:
        if factor.measure == INDICATOR and factor.target.site == CARE_HOME_SITE:
            lines.append(
                f"  and a change no care model caused: {factor.relative_change:+.0%} from "
                f"{factor.start:%Y-%m} to {factor.end:%Y-%m} ({factor.reason.replace('_', ' ')})"
            )
    lines.append("  Why they differ:")
    lines.extend(f"  - {line}" for line in care_home.explanation)
    lines.append(f"  Written to {document}")
    return lines
