"""A small, fast version of validation/evaluation_recovery.py: one replicate economy, generated, loaded
through ingest and evaluated by every practice-level method, against the effects planted in it."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _recovery_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "evaluation_recovery", ROOT / "validation" / "evaluation_recovery.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError("cannot load validation/evaluation_recovery.py")
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while the module runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_one_replicate_recovers_the_planted_effect_and_finds_none_where_none_was_planted(
    tmp_path: Path,
) -> None:
    recovery = _recovery_script()
    seed = 3
    practice_effect, _ = recovery.planted_effects(seed)
    rows = recovery.run_replicate(seed, tmp_path, recovery.STUDIES["practice"])
    assert {(row["place"], row["method"]) for row in rows} == {
        (place, method)
        for place in ("Fylde Coast", "Morecambe Bay", "Sunderland")
        for method in ("baseline", "did", "synthetic")
    }
    for row in rows:
        assert row["error"] == ""
        truth = 1 + practice_effect if row["place"] == "Fylde Coast" else 1.0
        assert math.isclose(row["truth"], truth)
        assert row["ci_low"] <= row["truth"] <= row["ci_high"], (row["place"], row["method"])
        assert row["covered"] == 1
        if truth == 1.0:
            assert row["flagged"] == 0


def test_summary_counts_coverage_and_false_alarms() -> None:
    recovery = _recovery_script()
    rows = [
        {
            "method": "did",
            "truth": "1.0",
            "rate_ratio": "1.1",
            "ci_low": "1.01",
            "ci_high": "1.2",
            "covered": "0",
            "flagged": "1",
            "error": "",
        },
        {
            "method": "did",
            "truth": "0.9",
            "rate_ratio": "0.9",
            "ci_low": "0.8",
            "ci_high": "1.0",
            "covered": "1",
            "flagged": "0",
            "error": "",
        },
        {
            "method": "did",
            "truth": "1.0",
            "rate_ratio": "",
            "ci_low": "",
            "ci_high": "",
            "covered": "",
            "flagged": "",
            "error": "too few placebos",
        },
    ]
    summary = {row["method"]: row for row in recovery.summarise(rows)}
    assert summary["did"]["intervals"] == 2 and summary["did"]["errors"] == 1
    assert summary["did"]["coverage"] == 0.5
    assert summary["did"]["flagged"] == 1.0 and summary["did"]["null_places"] == 1
    low, high = recovery.wilson(190, 200)
    assert 0.90 < low < 0.95 < high < 0.98
