"""Small frictions: did-you-mean for sites and indicators, aliases, case-insensitive choices,
--quiet after the subcommand, progress bars only on a terminal, ids never cut in tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from caremodels.cli import _global_flags_first, main
from caremodels.cli.console import Reporter
from caremodels.errors import ReferenceDataError
from caremodels.indicators import find_indicator
from caremodels.reference import find_site


def test_sites_by_alias_and_with_a_suggestion() -> None:
    assert find_site("Morecombe Bay").id == "better-care-together-morecambe-bay"
    assert find_site("fylde coast").id == "fylde-coast"
    with pytest.raises(ReferenceDataError, match=r"did you mean 'Wirral'\?"):
        find_site("wirrel")


def test_indicators_with_a_suggestion_and_loose_spelling() -> None:
    assert find_indicator("Emergency-Admissions").id == "emergency_admissions"
    with pytest.raises(ReferenceDataError, match=r"did you mean 'emergency_admissions'"):
        find_indicator("emergency_admision")


def test_quiet_after_the_subcommand_is_moved_to_the_root() -> None:
    assert _global_flags_first(["spc", "f.csv", "--quiet", "--", "-q"]) == [
        "--quiet",
        "spc",
        "f.csv",
        "--",
        "-q",
    ]


def test_choices_are_case_insensitive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.duckdb"
    arguments = ["indicators", "compute", "--warehouse", str(missing), "--indicator", "emergency_admissions"]
    code = main(
        [*arguments, "--level", "PROVIDER", "--period", "Month", "--engine", "DuckDB", "--out", "x.csv"]
    )
    err = capsys.readouterr().err
    # The choices were accepted; what stops the command is the missing warehouse.
    assert (code, "usage error" in err, "no warehouse" in err) == (1, False, True)


def test_no_progress_bar_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = Reporter()
    with reporter.step("Counting", total=3) as update:
        update(3, 3)
    assert capsys.readouterr().err == "Counting\n"  # the step named once, no bar redrawn


def test_ids_are_never_cut(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    assert main(["indicators", "list"]) == 0
    out = capsys.readouterr().out
    assert "emergency_readmissions_30_days" in out
    assert "…" not in "".join(line.split("│")[1] for line in out.splitlines() if line.count("│") > 2)
