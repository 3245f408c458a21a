from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from caremodels import __version__
from caremodels.cli import cli, main

PUBLIC_COMMANDS = {
    "demo",
    "synth",
    "ingest",
    "keygen",
    "warehouse",
    "indicators",
    "evaluate",
    "spc",
    "aggregates",
    "report",
    "serve",
    "programme",
    "budget",
    "survey",
    "risk",
    "care-record",
}


def _all_command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += _all_command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_help_lists_the_public_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    listed = {
        line.split()[0] for line in capsys.readouterr().out.split("Commands:")[1].splitlines() if line.strip()
    }
    assert listed == PUBLIC_COMMANDS


@pytest.mark.parametrize("path", _all_command_paths(cli), ids=lambda path: " ".join(path) or "caremodels")
def test_every_help_works(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == 0
    assert "Usage:" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"caremodels {__version__}"


def test_bad_flag_exits_2_with_one_line() -> None:
    # A real process: the exit code and stderr are what a shell sees.
    completed = subprocess.run(
        [sys.executable, "-m", "caremodels", "programme", "sites", "--no-such-flag"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1
    assert "no-such-flag" in completed.stderr


def test_failure_exits_1_with_one_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["warehouse", "status", "--warehouse", str(tmp_path / "missing.duckdb")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error and "missing.duckdb" in error


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "caremodels",
            "--debug",
            "warehouse",
            "status",
            "--warehouse",
            str(tmp_path / "x.duckdb"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr


def test_programme_sites_json_counts_by_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["programme", "sites", "--json"]) == 0
    sites = json.loads(capsys.readouterr().out)
    counts: dict[str, int] = {}
    for site in sites:
        counts[site["care_model"]] = counts.get(site["care_model"], 0) + 1
    assert counts == {"MCP": 14, "PACS": 9, "EHCH": 6, "UEC": 8, "ACC": 13}
    fylde = next(site for site in sites if site["id"] == "fylde-coast")
    assert fylde["practices"] > 0 and fylde["registered_population_2021"] > 100_000


def test_programme_coverage_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["programme", "coverage", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    vanguards = next(lens for lens in document["lenses"] if lens["name"] == "vanguards")
    years = vanguards["years"]
    assert [year["financial_year"] for year in years] == [
        "2014/15",
        "2015/16",
        "2016/17",
        "2017/18",
        "2018/19",
        "2019/20",
        "2020/21",
    ]
    assert years[-1]["goal_share"] == 0.5
    # No vanguard existed in 2014/15; the first MCP and PACS covered a little over five million people.
    assert years[0]["covered_population"] == 0
    assert 4_500_000 < years[1]["covered_population"] < 7_000_000
    assert main(["programme", "coverage", "--care-models", "MCP,PACS,UEC"]) == 0
    assert "goal 50%" in capsys.readouterr().out
    assert main(["programme", "coverage", "--care-models", "XYZ"]) == 2


def test_quiet_prints_no_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "synth", "--out", str(tmp_path / "s"), "--no-effects"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "people at" in captured.out
