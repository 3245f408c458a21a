"""docs/indicators.md: its catalogue table and worked examples are what the code gives today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from caremodels.indicators import catalogue

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "indicators.md"


def test_catalogue_and_worked_examples_are_up_to_date() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "indicator_examples.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_every_indicator_is_in_the_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [definition.id for definition in catalogue() if f"| `{definition.id}` |" not in text]
    assert not missing, f"not in docs/indicators.md: {missing}"


def test_the_docs_lists_link_to_it() -> None:
    assert "(docs/indicators.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
