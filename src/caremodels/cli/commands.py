"""The command tree. Each command lives in its own module (``*_command.py``) and registers itself on
the root group when imported here; each is thin: it parses options, calls the package that does the
work, and prints."""

from __future__ import annotations

from caremodels.cli import (  # noqa: F401  (imported to register their commands)
    aggregates_command,
    budget_command,
    care_record_command,
    demo_command,
    evaluate_command,
    imaging_command,
    indicators_command,
    ingest_command,
    programme_command,
    risk_command,
    serve_command,
    spc_command,
    survey_command,
    synth_command,
)
from caremodels.cli.common import cli

__all__ = ["cli"]
