"""caremodels serve."""

from __future__ import annotations

from pathlib import Path

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    WAREHOUSE_OPTION,
    cli,
    reporter_of,
)
from caremodels.cli.console import Reporter


@cli.command(context_settings=CONTEXT_SETTINGS)
@WAREHOUSE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.pass_context
def serve(context: click.Context, warehouse_path: Path, host: str, port: int) -> None:
    """Serve the dashboard (and its JSON API at /api, documented at /docs)."""
    serve_dashboard(warehouse_path, host, port, reporter_of(context))


def serve_dashboard(warehouse_path: Path, host: str, port: int, reporter: Reporter) -> None:
    import uvicorn

    from caremodels.dashboard import create_app

    with reporter.step("Preparing the dashboard"):
        app = create_app(warehouse_path)
    reporter.info(f"Dashboard at http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning" if reporter.quiet else "info")
