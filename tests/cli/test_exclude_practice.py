"""``--exclude-practice CODE`` (repeatable), shared by every command that takes a site
(``caremodels.cli.common.site_membership_options``): the practice is left out of the evaluation
altogether (neither treated nor comparison), out of the report and out of a site's budget, and the
outputs say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caremodels.budget import load_envelope, membership_of_site, population_budget
from caremodels.budget.population import Membership
from caremodels.cli import main
from caremodels.evaluation import evaluate, indicator_counts, resolve_target
from caremodels.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
ENVELOPE = ROOT / "docs" / "examples" / "budget" / "national_envelope.yaml"
SITE = "Fylde Coast"
pytestmark = [
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.filterwarnings("ignore:fetch_arrow_table\\(\\) is deprecated"),
]


def _site_practice(warehouse: Path) -> tuple[str, str]:
    """A practice of the site and one of its comparison practices, both with data."""
    with Warehouse(warehouse, read_only=True) as store:
        counts = indicator_counts(store, "emergency_admissions")
    target = resolve_target(set(counts["practice_code"]), site=SITE)
    return sorted(target.treated_practices)[0], sorted(target.control_practices)[0]


@pytest.mark.parametrize("method", ["baseline", "did"])
def test_evaluate_leaves_the_practice_out_of_both_groups(
    method: str, tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    treated, comparison = _site_practice(tiny_warehouse)
    arguments = [
        "--quiet",
        "evaluate",
        "--warehouse",
        str(tiny_warehouse),
        "--site",
        SITE,
        "--method",
        method,
    ]
    dropping = ["--exclude-practice", treated.lower(), "--exclude-practice", comparison]
    assert main([*arguments, *dropping, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["comparison_pool"]["excluded_practices"] == sorted([treated, comparison])
    assert main([*arguments, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["comparison_pool"]["comparison_practices"] == (
        document["comparison_pool"]["comparison_practices"] + 1
    )
    # The same as evaluating on data that never held the two practices.
    with Warehouse(tiny_warehouse, read_only=True) as store:
        counts = indicator_counts(store, "emergency_admissions")
        without = counts[~counts["practice_code"].isin([treated, comparison])]
        expected = evaluate(store, indicator="emergency_admissions", method=method, site=SITE, counts=without)
    assert document["estimate"] == pytest.approx(expected.estimate.model_dump(mode="json"), nan_ok=True)
    assert document["estimate"] != whole["estimate"]
    # The printed result names the practices left out.
    assert main([*arguments, *dropping]) == 0
    assert f"practices left out on request: {', '.join(sorted([treated, comparison]))}" in " ".join(
        capsys.readouterr().out.split()
    )


def test_a_practice_code_that_is_not_there_is_refused(
    tiny_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["evaluate", "--warehouse", str(tiny_warehouse), "--site", SITE]
    assert main([*arguments, "--exclude-practice", "not-a-code"]) == 2
    assert "not a GP practice code" in capsys.readouterr().err
    assert main([*arguments, "--exclude-practice", "Z99999"]) == 1
    assert "cannot leave out practice Z99999: it has no data here" in capsys.readouterr().err


def test_a_sites_budget_without_a_practice(capsys: pytest.CaptureFixture[str]) -> None:
    site = membership_of_site("fylde-coast")
    dropped = site.practice_codes[0]
    common = [
        "budget",
        "population",
        "--site",
        "fylde-coast",
        "--year",
        "2016/17",
        "--envelope",
        str(ENVELOPE),
    ]
    assert main([*common, "--exclude-practice", dropped, "--json"]) == 0
    [document] = json.loads(capsys.readouterr().out)
    rest = Membership(
        name=site.name,
        care_model=site.care_model,
        practice_codes=site.practice_codes[1:],
        source=site.source,
    )
    expected = population_budget(rest, load_envelope(ENVELOPE, 2016))
    assert document["budget"] == pytest.approx(expected.budget, rel=1e-12)
    assert main([*common, "--json"]) == 0
    [whole] = json.loads(capsys.readouterr().out)
    assert document["budget"] < whole["budget"]
    # A practice that is not a member of the site is refused by name.
    assert main([*common, "--exclude-practice", "Z99999"]) == 1
    assert "Z99999 is not a member of Fylde Coast" in capsys.readouterr().err


def test_the_report_names_the_practice_left_out(tiny_warehouse: Path, tmp_path: Path) -> None:
    treated, _ = _site_practice(tiny_warehouse)
    out = tmp_path / "report.html"
    arguments = ["--quiet", "report", "--warehouse", str(tiny_warehouse), "--site", SITE, "--out", str(out)]
    assert main([*arguments, "--exclude-practice", treated]) == 0
    assert f"practices left out on request: {treated}" in out.read_text(encoding="utf-8")
