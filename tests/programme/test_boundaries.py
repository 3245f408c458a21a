"""The national-view and money packages are secondary use: they never import the synthetic generator
or the care record (the list-growth path they share with synth lives in the reference data)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "caremodels"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", ["programme", "budget", "surveys"])
def test_no_import_of_synth_or_the_care_record(package: str) -> None:
    files = sorted((SRC / package).rglob("*.py"))
    assert files
    bad = {
        f"{path.relative_to(SRC)}: {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(("caremodels.synth", "caremodels.care_record", "caremodels.cli"))
    }
    assert bad == set()


def test_synth_takes_list_growth_from_the_reference_data() -> None:
    from caremodels.reference import list_growth
    from caremodels.synth import economy

    assert economy.list_scale_at is list_growth.list_scale_at
