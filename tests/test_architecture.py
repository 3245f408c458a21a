"""The layer contract (``[tool.importlinter]`` in pyproject.toml, the arrows of docs/architecture.md)
holds for the source tree, and breaks when a stage imports one above it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.integration


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _copy_of_the_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_source_tree_keeps_the_layer_contract(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_the_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_way"),
    [
        ("indicators/compute.py", "import caremodels.dashboard"),
        ("warehouse/store.py", "import caremodels.evaluation"),
        ("evaluation/run.py", "import caremodels.cli"),
        ("indicators/compute.py", "import caremodels.synth"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(tmp_path: Path, module: str, wrong_way: str) -> None:
    project = _copy_of_the_project(tmp_path)
    source = project / "src" / "caremodels" / module
    source.write_text(source.read_text(encoding="utf-8") + f"\n{wrong_way}  # noqa\n", encoding="utf-8")
    result = _lint_imports(project)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
