"""The worked examples in docs/statistics.md are produced by the commands shown there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"
EXAMPLE = re.compile(r"^\$ python - <<'EOF'\n(?P<script>.*?)^EOF\n(?P<output>.*?)(?=^\$ |\Z)", re.S | re.M)


def _examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"^```console\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)
    found = [(m["script"], m["output"]) for block in blocks for m in EXAMPLE.finditer(block)]
    return found


def test_doc_has_worked_examples() -> None:
    assert len(_examples()) >= 3


@pytest.mark.parametrize(("script", "expected"), _examples())
def test_doc_example_output_is_current(script: str, expected: str) -> None:
    run = subprocess.run(
        [sys.executable, "-"],
        input=script,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert run.stdout.rstrip("\n") == expected.rstrip("\n")
