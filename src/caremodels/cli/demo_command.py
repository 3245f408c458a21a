"""caremodels demo."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    cli,
    reporter_of,
)
from caremodels.progress import Reporter


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
@click.option(
    "--care-record-port",
    type=click.IntRange(0, 65535),
    default=8100,
    show_default=True,
    help="Port of the shared care record (direct care), served beside the dashboard.",
)
@click.option(
    "--care-record/--no-care-record",
    "with_care_record",
    default=True,
    show_default=True,
    help="Build and serve the shared care record from the same synthetic people.",
)
@click.pass_context
def demo(
    context: click.Context,
    out_dir: Path,
    scale: str,
    seed: int,
    serve: bool,
    host: str,
    port: int,
    care_record_port: int,
    with_care_record: bool,
) -> None:
    """Build a demo health economy, load it, compute, evaluate, and serve the dashboard and the
    shared care record."""
    from caremodels.cli.serve_command import listening_socket, serve_dashboard
    from caremodels.demo import run_demo

    reporter = reporter_of(context)
    # Both ports are taken before the demo runs, so a busy one fails at once, in one line.
    sock = listening_socket(host, port) if serve else None
    record_sock = listening_socket(host, care_record_port) if serve and with_care_record else None
    try:
        summary = run_demo(out_dir, scale=scale, seed=seed, reporter=reporter, care_record=with_care_record)
        for line in summary.lines:
            reporter.out.print(line)
        if record_sock is not None and summary.care_record_store is not None:
            _serve_care_record_beside(summary.care_record_store, record_sock, reporter)
            reporter.info(
                f"Shared care record at http://{host}:{record_sock.getsockname()[1]}/ "
                "(sign in as one of the demo users)"
            )
        if sock is not None:
            serve_dashboard(summary.warehouse, host, port, reporter, sock=sock)
    finally:
        for listening in (sock, record_sock):
            if listening is not None:
                listening.close()


def _serve_care_record_beside(store_url: str, sock: socket.socket, reporter: Reporter) -> None:
    """The care record's server in a daemon thread on an already bound socket; it stops with the
    demo (the dashboard runs in the foreground)."""
    import uvicorn

    from caremodels.advice.app import create_app
    from caremodels.care_record import open_store
    from caremodels.care_record.identity import rotate_demo_key

    store = open_store(store_url)
    rotate_demo_key(store)
    config = uvicorn.Config(
        create_app(store), log_level="warning" if reporter.quiet else "info", access_log=False
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
