"""The demo path (``run_demo`` without serving): the care-home site's own before-and-after figure
beside the matched-control estimate, with the explanation, printed and written to results/."""

from __future__ import annotations

import json
import math
from pathlib import Path

from caremodels.demo import CARE_HOME_SITE, run_demo


def _finite(estimate: dict[str, float]) -> bool:
    return all(math.isfinite(estimate[key]) for key in ("rate_ratio", "ci_low", "ci_high", "percent_change"))


def test_demo_sets_the_care_home_sites_own_figure_beside_the_matched_estimate(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "demo")
    assert summary.care_home_error is None
    comparison = summary.care_home
    assert comparison is not None
    assert comparison.site == CARE_HOME_SITE

    document = json.loads((summary.results / "care_home_before_after_versus_matched.json").read_text())
    own, matched = document["before_after"]["result"], document["matched"]
    assert own["method"] == "before_after" and matched["method"] == "matched"
    assert own["periods"] == {"baseline": "2015/16", "comparison": "2016/17"}
    for estimate in (own["estimate"], matched["estimate"]):
        assert _finite(estimate)
        assert estimate["ci_low"] < estimate["rate_ratio"] < estimate["ci_high"]
    # Enough residents to match at the demo's tiny scale, and the balance table to judge them by.
    assert matched["diagnostics"]["matched_treated"] >= 50
    assert matched["diagnostics"]["balance"]
    # The default effects plant a transient high year in 2015/16 at the site: the explanation names it.
    assert document["baseline_jump_percent"] > document["comparison_homes_baseline_jump_percent"] + 5
    assert any("regression to the mean" in line for line in document["explanation"])

    text = "\n".join(summary.lines)
    assert (
        f"site's own before-and-after (2015/16 to 2016/17): {own['estimate']['percent_change']:+.1f}%" in text
    )
    assert f"matched): {matched['estimate']['percent_change']:+.1f}%" in text
    assert "Why they differ:" in text
    for line in comparison.explanation:
        assert f"  - {line}" in summary.lines
    # Programme monitoring in the demo has placebo-calibrated intervals.
    for result in json.loads((summary.results / "evaluation.json").read_text()):
        assert result["diagnostics"]["inference"]["placebos"] >= 3
        assert _finite(result["estimate"])


def test_demo_fills_the_shared_care_record_with_the_same_people(tmp_path: Path) -> None:
    summary = run_demo(tmp_path / "demo")
    assert summary.care_record_store is not None
    from caremodels.care_record import open_store
    from caremodels.care_record.identity import list_users

    store = open_store(summary.care_record_store)
    try:
        users = list_users(store)
    finally:
        store.close()
    assert len(users) >= 5
    assert any(line.startswith("Care record: ") for line in summary.lines)
