from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generated_docs_are_up_to_date() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout


def test_every_indicator_definition_loads() -> None:
    from caremodels.indicators import catalogue

    definitions = catalogue()
    assert "emergency_admissions" in {definition.id for definition in definitions}
    folder = ROOT / "src" / "caremodels" / "indicators" / "definitions"
    assert len(definitions) == len(list(folder.glob("*.yaml")))


def test_default_effects_file_validates() -> None:
    from caremodels.reference import find_site
    from caremodels.synth import default_effects_path, load_effects

    effects = load_effects(default_effects_path()).effects
    assert effects
    for effect in effects:
        if effect.target.site:
            find_site(effect.target.site)


def test_readme_first_screen_has_exactly_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = readme.split("\n## ", 1)[0]
    commands = [line for line in first_screen.splitlines() if line.startswith("./run ")]
    assert commands == ["./run demo", "./run test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec ./run test" in ci


def _markdown_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "benchmarks").glob("*.md")),
    ]


def test_relative_links_in_the_docs_resolve() -> None:
    # A new analyst follows these links; a renamed or missing document must fail here, not for them.
    link = re.compile(r"\]\(([^)\s]+)\)")
    broken = []
    for document in _markdown_files():
        for target in link.findall(document.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = (document.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{document.relative_to(ROOT)} -> {target}")
    assert broken == []
