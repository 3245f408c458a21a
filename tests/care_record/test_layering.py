"""Direct care stays apart: no secondary-use package imports the care record, and the care record
imports only what the charter allows (reference, synth, errors, periods and the shared web assets)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "caremodels"
SECONDARY_USE = (
    "ingest",
    "warehouse",
    "indicators",
    "evaluation",
    "dashboard",
    "synth",
    "risk",
    "budget",
    "programme",
    "stats",
    "reference",
)
ALLOWED = {
    "caremodels",
    "caremodels.care_record",
    "caremodels.reference",
    "caremodels.synth",
    "caremodels.errors",
    "caremodels.periods",
    "caremodels.web_assets",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name == "caremodels" or name.startswith("caremodels.")}


def test_no_secondary_use_package_imports_the_care_record() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for package in SECONDARY_USE
        for path in (SRC / package).rglob("*.py")
        if any(name.startswith("caremodels.care_record") for name in _imports(path))
    ]
    assert offenders == []


def test_the_care_record_imports_only_what_it_may() -> None:
    used = {
        ".".join(name.split(".")[:2])
        if not name.startswith("caremodels.care_record")
        else "caremodels.care_record"
        for path in (SRC / "care_record").rglob("*.py")
        for name in _imports(path)
    }
    assert used <= ALLOWED, used - ALLOWED
