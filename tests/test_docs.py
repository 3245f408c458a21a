from __future__ import annotations

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
