"""caremodels serve."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import click

from caremodels.cli.common import (
    CONTEXT_SETTINGS,
    WAREHOUSE_OPTION,
    cli,
    reporter_of,
    site_membership_option,
    warn_membership,
)
from caremodels.cli.console import Reporter
from caremodels.errors import CaremodelsError

# Idle keep-alive connections are closed after this many seconds, and a request's headers may not
# exceed this many bytes (h11), so slow or idle clients cannot hold the server's connections.
KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 200


def branding_options(function: click.decorators.FC) -> click.decorators.FC:
    """--branding FILE and --brand-name/--brand-organisation/--brand-logo/--brand-footer."""
    for option in reversed(
        [
            click.option(
                "--branding",
                "branding_file",
                type=click.Path(path_type=Path, dir_okay=False, exists=True),
                help="YAML of name, organisation, logo, footer, copyright (also CAREMODELS_BRAND_* variables).",
            ),
            click.option("--brand-name", help="Service name in the header (default caremodels)."),
            click.option("--brand-organisation", help="Organisation name beside the logo."),
            click.option(
                "--brand-logo",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Logo image (.png, .svg, .jpg).",
            ),
            click.option("--brand-footer", help="A line at the start of the footer."),
        ]
    ):
        function = option(function)
    return function


def _branding(
    branding_file: Path | None,
    name: str | None,
    organisation: str | None,
    logo: Path | None,
    footer: str | None,
) -> object:
    from caremodels.dashboard.branding import Branding, branding_from_environment, load_branding

    base = load_branding(branding_file) if branding_file else Branding()
    return branding_from_environment(base).with_overrides(
        name=name, organisation=organisation, logo=logo, footer=footer
    )


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
@site_membership_option()
@branding_options
@click.option(
    "--budget-envelope",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="YAML of the national envelope (docs/examples/budget/national_envelope.yaml): site pages show the "
    "population budget of its latest year.",
)
@click.option(
    "--site-survey",
    "site_surveys",
    multiple=True,
    help="SITE=COUNTS.csv or SITE=QUESTIONNAIRE.json,RESPONSES.ndjson: a staff survey shown on the site's "
    "page (repeatable).",
)
@click.pass_context
def serve(
    context: click.Context,
    warehouse_path: Path,
    host: str,
    port: int,
    cache: bool,
    indicator_timeout: float,
    site_membership_file: Path | None,
    branding_file: Path | None,
    brand_name: str | None,
    brand_organisation: str | None,
    brand_logo: Path | None,
    brand_footer: str | None,
    budget_envelope: Path | None,
    site_surveys: tuple[str, ...],
) -> None:
    """Serve the dashboard (and its JSON API at /api, documented at /docs)."""
    serve_dashboard(
        warehouse_path,
        host,
        port,
        reporter_of(context),
        cache=cache,
        indicator_timeout=indicator_timeout,
        branding=_branding(branding_file, brand_name, brand_organisation, brand_logo, brand_footer),
        membership_file=site_membership_file,
        programme=_programme(budget_envelope, site_surveys),
    )


def _programme(budget_envelope: Path | None, site_surveys: tuple[str, ...]) -> object:
    from caremodels.dashboard.programme_sections import ProgrammeInputs, SurveyFiles
    from caremodels.reference import find_site

    surveys = {}
    for value in site_surveys:
        site, _, files = value.partition("=")
        paths = [Path(part) for part in files.split(",") if part]
        if not site or len(paths) not in (1, 2):
            raise click.BadParameter(f"{value!r}: give SITE=COUNTS.csv or SITE=QUESTIONNAIRE,RESPONSES")
        missing = [path for path in paths if not path.is_file()]
        if missing:
            raise click.BadParameter(f"{missing[0]} is not a file", param_hint="--site-survey")
        found = find_site(site).id
        surveys[found] = SurveyFiles(counts=paths[0]) if len(paths) == 1 else SurveyFiles(*paths)
    return ProgrammeInputs(budget_envelope=budget_envelope, surveys=surveys)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or ``CaremodelsError`` in one line when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = (
            "is already in use" if error.errno in (98, 48, 10048) else f"cannot be used ({error.strerror})"
        )
        raise CaremodelsError(f"port {port} on {host} {reason}: choose another with --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_dashboard(
    warehouse_path: Path,
    host: str,
    port: int,
    reporter: Reporter,
    *,
    cache: bool = True,
    indicator_timeout: float = 120,
    branding: object = None,
    sock: socket.socket | None = None,
    membership_file: Path | None = None,
    programme: object = None,
) -> None:
    """Serve until interrupted; ``sock``, when given, is an already bound listening socket."""
    import uvicorn

    from caremodels.dashboard import create_app
    from caremodels.dashboard.branding import Branding
    from caremodels.dashboard.programme_sections import ProgrammeInputs

    # The port first: a busy port fails in one line before any work and before any URL is printed.
    sock = sock or listening_socket(host, port)
    try:
        if not is_loopback(host):
            # Printed even with --quiet: it is the one thing an operator must not miss.
            reporter.err.print(
                f"warning: listening on {host}, not loopback: the dashboard has no authentication; anyone who can "
                "reach this address sees its (disclosure-controlled) figures",
                soft_wrap=True,
            )
        with reporter.step("Reading the warehouse and computing the dashboard's figures"):
            app = create_app(
                warehouse_path,
                cache=cache,
                indicator_timeout=indicator_timeout,
                branding=branding if isinstance(branding, Branding) else None,
                membership_file=membership_file,
                programme=programme if isinstance(programme, ProgrammeInputs) else None,
            )
        warn_membership(reporter, app.state.figures.membership_warnings)
        reporter.info(f"Dashboard at http://{host}:{sock.getsockname()[1]}/ (Ctrl+C to stop)")
        config = uvicorn.Config(
            app,
            log_level="warning" if reporter.quiet else "info",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            limit_concurrency=MAX_CONNECTIONS,
            server_header=False,
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
