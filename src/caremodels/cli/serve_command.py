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
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--cache/--no-cache",
    default=True,
    show_default=True,
    help="Keep what is read from the warehouse in <warehouse>.dashboard-cache/ for a quick restart.",
)
@click.option(
    "--indicator-timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="Seconds one indicator may take to compute at start-up; slower ones are left out, with the reason.",
)
@click.pass_context
def serve(
    context: click.Context, warehouse_path: Path, host: str, port: int, cache: bool, indicator_timeout: float
) -> None:
    """Serve the dashboard (and its JSON API at /api, documented at /docs)."""
    serve_dashboard(
        warehouse_path, host, port, reporter_of(context), cache=cache, indicator_timeout=indicator_timeout
    )


def serve_dashboard(
    warehouse_path: Path,
    host: str,
    port: int,
    reporter: Reporter,
    *,
    cache: bool = True,
    indicator_timeout: float = 120,
) -> None:
    import uvicorn

    from caremodels.dashboard import create_app

    with reporter.step("Reading the warehouse and computing the dashboard's figures"):
        app = create_app(warehouse_path, cache=cache, indicator_timeout=indicator_timeout)
    reporter.info(f"Dashboard at http://{host}:{port}/ (Ctrl+C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning" if reporter.quiet else "info")
