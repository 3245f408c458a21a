"""caremodels demo."""

from __future__ import annotations

from pathlib import Path

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    cli,
    reporter_of,
)


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("caremodels-demo"),
    show_default=True,
    help="Folder for the synthetic files, the warehouse and the results.",
)
@click.option(
    "--scale",
    type=click.Choice(["tiny", "region"]),
    default="tiny",
    show_default=True,
    help="Size of the synthetic economy.",
)
@click.option("--seed", type=int, default=20150310, show_default=True, help="Random seed.")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the dashboard at the end.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.pass_context
def demo(
    context: click.Context, out_dir: Path, scale: str, seed: int, serve: bool, host: str, port: int
) -> None:
    """Build a demo health economy, load it, compute, evaluate, and serve the dashboard."""
    from caremodels.cli.serve_command import listening_socket, serve_dashboard
    from caremodels.demo import run_demo

    reporter = reporter_of(context)
    # The port is taken before the demo runs, so a busy one fails at once, in one line.
    sock = listening_socket(host, port) if serve else None
    try:
        summary = run_demo(out_dir, scale=scale, seed=seed, reporter=reporter)
        for line in summary.lines:
            reporter.out.print(line)
        if sock is not None:
            serve_dashboard(summary.warehouse, host, port, reporter, sock=sock)
    finally:
        if sock is not None:
            sock.close()
